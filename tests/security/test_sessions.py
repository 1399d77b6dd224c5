"""Sessions end on the server: a cookie replayed after logout, after a new password or after the
user's removal opens nothing. Real server on loopback and real HTTP; the store's clock rules
with a clock of the test's own."""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from batteryviz.serve import ServeConfig, add_user
from batteryviz.sessions import SessionStore

from ..dashboard_support import running_server

SECRET = "sessions-test-cookie-secret-0123456789ab"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("sessions")
    credentials = root / "users.json"
    for user in ("alice", "bob", "carol"):
        add_user(credentials, user, f"pw-{user}")
    config = ServeConfig(
        workspace=str(root / "ws"), auth="basic", credentials=str(credentials), cookie_secret=SECRET
    )
    with running_server(config) as url:
        yield url, credentials


def _login(url, user):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(
        f"{url}/login",
        data=urllib.parse.urlencode({"username": user, "password": f"pw-{user}"}).encode(),
        timeout=60,
    ) as r:
        r.read()
    return opener, "; ".join(f"{c.name}={c.value}" for c in jar)


def _lands_on(url, cookie_header) -> str:
    """Where ``GET /`` with exactly these cookies ends: "page" (the dashboard) or "login"."""
    request = urllib.request.Request(f"{url}/", headers={"Cookie": cookie_header})
    with urllib.request.urlopen(request, timeout=120) as r:
        body, final = r.read().decode(), r.geturl()
    if "/login" in final or 'name="password"' in body:
        return "login"
    assert "<title>batteryviz</title>" in body
    return "page"


def test_a_cookie_replayed_after_logout_opens_nothing(lab):
    url, _ = lab
    opener, cookies = _login(url, "alice")
    assert _lands_on(url, cookies) == "page"
    with opener.open(f"{url}/logout", timeout=60) as r:
        r.read()
    assert _lands_on(url, cookies) == "login"  # the very cookies that worked a moment ago


def test_a_new_password_ends_the_users_sessions(lab):
    url, credentials = lab
    _, cookies = _login(url, "bob")
    assert _lands_on(url, cookies) == "page"
    add_user(credentials, "bob", "a-new-password")
    assert _lands_on(url, cookies) == "login"


def test_removing_a_user_ends_their_sessions(lab):
    url, credentials = lab
    _, cookies = _login(url, "carol")
    assert _lands_on(url, cookies) == "page"
    data = json.loads(credentials.read_text())
    del data["users"]["carol"]
    credentials.write_text(json.dumps(data))
    assert _lands_on(url, cookies) == "login"


def test_the_user_cookie_alone_is_not_a_session(lab):
    url, _ = lab
    _, cookies = _login(url, "alice")
    only_user = "; ".join(c for c in cookies.split("; ") if c.startswith("user="))
    assert only_user and _lands_on(url, only_user) == "login"


def test_sessions_end_when_idle_or_old_and_are_renewed_by_use(tmp_path):
    now = [1_000_000.0]
    store = SessionStore(tmp_path / "s", idle_s=3600, max_age_s=4 * 3600, clock=lambda: now[0])
    hashes = {"alice": "hash-1"}
    token = store.create("alice", "hash-1")
    assert str(token) not in "".join(
        p.read_text() for p in (tmp_path / "s").glob("*.json")
    )  # only its digest
    for _ in range(3):  # used every 50 minutes: renewed, not idle
        now[0] += 3000
        assert store.user_of(token, hashes.get) == "alice"
    now[0] += 3000  # 200 min after login, within the 4 h maximum
    assert store.user_of(token, hashes.get) == "alice"
    now[0] += 3000  # past 4 h since login: ended however recently used
    assert store.user_of(token, hashes.get) is None
    idle = store.create("alice", "hash-1")
    now[0] += 3601
    assert store.user_of(idle, hashes.get) is None
    assert list((tmp_path / "s").glob("*.json")) == []  # ended sessions leave no file
    assert (
        store.user_of("x" * 10_000, hashes.get) is None and store.user_of(None, hashes.get) is None
    )


def test_another_site_cannot_log_a_user_out(lab):
    url, _ = lab
    opener, cookies = _login(url, "alice")
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Referer": "https://evil.example/page"}):
        request = urllib.request.Request(f"{url}/logout", headers={"Cookie": cookies, **headers})
        with pytest.raises(urllib.error.HTTPError) as refused:  # an <img src=.../logout> elsewhere
            urllib.request.urlopen(request, timeout=60)
        assert refused.value.code == 403
        assert _lands_on(url, cookies) == "page"  # still logged in
    # the page's own Logout button (same origin) and a typed address still log out
    request = urllib.request.Request(
        f"{url}/logout", headers={"Cookie": cookies, "Sec-Fetch-Site": "same-origin"}
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        r.read()
    assert _lands_on(url, cookies) == "login"
