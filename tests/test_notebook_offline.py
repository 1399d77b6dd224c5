"""Notebook output needs nothing from outside the machine (#16 item 12).

A real Jupyter kernel (ipykernel through jupyter_client) runs what a notebook cell would and
displays an analysis view; its display outputs, in order, make a page that Chromium opens with
every request that is not local refused. Bokeh, HoloViews and Panel load their JavaScript from
CDNs by default, and a lab without internet access then saw every plot as an empty box.
"""

from __future__ import annotations

import pytest

from .dashboard_support import chromium_available

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not chromium_available(), reason="no Chromium")]

CELL = """
import batteryviz as bv
from batteryviz.examples import example_file
bv.CycleSummary().view(bv.read(example_file()))
"""


def _kernel_outputs(code: str) -> list[dict]:
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    outputs, errors = [], []

    def hook(msg):
        if msg["msg_type"] in ("display_data", "execute_result"):
            outputs.append(msg["content"]["data"])
        elif msg["msg_type"] == "error":
            errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")

    try:
        client.execute_interactive(code, output_hook=hook, timeout=300)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert errors == []
    return outputs


def test_a_notebook_view_renders_with_every_outside_request_refused(browser, tmp_path):
    outputs = _kernel_outputs(CELL)
    text = "\n".join(str(v) for out in outputs for v in out.values())
    for cdn in ("cdn.bokeh.org", "cdn.holoviz.org"):
        assert cdn not in text
    parts = []
    for out in outputs:  # what a notebook front end does with them, in order
        if "application/javascript" in out:
            parts.append(
                "<script>"
                + out["application/javascript"].replace("</script>", "<\\/script>")
                + "</script>"
            )
        elif "text/html" in out:
            parts.append(out["text/html"])
    page_file = tmp_path / "notebook-output.html"
    page_file.write_text("<html><body>" + "\n".join(parts) + "</body></html>", encoding="utf-8")
    page = browser.new_page()
    refused, errors = [], []
    page.route(
        lambda url: not url.startswith(("file:", "data:", "blob:")),
        lambda route: (refused.append(route.request.url), route.abort()),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(page_file.as_uri())
    page.locator("canvas").first.wait_for(timeout=60_000)
    assert refused == [] and errors == []
    assert page.get_by_text("Capacity").count() > 0  # the summary's plots, drawn
    page.close()
