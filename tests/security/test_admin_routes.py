"""The admin page is for admins on every route: its page, its websocket and its autoload script.
Real server on loopback, real HTTP and websockets (Tornado's client speaking Bokeh's handshake)."""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from batteryviz.serve import ServeConfig, add_user

from ..dashboard_support import running_server

SECRET = "admin-routes-cookie-secret-0123456789abc"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("admin")
    credentials = root / "users.json"
    add_user(credentials, "alice", "wonderland", admin=True)
    add_user(credentials, "bob", "builder")
    config = ServeConfig(
        workspace=str(root / "ws"), auth="basic", credentials=str(credentials), cookie_secret=SECRET
    )
    with running_server(config) as url:
        yield url


def _session(url, user, password):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(
        f"{url}/login",
        data=urllib.parse.urlencode({"username": user, "password": password}).encode(),
        timeout=60,
    ) as r:
        r.read()
    return opener, "; ".join(f"{c.name}={c.value}" for c in jar)


def _token_of(opener, page_url):
    with opener.open(page_url, timeout=120) as r:
        html = r.read().decode()
    return re.search(r'"token"\s*:\s*"([^"]+)"', html.replace('\\"', '"')).group(1)


def _open_ws(url, path, cookie, token):
    """Open Bokeh's websocket; the HTTP status of a refused handshake, else "open"."""
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    async def connect():
        request = HTTPRequest(
            url.replace("http", "ws") + path, headers={"Cookie": cookie, "Origin": url}
        )
        try:
            ws = await websocket_connect(request, subprotocols=["bokeh", token])
        except HTTPClientError as exc:
            return exc.code
        message = await ws.read_message()  # Bokeh's ACK once the session exists
        if message is None:
            ws.close()
            return "closed"  # the server ended it
        ws.close()
        with contextlib.suppress(asyncio.TimeoutError):  # until the close is done
            while await asyncio.wait_for(ws.read_message(), 10) is not None:
                pass
        return "open"

    return asyncio.run(connect())


def test_an_admin_opens_the_admin_websocket(lab):
    opener, cookie = _session(lab, "alice", "wonderland")
    assert _open_ws(lab, "/admin/ws", cookie, _token_of(opener, f"{lab}/admin")) == "open"


def test_a_non_admin_cannot_open_the_admin_websocket_with_any_token(lab):
    from bokeh.util.token import generate_jwt_token

    opener, cookie = _session(lab, "bob", "builder")
    own_page_token = _token_of(opener, f"{lab}/")  # a real, signed token of bob's own page
    assert _open_ws(lab, "/admin/ws", cookie, own_page_token) == 403
    minted = generate_jwt_token("made-up-session-id", signed=False)  # what sufficed before
    assert _open_ws(lab, "/admin/ws", cookie, minted) == 403
    # and on his own page a made-up token is refused: session ids are signed
    assert _open_ws(lab, "/ws", cookie, minted) != "open"


# Panel's admin app names a widget the deprecated way when it is built from autoload.js
@pytest.mark.filterwarnings("ignore:Widget.name is deprecated:PendingDeprecationWarning")
def test_a_non_admin_cannot_fetch_the_admin_autoload_script(lab):
    opener, _ = _session(lab, "bob", "builder")
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(f"{lab}/admin/autoload.js?bokeh-autoload-element=x", timeout=60)
    assert info.value.code == 403
    info.value.close()
    admin, _ = _session(lab, "alice", "wonderland")
    with admin.open(f"{lab}/admin/autoload.js?bokeh-autoload-element=x", timeout=120) as r:
        assert r.status == 200


def test_a_panel_without_the_guarded_routes_refuses_to_serve(monkeypatch):
    """The guards replace Panel's route handlers; a Panel whose routes are named otherwise must
    stop the server, not serve the routes unguarded (an empty match once passed as 'all
    wrapped')."""
    from panel.io import server as pserver

    from batteryviz.serve import _authorize_every_route, _limit_page_builds

    monkeypatch.setattr(pserver, "per_app_patterns", [(r"/websocket", object), (r"/page", object)])
    with pytest.raises(RuntimeError, match="routes changed"):
        _authorize_every_route()
    with pytest.raises(RuntimeError, match="routes changed"):
        _limit_page_builds()
