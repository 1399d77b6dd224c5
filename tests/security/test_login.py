"""Logging in: no stranger can stall the server, guess quickly, learn who exists, or log a
victim in from another site. A real server on loopback and real HTTP, plus the guard itself."""

from __future__ import annotations

import asyncio
import http.cookiejar
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from batteryviz import login
from batteryviz.login import LoginGuard, LoginRefused
from batteryviz.serve import ServeConfig, add_user, hash_password

from ..dashboard_support import running_server

SECRET = "login-test-cookie-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("login")
    credentials = root / "users.json"
    add_user(credentials, "alice", "wonderland")
    add_user(credentials, "carol", "secret-carol")
    add_user(credentials, "dave", "secret-dave")
    config = ServeConfig(
        workspace=str(root / "ws"), auth="basic", credentials=str(credentials), cookie_secret=SECRET
    )
    with running_server(config) as url:
        yield url, credentials


def _post_login(url, user, password, headers=None):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    data = urllib.parse.urlencode({"username": user, "password": password}).encode()
    request = urllib.request.Request(f"{url}/login", data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=60) as r:
            return (
                r.status,
                urllib.parse.unquote_plus(r.geturl()),
                any(c.name == "user" for c in jar),
            )
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode(), False


def test_password_checks_run_off_the_event_loop(lab, monkeypatch):
    url, _ = lab
    threads = []
    original = login.verify_password

    def recording(password, stored):  # the real check, noting which thread ran it
        threads.append(threading.current_thread().name)
        return original(password, stored)

    monkeypatch.setattr(login, "verify_password", recording)
    status, landed, logged_in = _post_login(url, "alice", "wonderland")
    assert logged_in and threads and all(name.startswith("batteryviz-login") for name in threads)


def test_unknown_users_fail_as_slowly_as_known_ones(lab):
    url, _ = lab

    def timed(user):
        start = time.perf_counter()
        _post_login(url, user, "not-the-password")
        return time.perf_counter() - start

    known = min(timed("dave") for _ in range(2))
    unknown = min(timed(f"nobody-{k}") for k in range(2))
    # a PBKDF2 check (~0.1 s) for both: without the dummy hash the unknown one took ~1 ms
    assert unknown > 0.5 * known, (known, unknown)


def test_guessing_is_slowed_and_even_the_right_password_waits(lab):
    url, _ = lab
    for k in range(5):
        status, landed, logged_in = _post_login(url, "carol", f"guess-{k}")
        assert not logged_in and "Invalid username or password" in landed
    status, landed, logged_in = _post_login(url, "carol", "secret-carol")
    assert not logged_in and "Too many failed logins" in landed


def test_a_new_password_lifts_the_wait(lab):
    url, credentials = lab
    for k in range(6):
        _post_login(url, "alice", f"guess-{k}")
    assert "Too many failed logins" in _post_login(url, "alice", "wonderland")[1]
    add_user(credentials, "alice", "new-wonderland")  # what an administrator does
    assert _post_login(url, "alice", "new-wonderland")[2]


def test_a_login_form_posted_from_another_site_is_refused(lab):
    url, _ = lab
    status, body, logged_in = _post_login(
        url, "alice", "wonderland", {"Origin": "https://evil.example"}
    )
    assert status == 403 and not logged_in and "not sent from this server" in body


def test_checks_beyond_the_pending_limit_are_refused_at_once():
    guard = LoginGuard(threads=1, max_pending=2)
    stored = hash_password("pw", iterations=200_000)

    async def attempt():
        try:
            return await guard.verify("pw", stored)
        except LoginRefused as exc:
            return str(exc)

    async def flood():
        return await asyncio.gather(*[attempt() for _ in range(6)])

    outcomes = asyncio.run(flood())
    assert outcomes.count(True) == 2
    assert all("busy" in o for o in outcomes if o is not True)
    assert guard._pending == 0


def test_backoff_doubles_per_failure_up_to_the_ceiling():
    now = [1000.0]
    guard = LoginGuard(
        free_failures=3, address_free_failures=5, max_backoff_s=60, clock=lambda: now[0]
    )
    for _ in range(3):
        guard.check_allowed("u", "1.2.3.4")
        guard.record("u", "1.2.3.4", ok=False)
    waits = []
    for _ in range(8):
        with pytest.raises(LoginRefused) as info:
            guard.check_allowed("u", "9.9.9.9")  # the account waits, from any address
        waits.append(int(re.search(r"again in (\d+) s", str(info.value)).group(1)))
        now[0] += 10_000
        guard.record("u", "9.9.9.9", ok=False)
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    guard.record("u", "9.9.9.9", ok=True)
    with pytest.raises(LoginRefused):  # the address keeps its count
        guard.check_allowed("v", "9.9.9.9")
    guard.check_allowed("u", "5.5.5.5")  # the account's count is cleared


def test_many_names_keep_the_guard_small():
    guard = LoginGuard()
    for k in range(30_000):
        guard.record(f"user-{k}", f"10.0.{k // 256 % 256}.{k % 256}", ok=False)
    assert len(guard._accounts) <= 10_000 and len(guard._addresses) <= 10_000
