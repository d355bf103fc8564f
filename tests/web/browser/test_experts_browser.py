"""Who knows X in a real Chromium, on the demo: from search results to a person's topics.

(Its pages' accessibility is checked with the others in test_reading.py, AXE_PAGES.)
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.browser import Server

pytestmark = pytest.mark.browser


def test_from_search_to_who_knows_to_a_person(page: Any, server: Server) -> None:
    """Search "postgres upgrade", follow "Who knows", open a colleague: their topics show."""
    page.goto(server.url + "/search?q=postgres+upgrade")
    page.get_by_role("link", name=re.compile("Who knows about")).click()
    page.wait_for_url(re.compile(r"/experts\?q="))
    people = page.locator("ol.experts > li")
    assert people.count() >= 3
    assert people.first.locator("ul.earned a").count() >= 1
    # Outsiders are listed by name without a link; the first colleague has one.
    page.locator("ol.experts h2 a").first.click()
    page.wait_for_url(re.compile(r"/p/"))
    assert page.get_by_role("heading", name="Writes about").is_visible()
    assert page.locator("ul.topics a").count() >= 1
    assert page.traffic.remote == []
    assert page.errors == []


def test_asking_in_the_page_form(page: Any, server: Server) -> None:
    """The page's own form asks again; a question of stop words says so instead of failing."""
    page.goto(server.url + "/experts")
    page.get_by_label("A topic, in your words or the jargon").fill("who is the")
    page.get_by_role("button", name="Find people").click()
    page.wait_for_url(re.compile(r"/experts\?q=who"))
    assert "names a topic" in page.locator("main").inner_text()
    assert page.errors == []
