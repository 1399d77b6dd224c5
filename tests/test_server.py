"""The dashboard server: pages, login with hashed passwords, admin rights, refused unsafe set-ups.

Real in-process Panel servers (``pn.serve(..., threaded=True)``) and real HTTP requests.
"""

from __future__ import annotations

import http.cookiejar
import json
import logging
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from batteryviz.serve import (
    ServeConfig,
    add_user,
    hash_password,
    load_credentials,
    verify_password,
    websocket_origins,
)

from .dashboard_support import (
    LogRecords,
    free_port,
    running_server,
    serve_process,
    stop_process,
    wait_until_live,
)

SECRET = "a-cookie-secret-for-tests-0123456789"


@pytest.fixture
def credentials(tmp_path):
    path = tmp_path / "users.json"
    add_user(path, "alice", "wonderland", admin=True)
    add_user(path, "bob", "builder")
    return path


def _opener():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)), jar


def _login(opener, url, user, password):
    data = urllib.parse.urlencode({"username": user, "password": password}).encode()
    with opener.open(f"{url}/login", data=data, timeout=30) as r:
        return r.geturl(), r.read().decode()


def test_password_hashes_verify_and_never_store_the_password(credentials):
    stored = load_credentials(credentials)["users"]["alice"]
    assert "wonderland" not in credentials.read_text()
    assert stored["password"].startswith("pbkdf2_sha256$600000$")
    assert verify_password("wonderland", stored["password"])
    assert not verify_password("Wonderland", stored["password"])
    assert not verify_password("wonderland", "plain-text")
    assert hash_password("x") != hash_password("x")  # salted
    assert oct(credentials.stat().st_mode)[-3:] == "600"


def test_without_auth_the_dashboard_page_is_served(tmp_path):
    with running_server(ServeConfig(workspace=str(tmp_path))) as url:
        with urllib.request.urlopen(f"{url}/", timeout=60) as r:
            page = r.read().decode()
        assert r.status == 200 and "<title>batteryviz</title>" in page


def test_basic_auth_asks_for_a_login_and_checks_the_hash(tmp_path, credentials):
    config = ServeConfig(
        workspace=str(tmp_path), auth="basic", credentials=str(credentials), cookie_secret=SECRET
    )
    with running_server(config) as url:
        opener, jar = _opener()
        with opener.open(f"{url}/", timeout=30) as r:  # not logged in: the login form
            assert "/login" in r.geturl() and 'name="password"' in r.read().decode()
        landed, _ = _login(opener, url, "alice", "wrong")
        assert "error=" in landed and not any(c.name == "user" for c in jar)
        landed, page = _login(opener, url, "alice", "wonderland")
        assert any(c.name == "user" for c in jar)
        with opener.open(f"{url}/", timeout=60) as r:
            assert "<title>batteryviz</title>" in r.read().decode()


def test_admin_page_only_for_admins(tmp_path, credentials):
    config = ServeConfig(
        workspace=str(tmp_path), auth="basic", credentials=str(credentials), cookie_secret=SECRET
    )
    with running_server(config) as url:
        bob, _ = _opener()
        _login(bob, url, "bob", "builder")
        with pytest.raises(urllib.error.HTTPError) as err:
            bob.open(f"{url}/admin", timeout=60)
        assert err.value.code == 403
        with bob.open(f"{url}/", timeout=60) as r:  # bob may use the dashboard itself
            assert r.status == 200
        alice, _ = _opener()
        _login(alice, url, "alice", "wonderland")
        with alice.open(f"{url}/admin", timeout=60) as r:
            assert r.status == 200


@pytest.mark.parametrize(
    "change, message",
    [
        ({"auth": "basic", "credentials": None}, "cookie secret"),
        ({"auth": "basic", "cookie_secret": "short"}, "at least 16"),
        ({"auth": "basic", "cookie_secret": SECRET}, "--credentials"),
        ({"auth": "oauth", "cookie_secret": SECRET}, "--oauth-provider"),
        ({"auth": "ldap"}, "choose one of"),
    ],
)
def test_unsafe_or_incomplete_setups_are_refused(tmp_path, monkeypatch, change, message):
    monkeypatch.delenv("BATTERYVIZ_COOKIE_SECRET", raising=False)
    config = ServeConfig(workspace=str(tmp_path), **change)
    with pytest.raises(ValueError, match=message):
        config.check()


def test_plain_text_credentials_are_refused(tmp_path):
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": {"alice": {"password": "wonderland"}}}))
    config = ServeConfig(
        workspace=str(tmp_path), auth="basic", credentials=str(path), cookie_secret=SECRET
    )
    with pytest.raises(ValueError, match="no hashed password"):
        config.check()


@pytest.mark.parametrize(
    "pattern",
    [
        "*",
        "*:5006",
        "*.*",
        "*.*:*",
        "*.org",
        "*:*",
        "lab.*.org",
        "**.example.org",
        "*lab.example.org",
    ],
)
def test_websocket_origin_is_never_a_wildcard_nobody_named(pattern, monkeypatch):
    with pytest.raises(ValueError, match="hosts nobody named"):
        websocket_origins("0.0.0.0", 5006, [pattern])
    monkeypatch.setenv(
        "BOKEH_ALLOW_WS_ORIGIN", f"lab.example.org,{pattern}"
    )  # Bokeh lets this replace ours
    with pytest.raises(ValueError, match="BOKEH_ALLOW_WS_ORIGIN"):
        websocket_origins("0.0.0.0", 5006, None)


