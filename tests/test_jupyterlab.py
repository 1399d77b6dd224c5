"""batteryviz's views in JupyterLab itself, in Chromium, on a machine cut off from the internet
(#16 items 12 and 13).

A real ``jupyter lab`` server on loopback opens a notebook that shows an analysis view, a
dQ/dU view of twelve cycles and the whole dashboard inline, as a user writes them (no
``pn.extension`` cell: the views load what they need). Playwright refuses every request that
does not go to that server. The notebook runs from JupyterLab's own "run all cells" command; the
test then looks at what a user sees: plots drawn, no browser error, nothing past the right edge
of the output area at 1366, 1600 and 1920 px, the inline dashboard as tall as the tab shown,
and a widget changed in the page recomputing the plot through the kernel.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request

import pytest

from .dashboard_support import (
    ARTIFACTS,
    chromium_available,
    free_port,
)

pytest.importorskip("jupyterlab")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not chromium_available(), reason="no Chromium")]

CELLS = [
    "import batteryviz as bv\nds = bv.read(bv.example_file())\nbv.CycleSummary().view(ds)",
    "bv.DifferentialCapacity(cycles=list(range(1, 35, 3))).view(ds)",
    "import tempfile\n"
    "from batteryviz.store import Workspace\n"
    "from batteryviz.ui import Dashboard\n"
    "dashboard = Dashboard(Workspace(tempfile.mkdtemp(), user='me'))\n"
    "await dashboard.open_first()\n"
    "dashboard",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on loopback with its own configuration, settings and notebook."""
    import nbformat

    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "notebooks"
    root.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(code) for code in CELLS]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for name in ("views-1366px", "views-1600px", "views-1920px", "widget"):
        nbformat.write(notebook, root / f"{name}.ipynb")  # one kernel per test
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # no "would you like news?" toast over the outputs (the request would be refused anyway)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
    )
    port, token = free_port(), secrets.token_hex(16)
    log = open(base / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run cells by command
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, (base / "server.log").read_text()[-3000:]
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            assert time.monotonic() < deadline, "JupyterLab did not start"
            time.sleep(0.5)
    yield {"url": url, "token": token}
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _open_and_run(browser, lab, name: str, width: int):
    """The notebook ``name`` opened in a fresh page of ``width`` px, every cell run; returns the
    page, the output areas and what it refused or reported as errors."""
    page = browser.new_page(viewport={"width": width, "height": 1000})
    refused, errors = [], []
    page.route(
        lambda url: not url.startswith((lab["url"], "data:", "blob:")),
        lambda route: (refused.append(route.request.url), route.abort()),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{lab['url']}/lab/tree/{name}.ipynb?reset&token={lab['token']}")
    page.wait_for_function(
        "window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext",
        timeout=60_000,
    )
    # JupyterLab's own "Run > Run All Cells", once the kernel is up; resolves when all ran
    page.evaluate(
        """async () => {
            const panel = window.jupyterapp.shell.currentWidget;
            await panel.sessionContext.ready;
            await window.jupyterapp.commands.execute('notebook:run-all-cells');
        }""",
    )
    # the notebook on screen (?reset: no notebook of an earlier page restored beside it)
    outputs = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell-outputArea")
    for i in range(len(CELLS) - 1):  # the analysis views draw plots
        outputs.nth(i).locator("canvas").first.wait_for(timeout=120_000)
    # the dashboard opens on its Overview: tables of the cell it opened
    outputs.nth(len(CELLS) - 1).get_by_text("SHA-256").first.wait_for(timeout=120_000)
    return page, outputs, refused, errors


def _close(page, lab) -> None:
    """Close the page and shut its kernels down (a Python process with a dashboard each)."""
    page.close()
    api = f"{lab['url']}/api/sessions"
    headers = {"Authorization": f"token {lab['token']}"}
    with urllib.request.urlopen(urllib.request.Request(api, headers=headers)) as response:
        sessions = json.load(response)
    for session in sessions:
        request = urllib.request.Request(f"{api}/{session['id']}", method="DELETE", headers=headers)
        urllib.request.urlopen(request).close()


def _settled(page, measure, tries: int = 80):
    """``measure()`` once it has stayed the same for a second (a redraw or layout in progress
    changes it)."""
    last, same = None, 0
    for _ in range(tries):
        n = measure()
        same = same + 1 if n == last else 0
        if same >= 4:
            return n
        last = n
        page.wait_for_timeout(250)
    return last


def _box(locator) -> dict:
    return locator.bounding_box() or {"x": 0, "width": 0}


def _canvases_past(output, page) -> list[str]:
    """Canvases in ``output`` reaching past its right edge or the window's."""
    box = output.bounding_box()
    right = min(box["x"] + box["width"], page.viewport_size["width"])
    past = []
    for canvas in output.locator("canvas").all():
        b = canvas.bounding_box()
        if b and b["width"] > 0 and b["x"] + b["width"] > right + 1:
            past.append(f"canvas {b['x']:.0f}+{b['width']:.0f} px past {right:.0f} px")
    return past


@pytest.mark.parametrize("width", [1366, 1600, 1920], ids=lambda w: f"{w}px")
def test_views_render_offline_in_jupyterlab_and_fit_the_output_area(browser, lab, width):
    page, outputs, refused, errors = _open_and_run(browser, lab, f"views-{width}px", width)
    try:
        assert refused == [], f"requests outside the machine: {refused[:5]}"
        assert errors == []
        for i in range(len(CELLS)):
            output = outputs.nth(i)
            output.scroll_into_view_if_needed()
            assert output.locator("select, input").count() > 0  # the widgets are there
            assert _canvases_past(output, page) == [], f"cell {i + 1} at {width} px"
        if width >= 1600:  # room for the plots beside the widgets, two figures a row
            summary = outputs.nth(0)
            widget_right = max(
                b["x"] + b["width"] for b in map(_box, summary.locator("select").all())
            )
            plots = sorted({round(b["x"]) for b in map(_box, summary.locator("canvas").all())})
            assert plots[0] > widget_right, (plots, widget_right)
            assert len([x for x in plots if x - plots[0] > 300]) > 0, plots  # a second column
        assert "Traceback" not in outputs.nth(2).inner_text()
        # the inline dashboard is as tall as the tab shown, not as its tallest tab
        dashboard = outputs.nth(2)

        def height():
            return round(dashboard.bounding_box()["height"])

        overview_height = _settled(page, height)
        dashboard.get_by_text("Cycle summary", exact=True).last.click()
        dashboard.locator(".bv-plot-summary canvas").first.wait_for(timeout=60_000)
        summary_height = _settled(page, height)
        assert _canvases_past(dashboard, page) == []
        dashboard.get_by_text("Overview", exact=True).last.click()
        back_height = _settled(page, height)
        assert summary_height > overview_height + 100
        assert abs(back_height - overview_height) < 20, (overview_height, back_height)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"jupyterlab-{width}.png"))
    finally:
        _close(page, lab)


