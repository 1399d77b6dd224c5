"""Cross-site scripting: hostile text from a link, a form, a file name or a file's content is
shown as text and never runs — in a real server on loopback, driven by headless Chromium.

Every path below ran a script in a victim's browser before :mod:`batteryviz.viz.markup`: the cell
id in a link (also when the victim had to log in first), the cycles field, an uploaded file's
name, the first line of a file batteryviz cannot read, the metadata form's error, and a BaSyTec
header (stored: it ran again on every later page of the user). A script that runs would call
``alert`` (Playwright's ``dialog`` event) or change the page's title; neither may happen, and the
hostile text must appear on the page literally.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from batteryviz.examples import example_file
from batteryviz.serve import ServeConfig, add_user

from ..dashboard_support import ARTIFACTS, CHROMIUM, chromium_available, page_text, running_server

needs_chromium = pytest.mark.skipif(
    not chromium_available(), reason=f"no Chromium at {CHROMIUM} (`apt-get install chromium`)"
)
pytestmark = pytest.mark.slow

SECRET = "xss-test-cookie-secret-0123456789abcdef"
TIMEOUT_MS = 90_000
#: Runs a script three ways if rendered as markup: an HTML event handler, a Markdown link and an
#: image; each would open a dialog or retitle the page.
HOSTILE = "<img src=x onerror=\"alert('bv-xss')\"><b>bold</b>[link](javascript:alert('bv-md'))"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("xss")
    credentials = root / "users.json"
    add_user(credentials, "victim", "correct horse battery")
    config = ServeConfig(
        workspace=str(root / "workspace"),
        auth="basic",
        credentials=str(credentials),
        cookie_secret=SECRET,
    )
    with running_server(config) as url:
        yield url, config


def _page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.dialogs = []

    def on_dialog(dialog):
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return context, page


def _log_in(page):
    page.fill("input[name=username]", "victim")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.get_by_text("Workspace of victim").wait_for()


def _assert_inert(page, literal: str, name: str):
    """No script ran and ``literal`` is on the page as text."""
    page.wait_for_timeout(500)  # a broken image's onerror fires within a frame or two
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"security-xss-{name}.png"), full_page=True)
    assert page.dialogs == [], f"a script ran: {page.dialogs}"
    assert page.title() == "batteryviz"
    assert literal in page_text(page)
    # no element was made from the hostile markup anywhere, shadow roots included
    assert (
        page.evaluate("""() => {
        const found = [];
        const walk = (root) => { for (const el of root.querySelectorAll('*')) {
            if (el.shadowRoot) walk(el.shadowRoot);
            if ((el.tagName === 'IMG' && el.getAttribute('src') === 'x') ||
            (el.getAttribute('href') || '').startsWith('javascript'))
                found.push(el.outerHTML);
        } };
        walk(document);
        return found;
    }""")
        == []
    )


@needs_chromium
def test_a_hostile_cell_id_in_a_link_is_text_also_after_logging_in(browser, lab):
    url, _ = lab
    context, page = _page(browser)
    page.goto(
        f"{url}/?cell={urllib.parse.quote(HOSTILE)}"
    )  # logged out: login, then redirected back
    _log_in(page)
    page.get_by_text(re.compile("There is no cell")).wait_for()
    _assert_inert(page, "<img src=x onerror", "cell-link")
    context.close()


@needs_chromium
def test_hostile_cycles_and_metadata_are_text(browser, lab):
    url, _ = lab
    context, page = _page(browser)
    page.goto(f"{url}/?tab=summary&cycles={urllib.parse.quote(HOSTILE)}")
    _log_in(page)
    # the cell opened: its Overview (a tab not on screen) names the file
    page.get_by_text("basytec_rate_fade.txt", exact=True).first.wait_for(state="attached")
    page.get_by_role("button", name="Run").first.click()
    page.get_by_text(re.compile("cycles: cannot read")).wait_for()
    _assert_inert(page, "cannot read '<img src=x onerror", "cycles")
    page.get_by_placeholder("not set, e.g. 35.000").fill(HOSTILE)
    page.get_by_role("button", name="Save metadata").click()
    page.get_by_text(re.compile("active_mass_mg")).first.wait_for()
    _assert_inert(page, "<img src=x onerror", "metadata")
    context.close()


@needs_chromium
def test_hostile_file_names_first_lines_and_headers_are_text(browser, lab):
    url, config = lab
    context, page = _page(browser)
    page.goto(f"{url}/")
    _log_in(page)
    # a file batteryviz cannot read: its name and first line are quoted in the error
    page.locator("input[type=file]").set_input_files(
        files=[
            {
                "name": f"{HOSTILE}.txt",
                "mimeType": "text/plain",
                "buffer": f"{HOSTILE}\n1 2 3\n".encode(),
            }
        ]
    )
    page.get_by_text(re.compile("not a format batteryviz recognises")).wait_for()
    _assert_inert(page, "<b>bold</b>", "unknown-format")
    # a real export whose test name is hostile: stored, so shown on every later page
    text = example_file().read_text(encoding="latin-1")
    hostile = re.sub(
        r"~Name of Test: .*", "~Name of Test: " + HOSTILE.replace("\\", ""), text, count=1
    )
    hostile = re.sub(r"~Battery: .*", "~Battery: " + HOSTILE, hostile, count=1)
    page.locator("input[type=file]").set_input_files(
        files=[
            {
                "name": "hostile_header.txt",
                "mimeType": "text/plain",
                "buffer": hostile.encode("latin-1"),
            }
        ]
    )
    page.get_by_text(re.compile(r"hostile_header\.txt: basytec")).wait_for()
    page.wait_for_url(re.compile("cell=[0-9a-f]{16}"))
    _assert_inert(page, "<b>bold</b>", "stored-header")
    # the stored label reaches the compare tab's cell chooser (drawn as HTML by Bokeh)
    page.get_by_text("Compare cells", exact=True).click()
    page.locator(".choices").first.click()
    page.wait_for_timeout(300)
    _assert_inert(page, "<b>bold</b>", "compare-choices")
    page.reload()
    page.get_by_text("Workspace of victim").wait_for()
    page.get_by_text("hostile_header.txt", exact=True).first.wait_for(state="attached")
    _assert_inert(page, "<b>bold</b>", "stored-header-reload")
    context.close()


def test_every_response_carries_the_security_headers(lab):
    url, _ = lab
    for path in (
        "/login",
        "/liveness",
        "/static/extensions/panel/images/logo_horizontal_light_theme.png",
    ):
        try:
            with urllib.request.urlopen(f"{url}{path}", timeout=30) as r:
                headers = r.headers
        except (
            urllib.error.HTTPError
        ) as exc:  # a missing static file still answers with the headers
            headers = exc.headers
            exc.close()
        csp = headers["Content-Security-Policy"]
        assert csp and "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp, path
        assert (
            headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        )