def test_websocket_origins_default_to_the_server_and_keep_named_hosts():
    assert websocket_origins("0.0.0.0", 5006, None) == [
        "localhost:5006",
        "localhost:5006",
        "127.0.0.1:5006",
    ]
    assert websocket_origins(None, 5006, ["lab.example.org"]) == ["lab.example.org"]
    named = ["*.lab.example.org", "lab.example.org:*", "[::1]:5006", "10.1.2.3:443"]
    assert websocket_origins(None, 5006, named) == named


def test_serving_without_login_beyond_the_loopback_warns(tmp_path):
    from batteryviz.serve import exposure_warning

    for address in ("localhost", "127.0.0.1", "::1", "127.0.1.1"):
        assert exposure_warning("none", address) is None
    for address in ("0.0.0.0", "", None, "lab.example.org", "192.168.1.20", "::"):
        assert "WITHOUT LOGIN" in exposure_warning("none", address)
    assert exposure_warning("basic", "0.0.0.0") is None
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batteryviz.cli",
            "serve",
            "--address",
            "0.0.0.0",
            "--port",
            str(free_port()),
            "--workspace",
            str(tmp_path / "ws"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert "WITHOUT LOGIN on 0.0.0.0" in proc.stderr.readline()  # the first thing it says
    finally:
        stop_process(proc)
        proc.stderr.close()


def test_cli_user_add_reads_the_password_from_stdin(tmp_path, monkeypatch, capsys):
    import io

    from batteryviz.cli import main

    path = tmp_path / "users.json"
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\n"))
    assert main(["user", "add", str(path), "carol", "--password-stdin", "--admin"]) == 0
    entry = load_credentials(path)["users"]["carol"]
    assert entry["admin"] and verify_password("s3cret", entry["password"])


def test_cli_user_add_with_a_piped_password_says_to_use_password_stdin(tmp_path):
    """Polish (#16): a password piped in without --password-stdin gave an EOFError traceback."""
    import subprocess
    import sys

    path = tmp_path / "users.json"
    done = subprocess.run(
        [sys.executable, "-m", "batteryviz.cli", "user", "add", str(path), "dave"],
        input="s3cret\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--password-stdin" in done.stderr and not path.exists()


def test_panel_serve_of_the_app_script(tmp_path, monkeypatch):
    """`panel serve dashboards/app.py` serves the same dashboard (workspace from the
    environment)."""
    from pathlib import Path

    import panel as pn

    from .dashboard_support import free_port, wait_until_live

    monkeypatch.setenv("BATTERYVIZ_WORKSPACE", str(tmp_path))
    script = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"
    port = free_port()
    thread = pn.serve(
        {"/": str(script)},
        port=port,
        address="127.0.0.1",
        threaded=True,
        show=False,
        verbose=False,
        liveness=True,
        websocket_origin=[f"127.0.0.1:{port}"],
    )
    try:
        wait_until_live(f"http://127.0.0.1:{port}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as r:
            assert "batteryviz" in r.read().decode()
        assert (tmp_path / "users").is_dir()  # the session opened its workspace there
    finally:
        thread.stop()


@pytest.fixture
def page_log():
    """What the dashboard logs about its pages (created, closed, …)."""
    logger, handler = logging.getLogger("batteryviz.ui.app"), LogRecords()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def _closed(messages):
    return [m for m in messages if m.endswith("page closed")]


def test_a_page_waits_for_a_slow_browser_longer_than_bokehs_15_s(tmp_path, page_log):
    # a page requested but not yet connected (a browser still loading its scripts): Bokeh
    # discards such sessions after 15 s by default and builds the page again when the websocket
    # arrives; the server checks every 0.3 s here
    with running_server(
        ServeConfig(workspace=str(tmp_path)), check_unused_sessions_milliseconds=300
    ) as url:
        urllib.request.urlopen(f"{url}/", timeout=60).read()
        time.sleep(16)
        assert len([m for m in page_log if "page created" in m]) == 1
        assert not _closed(page_log)


def test_an_unconnected_page_is_discarded_after_its_lifetime(tmp_path, page_log):
    # the same check with a short lifetime shows the discarding the test above relies on
    with running_server(
        ServeConfig(workspace=str(tmp_path)),
        check_unused_sessions_milliseconds=300,
        unused_session_lifetime_milliseconds=1000,
    ) as url:
        urllib.request.urlopen(f"{url}/", timeout=60).read()
        deadline = time.monotonic() + 15
        while not _closed(page_log) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_closed(page_log)) == 1


def test_sigterm_stops_the_server_and_its_job_processes(tmp_path):
    """systemd, Docker and Kubernetes stop a service with SIGTERM; it once ended the server at
    once and left its job processes and multiprocessing's resource tracker running."""
    import signal

    import psutil

    port = free_port()
    proc = serve_process(port, tmp_path / "ws")
    try:
        wait_until_live(f"http://127.0.0.1:{port}", timeout=120)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=120) as r:
            r.read()
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children  # job processes are started before the first page
        proc.send_signal(signal.SIGTERM)  # to the server alone, not its process group
        assert proc.wait(timeout=60) == 0
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert alive == []
    finally:
        if proc.poll() is None:
            stop_process(proc, signal.SIGKILL)
