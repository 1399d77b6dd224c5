"""A server killed mid-work loses nothing already stored: restart it and the cell is intact.

A real ``batteryviz serve`` process, a real browser, SIGKILL (no clean shutdown).
"""

from __future__ import annotations

import re
import signal

import pytest

from batteryviz.store import Workspace

from .dashboard_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    chromium_available,
    free_port,
    page_text,
    serve_process,
    stop_process,
    wait_until_live,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not chromium_available(), reason=f"no Chromium at {CHROMIUM} (`apt-get install chromium`)"
    ),
]


def _start(workspace, port):
    proc = serve_process(port, workspace)
    wait_until_live(f"http://127.0.0.1:{port}")
    return proc


def _kill(proc):
    stop_process(proc, signal.SIGKILL)


def _open(p, address):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(90_000)
    page.goto(address)
    return browser, page


def test_cell_survives_a_killed_server(tmp_path, simulated_de_path):
    from playwright.sync_api import sync_playwright

    workspace, port = tmp_path / "ws", free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(workspace, port)
    try:
        with sync_playwright() as p:
            browser, page = _open(p, f"{url}/")
            page.get_by_text("Workspace of local").wait_for()
            page.locator("input[type=file]").set_input_files(str(simulated_de_path))
            page.get_by_text(
                re.compile(rf"{re.escape(simulated_de_path.name)}: basytec")
            ).wait_for()
            page.locator(".bk-tab").get_by_text("dQ/dU", exact=True).click()
            page.get_by_role("button", name="Run").first.click()
            _kill(proc)  # mid-analysis: no clean shutdown
            browser.close()
        ws = Workspace(str(workspace), "local")
        [cell] = [c for c in ws.cells() if c.filename == simulated_de_path.name]
        assert ws.verify(cell.id)  # the original, byte for byte
        assert ws.original_bytes(cell.id) == simulated_de_path.read_bytes()
        for name in (
            "summary",
            "dqdu",
        ):  # a result is either complete or absent, never half-written
            stored = ws.load_result(cell.id, name)
            assert stored is None or stored.sizes["cycle"] > 0

        proc = _start(workspace, port)
        with sync_playwright() as p:
            browser, page = _open(p, f"{url}/?cell={cell.id}")
            try:
                page.get_by_text(cell.sha256).wait_for()  # the overview of the stored cell
                page.get_by_text("Cycle summary", exact=True).click()
                page.get_by_text("Mean CE (%)").wait_for()
            finally:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "06-after-restart.png"), full_page=True)
            assert cell.filename in page_text(page)
            browser.close()
    finally:
        if proc.poll() is None:
            _kill(proc)
