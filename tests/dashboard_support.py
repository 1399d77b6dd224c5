"""Helpers of the dashboard tests: free ports, an in-process server, a Chromium browser."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

#: Debian's Chromium (`.ci/run` installs it; Playwright cannot download a browser here).
CHROMIUM = os.environ.get("BATTERYVIZ_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
#: Screenshots of the browser tests (kept by CI as artifacts; ignored by git).
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_live(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/liveness", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"no server at {url} after {timeout} s")


@contextlib.contextmanager
def running_server(config, **server_options):
    """An in-process dashboard server in a thread (``pn.serve(..., threaded=True)``)."""
    import panel as pn

    from batteryviz.serve import make_server

    port = free_port()
    thread = make_server(config, port=port, address="127.0.0.1", threaded=True, verbose=False, **server_options)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_live(url)
        yield url
    finally:
        thread.stop()
        pn.config.authorize_callback = None


def chromium_available() -> bool:
    return Path(CHROMIUM).exists()


_ALL_TEXT = """() => {
  const parts = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      for (const node of el.childNodes) if (node.nodeType === Node.TEXT_NODE) parts.push(node.textContent);
      if (el.tagName === 'OPTION' || el.tagName === 'INPUT') parts.push(el.value || '');
    }
  };
  walk(document);
  return parts.join(' ');
}"""


def page_text(page) -> str:
    """Every text on the page, inside Bokeh's shadow roots too (``inner_text`` stops at them)."""
    return page.evaluate(_ALL_TEXT)
