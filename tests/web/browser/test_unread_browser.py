"""What's new in a real Chromium: a reply that arrives by SMTP shows as "1 new" and the
thread opens at it, with no script.

The thread is mailed to the running bridge (the demo's Engineering list): eight
long messages, so the reply that comes later sits well below the first screen.
"""

from __future__ import annotations

import re
import smtplib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.browser import Server, axe_source, new_context, serious_violations
from tests.support.messages import make_mail
from tests.support.paths import BROWSER_CACHE

pytestmark = pytest.mark.browser

SUBJECT = "Rotating the staging certificates"
LIST = "engineering@lists.example.com"
PEOPLE = ["Priya Raman <priya.raman@example.com>", "Tom Becker <tom.becker@example.com>"]
BASE = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
FIRST = 8


def send(server: Server, i: int, body: str) -> None:
    sender = PEOPLE[i % 2]
    raw = make_mail(
        ("Re: " if i else "") + SUBJECT,
        sender=sender,
        to=LIST,
        msgid=f"certs{i}@example.com",
        in_reply_to=f"certs{i - 1}@example.com" if i else None,
        date=BASE + timedelta(minutes=11 * i),
        body=body,
    )
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=60) as smtp:
        smtp.sendmail(sender.split("<")[1].rstrip(">"), [LIST], raw.replace(b"\n", b"\r\n"))


def row_unread(server: Server) -> tuple[str, str] | None:
    """(thread path, data-unread) of the thread's row on the community page, once listed."""
    html = server.get("/c/engineering").decode()
    found = re.search(
        r'<li class="thread-row" data-unread="(\d+)">\s*<h2><a href="(/t/\d+)">'
        + re.escape(SUBJECT),
        html,
    )
    return (found.group(2), found.group(1)) if found else None


def wait_for(server: Server, unread: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = row_unread(server)
        if found and found[1] == unread:
            return found[0]
        time.sleep(0.5)
    raise AssertionError(f"the thread never showed data-unread={unread}: {row_unread(server)}")


@pytest.fixture(scope="module")
def thread_path(server: Server) -> str:
    for i in range(FIRST):
        send(server, i, f"Step {i} of the rotation.\n" + "Details of this step.\n" * 25)
    return wait_for(server, str(FIRST))


def test_a_reply_by_smtp_shows_as_new_and_the_thread_opens_at_it(
    chromium: Any, server: Server, thread_path: str
) -> None:
    context, traffic = new_context(chromium, server, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(server.url + "/c/engineering")
        row = page.locator("li.thread-row", has_text=SUBJECT)
        assert row.get_attribute("data-unread") == str(FIRST)
        assert row.locator(".badge.new").inner_text() == f"{FIRST} new"
        row.get_by_role("link", name=SUBJECT).click()
        page.wait_for_url(re.compile(re.escape(thread_path) + "$"))
        assert page.evaluate("window.scrollY") == 0  # a first visit opens at the top
        page.goto(server.url + "/c/engineering")
        assert row.get_attribute("data-unread") == "0"
        assert row.locator(".badge.new").count() == 0

        send(server, FIRST, "The new certificates are live on staging.\n")
        wait_for(server, "1")
        page.goto(server.url + "/c/engineering")
        assert row.get_attribute("data-unread") == "1"
        assert row.locator(".badge.new").inner_text() == "1 new"
        row.get_by_role("link", name=SUBJECT).click()
        page.wait_for_url(re.compile(re.escape(thread_path) + "$"))
        focused = page.locator("li.message:focus")
        assert focused.count() == 1
        assert "The new certificates are live on staging." in focused.inner_text()
        assert page.evaluate("window.scrollY") > 0  # scrolled down to it
        box = focused.bounding_box()
        assert box is not None
        assert 0 <= box["y"] < 900
        assert traffic.remote == []
    finally:
        context.close()


def test_a_link_to_one_message_still_lands_on_it(
    chromium: Any, server: Server, thread_path: str
) -> None:
    """A search result or a reply's redirect names a message: that one wins over the unread."""
    send(server, FIRST + 1, "A reply that makes the thread news again.\n")
    wait_for(server, "1")
    context, _ = new_context(chromium, server, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(server.url + thread_path)
        first = page.locator("li.message").first.get_attribute("id")
        page.goto(server.url + "/c/engineering")
        send(server, FIRST + 2, "And one more.\n")
        wait_for(server, "1")
        page.goto(f"{server.url}{thread_path}#{first}")
        target = page.locator("li.message:target")
        assert target.get_attribute("id") == first
        box = target.bounding_box()
        assert box is not None
        assert 0 <= box["y"] < 100  # scrolled to the named message, not to the new one
    finally:
        context.close()


def test_mark_all_read_clears_the_badges(chromium: Any, server: Server, thread_path: str) -> None:
    context, _ = new_context(chromium, server, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(server.url + "/c/engineering")
        assert page.locator("li.thread-row .badge.new").count() > 0  # the demo's threads
        page.get_by_role("button", name="Mark all read").click()
        page.wait_for_url(re.compile(r"/c/engineering\?read=1$"))
        assert page.get_by_role("status").inner_text() == "Every thread here is marked read."
        assert page.locator("li.thread-row .badge.new").count() == 0
        assert set(
            page.locator("li.thread-row").evaluate_all("rows => rows.map(r => r.dataset.unread)")
        ) == {"0"}
    finally:
        context.close()


def test_no_serious_accessibility_violations_with_badges(
    chromium: Any, server: Server, thread_path: str
) -> None:
    source = axe_source(BROWSER_CACHE)
    if source is None:
        pytest.skip("axe-core could not be fetched from npm")
    send(server, FIRST + 3, "One more so the list and the thread show what is new.\n")
    wait_for(server, "1")
    context, _ = new_context(chromium, server, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(server.url + "/c/engineering")
        assert page.locator("li.thread-row .badge.new").count() > 0
        assert serious_violations(page, source) == []
        page.goto(server.url + thread_path)
        assert page.locator("li.message.first-unread").count() == 1
        assert serious_violations(page, source) == []
    finally:
        context.close()