def test_a_widget_changed_in_jupyterlab_recomputes_the_plot(browser, lab):
    """Direction "both" draws charge and discharge dQ/dU; choosing "charge" in the page goes
    to the kernel through the comm and comes back as a plot without the discharge panel."""
    page, outputs, refused, errors = _open_and_run(browser, lab, "widget", 1600)
    try:
        view = outputs.nth(1)
        view.scroll_into_view_if_needed()
        direction = view.locator("select").filter(has=page.locator("option[value='discharge']"))
        assert direction.count() == 1 and direction.input_value() == "both"
        figures = view.locator(".bk-Figure")
        before = _settled(page, figures.count)
        direction.select_option("charge")
        page.wait_for_function(
            """([el, before]) => {
                let n = 0;
                const walk = (root) => { for (const e of root.querySelectorAll('*')) {
                    if (e.classList.contains('bk-Figure')) n++;
                    if (e.shadowRoot) walk(e.shadowRoot); } };
                walk(el);
                return n > 0 && n < before;
            }""",
            arg=[view.element_handle(), before],
            timeout=60_000,
        )
        after = _settled(page, figures.count)
        # one dQ/dU panel and one peak-track panel fewer, the rest drawn again
        assert after == before - 2, (before, after)
        assert refused == [] and errors == []
    finally:
        _close(page, lab)
