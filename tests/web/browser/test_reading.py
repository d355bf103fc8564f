"""What a reader clicks, in a real Chromium: communities, a thread, quoted text, search, a reply.

Screenshots of the main pages (demo content only) are saved to docs/screenshots/
for the README; BRIDGE_SCREENSHOTS=0 skips writing them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.browser import (
    Server,
    axe_source,
    new_context,
    screenshot,
    serious_violations,
)
from tests.support.paths import BROWSER_CACHE

pytestmark = pytest.mark.browser

THREAD = "Postgres upgrade window for the billing cluster"
# No pipeline worker: a web reply is filed by the request itself (bridge/posting.py).
# With a worker woken by the same accept, the worker can file the reply first and
# post_reply then reports it as not published; that race is left to the posting code.
SERVE_ROLES = ("web", "sender")


def open_thread(page: Any, server: Server, subject: str = THREAD) -> None:
    page.goto(server.url + "/c/engineering")
    page.get_by_role("link", name=subject, exact=True).click()
    page.wait_for_url(re.compile(r"/t/\d+$"))


def test_open_a_community_and_read_a_thread(page: Any, server: Server) -> None:
    """Home → community → thread: the conversation reads in order with reply indentation."""
    page.goto(server.url + "/")
    assert page.get_by_role("heading", name="Communities").is_visible()
    screenshot(page, "home")
    page.get_by_role("link", name="Engineering", exact=True).click()
    page.wait_for_url(server.url + "/c/engineering")
    rows = page.locator(".thread-row")
    assert rows.count() >= 3
    assert "started by e-mail" in rows.first.inner_text()
    screenshot(page, "community")
    page.get_by_role("link", name=THREAD, exact=True).click()
    messages = page.locator("li.message")
    assert messages.count() == 9
    assert page.locator("li.message.depth-1").count() >= 1
    assert page.get_by_role("heading", level=1).inner_text() == THREAD
    screenshot(page, "thread")
    assert page.traffic.remote == []
    assert page.errors == []


def test_expand_quoted_text(page: Any, server: Server) -> None:
    """Quoted history is collapsed; one click shows it."""
    open_thread(page, server)
    quoted = page.locator("details.quoted").first
    body = quoted.locator(".body")
    assert not body.is_visible()
    quoted.locator("summary").click()
    assert body.is_visible()
    assert quoted.get_attribute("open") is not None
    assert body.inner_text().strip()


def test_search_and_open_a_result(page: Any, server: Server) -> None:
    """Typing in the search box finds the thread, with the words highlighted; a click opens it."""
    page.goto(server.url + "/")
    box = page.get_by_role("searchbox", name="Search")
    box.fill('"upgrade window" from:priya')
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    results = page.locator(".results > li")
    assert results.count() >= 1
    assert page.locator(".results mark").count() >= 1
    screenshot(page, "search")
    results.first.get_by_role("link").first.click()
    page.wait_for_url(re.compile(r"/t/\d+#m\d+$"))
    target = page.url.rsplit("#", 1)[1]
    assert page.locator(f"li#{target}").is_visible()


def test_keyboard_navigation_between_messages(page: Any, server: Server) -> None:
    """j and k move between messages; / goes to the search box."""
    open_thread(page, server)
    page.keyboard.press("j")
    first = page.evaluate("document.activeElement.id")
    page.keyboard.press("j")
    second = page.evaluate("document.activeElement.id")
    page.keyboard.press("k")
    assert page.evaluate("document.activeElement.id") == first
    assert first != second
    assert first.startswith("m")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"


def test_post_a_reply(page: Any, server: Server) -> None:
    """The reply box files a message in the thread; it shows up last, marked as from the web."""
    open_thread(page, server, "Flaky CI on the payments service")
    before = page.locator("li.message").count()
    page.get_by_label(re.compile("Your reply is added")).fill(
        "Thanks all. I will pin the test database image today."
    )
    page.get_by_role("button", name="Send reply").click()
    page.wait_for_url(re.compile(r"/t/\d+#m\d+$"))
    messages = page.locator("li.message")
    assert messages.count() == before + 1
    last = messages.last
    assert "I will pin the test database image today." in last.inner_text()
    assert "via the web" in last.inner_text()


def test_html_view_in_a_sandboxed_frame(page: Any, server: Server) -> None:
    """The original formatting opens in a sandboxed frame without remote requests."""
    open_thread(page, server)
    view = page.locator("details.html-view").first
    view.locator("summary").click()
    frame_el = view.locator("iframe")
    assert "allow-scripts" not in (frame_el.get_attribute("sandbox") or "")
    frame = frame_el.content_frame
    frame.locator("body").wait_for()
    assert frame.locator("body").inner_text().strip()
    assert page.traffic.remote == []


def test_dark_mode_and_phone_width(chromium: Any, server: Server) -> None:
    """Dark mode follows the system; a phone-width thread has no horizontal scroll."""
    context, traffic = new_context(
        chromium, server, color_scheme="dark", viewport={"width": 390, "height": 844}
    )
    try:
        page = context.new_page()
        page.goto(server.url + "/c/engineering")
        page.get_by_role("link", name=THREAD, exact=True).click()
        page.wait_for_url(re.compile(r"/t/\d+$"))
        page.wait_for_load_state("load")
        background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        assert background == "rgb(22, 24, 27)"
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        screenshot(page, "thread-phone-dark")
        assert traffic.remote == []
    finally:
        context.close()


AXE_PAGES = [
    "/",
    "/c/engineering",
    "/search?q=upgrade",
    "/p/priya.raman%40example.com",
    "/experts?q=postgres+upgrade",
]


@pytest.mark.parametrize("path", [*AXE_PAGES, "thread"])
def test_no_serious_accessibility_violations(chromium: Any, server: Server, path: str) -> None:
    """axe-core (fetched from npm at setup, not committed) finds nothing serious or critical."""
    source = axe_source(BROWSER_CACHE)
    if source is None:
        pytest.skip("axe-core could not be fetched from npm")
    # bypass_csp: our own CSP forbids the injected checker, as it should forbid any script.
    context, _ = new_context(chromium, server, bypass_csp=True)
    try:
        page = context.new_page()
        if path == "thread":
            open_thread(page, server)
            page.locator("details.html-view summary").first.click()
        else:
            page.goto(server.url + path)
        assert serious_violations(page, source) == []
    finally:
        context.close()
