"""Starting a discussion in a real Chromium: the community's link, the form, a file, the new thread.

The demo's reader (Riley) may post in Engineering; the thread started here is
found on the community page afterwards, and the form passes the axe check.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import Server, axe_page, serious_violations
from tests.support.paths import BROWSER_CACHE

pytestmark = pytest.mark.browser

# No pipeline worker: the request files the post itself (bridge/posting.py), as for replies
# in tests/web/browser/test_reading.py.
SERVE_ROLES = ("web", "sender")
SUBJECT = "Office plants: who waters them in December?"


def test_start_a_discussion_and_find_it_on_the_community_page(
    page: Any, server: Server, tmp_path: Path
) -> None:
    notes = tmp_path / "rota.txt"
    notes.write_text("Week 1: Riley\nWeek 2: anyone?\n")
    page.goto(server.url + "/c/engineering")
    page.get_by_role("link", name="New discussion").click()
    page.wait_for_url(server.url + "/c/engineering/new")
    # An empty subject is refused by the browser before anything is sent.
    page.get_by_label("Message").fill("The plants by the window need a rota.")
    page.get_by_role("button", name="Start discussion").click()
    assert page.url == server.url + "/c/engineering/new"
    page.get_by_label("Subject").fill(SUBJECT)
    page.get_by_label("Attachments (optional)").set_input_files(str(notes))
    page.get_by_role("button", name="Start discussion").click()
    page.wait_for_url(re.compile(r"/t/\d+#m\d+$"))
    assert page.get_by_role("heading", level=1).inner_text() == SUBJECT
    message = page.locator("li.message")
    assert message.count() == 1
    assert "The plants by the window need a rota." in message.first.inner_text()
    assert page.get_by_role("link", name=re.compile("rota.txt")).count() >= 1

    page.goto(server.url + "/c/engineering")
    row = page.locator(".thread-row").filter(has_text=SUBJECT)
    assert row.count() == 1
    assert "started on the web" in row.inner_text()
    assert page.errors == []
    assert page.traffic.remote == []


def test_new_discussion_form_has_no_serious_accessibility_violations(
    chromium: Any, server: Server
) -> None:
    with axe_page(chromium, server, BROWSER_CACHE) as (page, source):
        page.goto(server.url + "/c/engineering/new")
        assert page.get_by_role("heading", name="New discussion").is_visible()
        assert serious_violations(page, source) == []
        # The refused form, with its error, passes too.
        page.get_by_label("Subject").fill("   ")
        page.get_by_label("Message").fill("Only spaces above.")
        page.get_by_role("button", name="Start discussion").click()
        page.wait_for_load_state()
        assert page.get_by_role("alert").inner_text() == "The subject is empty."
        assert serious_violations(page, source) == []
