"""Helpers of the dashboard tests: free ports, an in-process server, a Chromium browser."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

#: Debian's Chromium (`.ci/run` installs it; Playwright cannot download a browser here).
CHROMIUM = os.environ.get("BATTERYVIZ_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
#: Debian's nginx, the proxy of the lab deployment (`.ci/run` installs it).
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
#: The lab deployment's proxy configuration, as shipped.
NGINX_CONF = Path(__file__).resolve().parents[1] / "dashboards" / "nginx.conf"
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
    thread = make_server(
        config, port=port, address="127.0.0.1", threaded=True, verbose=False, **server_options
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_live(url)
        yield url
    finally:
        thread.stop()
        pn.config.authorize_callback = None


def serve_process(
    port: int, workspace, *options: str, output=subprocess.DEVNULL, env: dict | None = None
) -> subprocess.Popen:
    """``batteryviz serve`` on ``127.0.0.1:port`` as its own process group (not yet live: see
    :func:`wait_until_live`); stop it with :func:`stop_process`."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batteryviz.cli",
            "serve",
            "--port",
            str(port),
            "--address",
            "127.0.0.1",
            "--workspace",
            str(workspace),
            *options,
        ],
        stdout=output,
        stderr=subprocess.STDOUT if output is not subprocess.DEVNULL else subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to a process group started by :func:`serve_process` and wait for it."""
    os.killpg(proc.pid, sig)
    proc.wait(timeout=30)


def chromium_available() -> bool:
    return Path(CHROMIUM).exists()


_ALL_TEXT = """() => {
  const parts = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      for (const node of el.childNodes) if (node.nodeType === Node.TEXT_NODE)
      parts.push(node.textContent);
      if (el.tagName === 'OPTION' || el.tagName === 'INPUT') parts.push(el.value || '');
    }
  };
  walk(document);
  return parts.join(' ');
}"""


#: Colours in the page's Bokeh documents that BokehJS cannot draw: a colour property whose value
#: is not a string, an integer (RGBA) or an array, and colour columns of data sources holding
#: such values (BokehJS then fails with "n is not iterable" while initialising the glyph).
UNDRAWABLE_COLOURS = """() => {
  const bad = [];
  const drawable = (c) => c == null || typeof c === 'string' || Number.isInteger(c) ||
  Array.isArray(c) || ArrayBuffer.isView(c);
  for (const doc of ((window.Bokeh && window.Bokeh.documents) || [])) {
    for (const m of doc.all_models) {
      const props = m.properties || {};
      for (const key of Object.keys(props)) {
        if (!key.includes('color')) continue;
        let spec;
        try { spec = props[key].get_value(); } catch (e) { continue; }
        if (spec && typeof spec === 'object' && 'value' in spec && !drawable(spec.value)) {
          bad.push(`${m.type} ${m.id}.${key} value ${JSON.stringify(spec.value)}`);
        } else if (spec && typeof spec === 'object' && 'field' in spec && !spec.transform &&
        m.data_source) {
          const column = m.data_source.data && m.data_source.data.get ?
          m.data_source.data.get(spec.field) : (m.data_source.data || {})[spec.field];
          const values = column == null ? null : Array.from(column);
          const wrong = values == null ? ['missing column'] : values.filter((v) =>
          !drawable(v)).slice(0, 3);
          if (wrong.length) bad.push(`${m.type} ${m.id}.${key} field ${spec.field}:
          ${JSON.stringify(wrong)}`);
        } else if (spec != null && typeof spec !== 'object' && !drawable(spec)) {
          bad.push(`${m.type} ${m.id}.${key} = ${JSON.stringify(spec)}`);
        }
      }
    }
  }
  return bad.slice(0, 20);
}"""


def page_text(page) -> str:
    """Every text on the page, inside Bokeh's shadow roots too (``inner_text`` stops at them)."""
    return page.evaluate(_ALL_TEXT)


def start_nginx(port: int, backends: list[int]) -> subprocess.Popen:
    """nginx in the foreground on ``127.0.0.1:port`` with the shipped ``dashboards/nginx.conf``,
    its processes and listen address replaced by ``backends`` and ``port``, its files in a
    scratch folder. Stop it with ``terminate()``."""
    tmp = Path(tempfile.mkdtemp(prefix="bv-nginx-"))
    conf = NGINX_CONF.read_text()
    servers = "".join(f"        server 127.0.0.1:{b};\n" for b in backends)
    accepted = "".join(f'        "127.0.0.1:{b}" 127.0.0.1:{b};\n' for b in backends)
    conf, n_up = re.subn(r"(?:[ ]*server 127\.0\.0\.1:\d+;\n)+", lambda m: servers, conf)
    conf, n_map = re.subn(
        r'(?:[ ]*"127\.0\.0\.1:\d+" 127\.0\.0\.1:\d+;\n)+', lambda m: accepted, conf
    )
    conf, n_listen = re.subn(r"listen 80;", f"listen 127.0.0.1:{port};", conf)
    assert n_up == n_map == n_listen == 1, (
        "dashboards/nginx.conf changed: update start_nginx's substitutions"
    )
    scratch = f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log warn;\n"
    if os.geteuid() == 0:
        scratch = "user root;\n" + scratch  # its workers write the scratch folder
    temp_paths = "".join(
        f"    {k}_temp_path {tmp}/{k};\n"
        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = scratch + conf.replace("http {\n", "http {\n" + temp_paths, 1)
    (tmp / "nginx.conf").write_text(conf)
    return subprocess.Popen(
        [
            NGINX,
            "-p",
            str(tmp),
            "-e",
            str(tmp / "error.log"),
            "-c",
            str(tmp / "nginx.conf"),
            "-g",
            "daemon off;",
        ]
    )


class LogRecords(logging.Handler):
    """The messages a logger emits at ``level`` or above, kept for a test to read."""

    def __init__(self, level: int = logging.INFO):
        super().__init__(level)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())
