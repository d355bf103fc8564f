"""Withdrawing one's own message, clicked in a real Chromium: link, confirmation, grey line."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.browser import Server

pytestmark = pytest.mark.browser

# As in test_reading.py: the web reply is filed by the request itself, no worker race.
SERVE_ROLES = ("web", "sender")
WORDS = "zqbrowserwithdraw: please ignore my earlier numbers."


def test_withdraw_my_own_reply(page: Any, server: Server) -> None:
    """Reply, click Withdraw on it, confirm: the text is gone and a grey line keeps its place."""
    page.goto(server.url + "/c/engineering")
    page.get_by_role("link", name="Flaky CI on the payments service", exact=True).click()
    page.wait_for_url(re.compile(r"/t/\d+$"))
    others = page.locator("a.withdraw").count()
    assert others == 0  # the reader wrote nothing here yet
    page.get_by_label(re.compile("Your reply is added")).fill(WORDS)
    page.get_by_role("button", name="Send reply").click()
    page.wait_for_url(re.compile(r"/t/\d+#m\d+$"))
    mine = page.locator("li.message").last
    assert WORDS in mine.inner_text()
    mine.get_by_role("link", name="Withdraw").click()
    page.wait_for_url(re.compile(r"/m/\d+/withdraw$"))
    assert WORDS in page.locator(".withdraw-preview").inner_text()
    page.get_by_role("button", name="Withdraw this message").click()
    page.wait_for_url(re.compile(r"/t/\d+\?withdrawn=1#m\d+$"))
    assert page.get_by_role("status").first.inner_text().startswith("Your message was withdrawn")
    assert WORDS not in page.content()
    assert "You withdrew this message." in page.locator("li.message.withdrawn").inner_text()
    page.goto(server.url + "/search?q=zqbrowserwithdraw")
    assert page.locator("ol.results li").count() == 0
    assert page.errors == []
