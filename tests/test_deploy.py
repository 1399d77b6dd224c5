"""The lab deployment of the README: two `batteryviz serve` processes behind the shipped
``dashboards/nginx.conf`` (real processes, real nginx, a real browser)."""

from __future__ import annotations

import http.cookiejar
import urllib.request

import pytest

from .dashboard_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NGINX,
    free_port,
    page_text,
    serve_process,
    start_nginx,
    stop_process,
    wait_until_live,
)

pytestmark = pytest.mark.skipif(NGINX is None, reason="needs Debian's nginx (.ci/run installs it)")


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """(proxy URL, backend ports): two server processes on one workspace behind nginx."""
    workspace = tmp_path_factory.mktemp("workspace")
    ports, proxy_port = [free_port(), free_port()], free_port()
    servers = [
        serve_process(port, workspace, "--allow-websocket-origin", f"127.0.0.1:{proxy_port}")
        for port in ports
    ]
    proxy = None
    try:
        for port in ports:
            wait_until_live(f"http://127.0.0.1:{port}", timeout=120)
        proxy = start_nginx(proxy_port, ports)
        url = f"http://127.0.0.1:{proxy_port}"
        wait_until_live(url)
        yield url, ports
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=30)
        for server in servers:
            stop_process(server)


def _browser_of_one_user():
    """A cookie-keeping HTTP client, as a browser is."""
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)), jar


def _server_cookie(jar) -> str | None:
    return next((c.value for c in jar if c.name == "bvserver"), None)


def test_each_browser_is_given_a_process_and_kept_on_it(proxied):
    url, ports = proxied
    ours = {f"127.0.0.1:{p}" for p in ports}
    given = []
    for _ in range(2):  # two browsers arriving one after the other
        opener, jar = _browser_of_one_user()
        opener.open(f"{url}/liveness", timeout=30).read()
        first = _server_cookie(jar)
        assert first in ours
        for _ in range(
            4
        ):  # every later request goes to the same process (which sets the same cookie)
            opener.open(f"{url}/liveness", timeout=30).read()
            assert _server_cookie(jar) == first
        given.append(first)
    assert set(given) == ours  # new browsers are dealt to the processes in turn


def test_a_cookie_naming_another_host_is_not_followed(proxied):
    url, ports = proxied
    request = urllib.request.Request(
        f"{url}/liveness", headers={"Cookie": "bvserver=10.255.255.1:22"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        cookie = response.headers.get("Set-Cookie", "")
    assert cookie.split(";")[0].split("=", 1)[1] in {f"127.0.0.1:{p}" for p in ports}


def test_the_dashboard_works_through_the_proxy(proxied):
    # the page is drawn over its websocket: it reaches the page's own process through nginx
    from playwright.sync_api import sync_playwright

    url, _ = proxied
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(90_000)
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{url}/")
            page.get_by_text("Workspace of local").wait_for()
            page.get_by_text(
                "Cycle summary", exact=True
            ).click()  # a round trip to the page's process
            page.get_by_text("Mean CE (%)").wait_for()  # the example's summary, computed there
            page.wait_for_url("**tab=summary**")
            assert "basytec_rate_fade" in page_text(page)
            assert not errors
        finally:
            browser.close()
