"""A 200-message thread in a real Chromium: short to open, code in monospace, no script needed.

The thread arrives by SMTP at the running bridge (the demo's Engineering list),
each message answering the one before; one message carries a patch.
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

SUBJECT = "Replication lag on the reporting replica"
TOTAL = 200
PATCH_AT = 195  # among the newest: shown in the first view
PATCH = """\
This should cap the lag:

diff --git a/etc/replica.conf b/etc/replica.conf
index 1a2b3c4..5d6e7f8 100644
--- a/etc/replica.conf
+++ b/etc/replica.conf
@@ -1,3 +1,3 @@
 hot_standby = on
-max_standby_streaming_delay = 30s
+max_standby_streaming_delay = 5s
 wal_receiver_status_interval = 10s
"""
BASE = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
LIST = "engineering@lists.example.com"
PEOPLE = ["Priya Raman <priya.raman@example.com>", "Tom Becker <tom.becker@example.com>"]


@pytest.fixture(scope="module")
def long_thread(server: Server) -> str:
    """Mail the thread to the listener; return the thread's path once all of it is filed."""
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=60) as smtp:
        for i in range(TOTAL):
            raw = make_mail(
                ("Re: " if i else "") + SUBJECT,
                sender=PEOPLE[i % 2],
                to=LIST,
                msgid=f"lag{i}@example.com",
                in_reply_to=f"lag{i - 1}@example.com" if i else None,
                date=BASE + timedelta(minutes=7 * i),
                body=PATCH if i == PATCH_AT else f"Lag check {i}: the replica is behind.\n",
            )
            smtp.sendmail(
                PEOPLE[i % 2].split("<")[1].rstrip(">"), [LIST], raw.replace(b"\n", b"\r\n")
            )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        html = server.get("/c/engineering").decode()
        found = re.search(r'href="(/t/\d+)"[^>]*>' + re.escape(SUBJECT) + "<", html)
        if found and f"{TOTAL} messages" in server.get(found.group(1)).decode():
            return found.group(1)
        time.sleep(1)
    raise AssertionError("the thread was not filed in time")


def test_the_first_view_is_short_and_the_fold_works_without_script(
    chromium: Any, server: Server, long_thread: str
) -> None:
    context, traffic = new_context(chromium, server, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(server.url + long_thread)
        height = page.evaluate("document.documentElement.scrollHeight")
        page.goto(server.url + long_thread + "?all=1")
        whole = page.evaluate("document.documentElement.scrollHeight")
        print(f"200-message thread at 1280 px: first view {height} px, whole {whole} px")
        assert height < 25_000
        page.goto(server.url + long_thread)
        page.get_by_role("link", name=f"Show {TOTAL - 11} earlier messages").click()
        page.wait_for_url(re.compile(r"\?page=1$"))
        assert page.locator("li.message").count() == 50
        page.get_by_role("link", name="Later messages").first.click()
        page.wait_for_url(re.compile(r"\?page=2$"))
        assert "Lag check 50:" in page.locator("li.message").first.inner_text()
        assert traffic.remote == []
    finally:
        context.close()


def test_a_patch_reads_in_monospace_with_its_changes_coloured(
    chromium: Any, server: Server, long_thread: str
) -> None:
    context, _ = new_context(chromium, server)
    try:
        page = context.new_page()
        page.goto(server.url + long_thread)
        diff = page.locator("pre.code.diff")
        assert diff.count() == 1
        font = diff.evaluate("e => getComputedStyle(e).fontFamily")
        assert "monospace" in font
        prose = page.locator(".blocks > .text").first.evaluate(
            "e => getComputedStyle(e).fontFamily"
        )
        assert "monospace" not in prose
        added = diff.locator(".add").evaluate("e => getComputedStyle(e).color")
        removed = diff.locator(".del").evaluate("e => getComputedStyle(e).color")
        context_line = diff.locator(".ctx").first.evaluate("e => getComputedStyle(e).color")
        assert len({added, removed, context_line}) == 3
        assert diff.locator(".add").inner_text() == "+max_standby_streaming_delay = 5s"
    finally:
        context.close()


def test_the_flat_view_is_kept_across_visits(
    chromium: Any, server: Server, long_thread: str
) -> None:
    context, _ = new_context(chromium, server)
    try:
        page = context.new_page()
        page.goto(server.url + long_thread)
        page.get_by_role("link", name="by date").click()
        page.wait_for_url(re.compile(r"view=flat"))
        page.goto(server.url + long_thread)
        assert page.locator("nav.thread-tools strong").inner_text() == "by date"
    finally:
        context.close()


def test_no_serious_accessibility_violations_on_a_long_thread(
    chromium: Any, server: Server, long_thread: str
) -> None:
    source = axe_source(BROWSER_CACHE)
    if source is None:
        pytest.skip("axe-core could not be fetched from npm")
    context, _ = new_context(chromium, server, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(server.url + long_thread)
        assert serious_violations(page, source) == []
    finally:
        context.close()
