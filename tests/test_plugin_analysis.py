"""An analysis from another package, registered by its entry point only, is a full citizen of
the dashboard: its own tab title, parameter widgets, plot, key figure, table and downloads —
and no batteryviz code names it. A real ``batteryviz serve`` process finds it through a
``.dist-info`` on its ``PYTHONPATH`` (as an installed package would declare it), and Chromium
walks it."""

from __future__ import annotations

import os
import re
import textwrap

import pandas as pd
import pytest

from .dashboard_support import (
    CHROMIUM,
    chromium_available,
    free_port,
    serve_process,
    stop_process,
    wait_until_live,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not chromium_available(), reason=f"no Chromium at {CHROMIUM}"),
]

PLUGIN = textwrap.dedent(
    '''
    """A test-only plug-in: the mean voltage of each cycle."""
    import numpy as np
    import param
    import xarray as xr

    from batteryviz.analysis.base import Analysis, KeyFigure
    from batteryviz.cycles import assign_cycles


    class BvtestMean(Analysis):
        """Mean voltage of each cycle, plus an offset."""

        title = "Mean cell voltage"
        offset_v = param.Number(default=0.0, bounds=(-1.0, 1.0), doc="Added to every mean.")

        def compute(self, ds):
            ds = assign_cycles(ds)
            starts = ds["cycle_start"].values
            ends = np.r_[starts[1:], ds.sizes["record"]]
            u = ds["voltage_volt"].values
            means = np.array([u[a:b].mean() for a, b in zip(starts, ends)]) + self.offset_v
            out = xr.Dataset(
                {"bvtest_mean_v": ("cycle", means, {"units": "V", "definition": "mean of U"})},
                coords={"cycle": ds["cycle"].values},
            )
            out.attrs.update(self.provenance())
            return out

        def key_figures(self, result):
            value = float(result["bvtest_mean_v"].mean())
            return [KeyFigure("overall", "Overall mean (V)", value, "{value:.3f}")]
    '''
)


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    (root / "bvtest_plugin.py").write_text(PLUGIN, encoding="utf-8")
    info = root / "bvtest_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bvtest-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[batteryviz.analyses]\nbvtest_mean = bvtest_plugin:BvtestMean\n"
    )
    return root


def test_the_plugin_is_not_named_in_batteryviz():
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "batteryviz"
    named = [p for p in package.rglob("*.py") if re.search(r"bvtest", p.read_text())]
    assert named == []


def test_an_entry_point_analysis_has_its_tab_widgets_plot_figures_table_and_downloads(
    browser, plugin_path, tmp_path
):
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(plugin_path), os.environ.get("PYTHONPATH")])
        ),
    }
    proc = serve_process(port, tmp_path / "workspace", env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_live(url)
        context = browser.new_context(
            viewport={"width": 1366, "height": 768}, accept_downloads=True
        )
        page = context.new_page()
        page.set_default_timeout(90_000)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{url}/")
        page.get_by_text("Mean cell voltage", exact=True).click()
        # its parameter as a widget, labelled from the parameter's name
        page.get_by_text(re.compile(r"^Offset \(V\)")).first.wait_for()
        page.get_by_role("button", name="Run").first.click()
        # its key figure, its plot (the generic figure of a per-cycle result) and its table
        page.get_by_text("Overall mean (V)").wait_for()
        page.locator(".bv-plot-bvtest_mean canvas").first.wait_for()
        page.locator(".tabulator").filter(has_text="bvtest_mean_v").first.wait_for()
        # and its downloads: the CSV holds the table, one row per cycle of the bundled example
        with page.expect_download() as info:
            page.locator(".bv-download-csv button:visible").first.click()
        target = tmp_path / info.value.suggested_filename
        info.value.save_as(target)
        table = pd.read_csv(target)
        assert list(table.columns) == ["cycle", "bvtest_mean_v"] and len(table) == 34
        assert table["bvtest_mean_v"].between(2.5, 4.5).all()
        assert errors == []
        context.close()
    finally:
        stop_process(proc)
