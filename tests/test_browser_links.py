"""A link to an analysis tab opens that tab with its result, every time.

Fresh browser contexts open ``?cell=<id>&tab=<analysis>`` for every analysis whose result the
cell holds, twenty loads in all. Panel drops the changes of a ``hold`` made between the browser's
connection and its "document ready"; the dashboard once opened the linked cell in that window,
and about half of such loads showed only "Choose the parameters and press Run" for good.
"""

from __future__ import annotations

import re
import time

import pytest

from batteryviz.analysis.registry import ANALYSES
from batteryviz.serve import ServeConfig
from batteryviz.store import Workspace
from batteryviz.ui import jobs

from .dashboard_support import ARTIFACTS, chromium_available, running_server

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not chromium_available(), reason="no Chromium")]

LOADS = 20


@pytest.fixture(scope="module")
def lab_with_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("links")
    config = ServeConfig(workspace=str(root / "ws"))
    workspace = Workspace(config.workspace, "local")
    cell = next(c for c in workspace.cells() if c.example)
    computed = []
    for name in ANALYSES:
        params = jobs.analysis_parameters(ANALYSES[name], cell.metadata, None, {})
        try:
            jobs.compute_analysis(config.workspace, "local", cell.id, name, params)
        except Exception:  # noqa: BLE001 - an analysis this cell cannot have (EIS of a cycling file)
            continue
        computed.append(name)
    assert {"summary", "dqdu", "dvdq", "rate", "cycle_life"} <= set(computed)
    with running_server(config) as url:
        yield url, cell.id, computed


def _result_on_screen(page) -> bool:
    """The page shows a drawn result (plots) and nowhere the Run hint (hidden tabs are not in
    the page until chosen, so what is drawn is the linked tab's)."""
    return (
        page.locator("canvas").count() > 0
        and page.get_by_text("Choose the parameters and press").count() == 0
    )


def test_every_analysis_link_opens_its_result_in_fresh_browsers(browser, lab_with_results):
    url, cell, computed = lab_with_results
    failures = []
    for k in range(LOADS):
        tab = computed[k % len(computed)]
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        page = context.new_page()
        page.set_default_timeout(90_000)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{url}/?cell={cell}&tab={tab}&cycles=1-30:5")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _result_on_screen(page):
            page.wait_for_timeout(250)
        shown = _result_on_screen(page)
        if not shown or errors:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"link-{k}-{tab}.png"))
            failures.append((k, tab, shown, errors[:3]))
        assert re.search(rf"tab={tab}\b", page.url)  # the URL still names the tab
        context.close()
    assert failures == []


#: The axis labels of every Bokeh plot on the page (BokehJS's documents, read in the browser).
AXIS_LABELS = """() => {
  const labels = [];
  for (const doc of (window.Bokeh ? window.Bokeh.documents : []))
    for (const model of doc.all_models)
      if (model.axis_label !== undefined && model.visible !== false) labels.push(model.axis_label);
  return labels;
}"""
#: A unit in brackets at the end of an axis label: "Voltage (V)", "dU/dQ (V/Ah)", "Retention (%)".
UNIT = re.compile(r"\([^()]+\)$")
#: Axes that count or have no unit.
UNITLESS = {"Cycle", "cycle", "Equivalent full cycles", "C-rate", "State of charge", "Track"}


@pytest.mark.parametrize("viewport", [(1366, 768), (1920, 1080)], ids=lambda v: f"{v[0]}px")
def test_every_result_tab_fits_the_screen(browser, lab_with_results, viewport):
    """No plot or table is cut off at the right or needs a horizontal scroll, at a laptop's
    1366 px and at 1920 px (plots were drawn 650 px wide, two per row; the Overview's tables
    were cut), and every axis has a label with its unit (#16 items 8 and 9); screenshots of
    every tab are kept in test-artifacts/ for a person to look at."""
    url, cell, computed = lab_with_results
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(90_000)
    overflowing, unlabelled = {}, {}
    for tab in computed:
        page.goto(f"{url}/?cell={cell}&tab={tab}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _result_on_screen(page):
            page.wait_for_timeout(250)
        assert _result_on_screen(page), tab
        page.wait_for_timeout(500)  # let the layout settle
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"tab-{tab}-{width}.png"), full_page=True)
        scroll = page.evaluate("() => document.documentElement.scrollWidth")
        rights = page.locator("canvas").evaluate_all(
            "cs => cs.map(c => c.getBoundingClientRect()).filter(r => r.width > 0).map(r => "
            "r.right)"
        )
        if scroll > width or any(
            r > width + 1 for r in rights
        ):  # Playwright's locators see into shadow roots
            overflowing[tab] = (scroll, max(rights, default=0))
        for label in page.evaluate(AXIS_LABELS):
            if not label or not (UNIT.search(label) or label in UNITLESS):
                unlabelled.setdefault(tab, []).append(label)
    # the overview: its two tables side by side, or one under the other, never cut
    page.goto(f"{url}/?cell={cell}&tab=overview")
    page.get_by_text("First rows").wait_for()
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / f"tab-overview-{width}.png"), full_page=True)
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    tables = page.locator("table.panel-df").evaluate_all(
        "ts => ts.slice(0, 2).map(t => t.getBoundingClientRect().right)"
    )
    if scroll > width or any(r > width + 1 for r in tables):
        overflowing["overview"] = (scroll, max(tables, default=0))
    # every tab title whole: the tab bar wraps instead of cutting the last title ("Comp")
    bar = page.locator(".bk-headers-wrapper").first
    hidden = bar.evaluate("w => w.scrollWidth - w.clientWidth")
    titles = bar.locator(".bk-tab").evaluate_all(
        "ts => ts.map(t => [t.textContent, t.getBoundingClientRect().right])"
    )
    bar_right = bar.evaluate("w => w.getBoundingClientRect().right")
    cut = [title for title, right in titles if right > min(bar_right, width) + 1]
    assert hidden <= 1 and cut == [], (hidden, cut)
    assert "Compare cells" in [title for title, _ in titles]
    context.close()
    assert overflowing == {}
    assert unlabelled == {}
