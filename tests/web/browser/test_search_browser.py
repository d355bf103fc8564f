"""Search as a person uses it in a real browser: a misspelt word offers a near one, a
click on it searches again, and words matched in another form are highlighted."""

from __future__ import annotations

import re
from typing import Any

from tests.support.browser import Server


def test_did_you_mean_is_a_link_that_searches_again(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    box = page.get_by_role("searchbox", name="Search")
    box.fill("upgrde window")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    assert page.locator(".results > li").count() == 0
    offer = page.locator(".suggestion a")
    assert offer.inner_text() == "upgrade window"
    offer.click()
    page.wait_for_url(re.compile(r"/search\?q=upgrade\+window$"))
    assert page.locator(".results > li").count() >= 1
    marked = {m.lower() for m in page.locator(".results mark").all_inner_texts()}
    assert {"upgrade", "window"} <= marked


def test_an_inflected_word_finds_and_marks_the_form_written(page: Any, server: Server) -> None:
    page.goto(server.url + "/search?q=upgrading")
    assert page.locator(".results > li").count() >= 1
    marked = {m.lower() for m in page.locator(".results mark").all_inner_texts()}
    assert "upgrade" in marked  # the demo writes "upgrade"; the query said "upgrading"
