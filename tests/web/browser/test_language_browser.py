"""Pages in the reader's language in a real Chromium: a German and a Japanese browser,
the footer's switch clicked, the choice following the person to another browser, and
axe finding nothing serious on the translated pages."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.browser import Server, axe_source, new_context, serious_violations
from tests.support.paths import BROWSER_CACHE

pytestmark = pytest.mark.browser


def open_in(chromium: Any, server: Server, locale: str, path: str, **options: Any) -> Any:
    """A signed-in page whose browser asks for `locale` (Accept-Language), opened at `path`."""
    context, traffic = new_context(chromium, server, locale=locale, **options)
    page = context.new_page()
    page.traffic = traffic
    page.goto(server.url + path)
    return page


def test_a_german_browser_reads_german(chromium: Any, server: Server) -> None:
    """de-DE: the community page is German, dates written the German way."""
    page = open_in(chromium, server, "de-DE", "/c/engineering")
    try:
        assert page.locator("html").get_attribute("lang") == "de"
        assert page.locator("html").get_attribute("dir") == "ltr"
        assert page.get_by_role("button", name="Alle als gelesen markieren").is_visible()
        assert page.get_by_role("link", name="Neue Diskussion").is_visible()
        first = page.locator("ol.threads time").first.inner_text()
        assert re.fullmatch(r"\d{1,2}\. \w+\.? \d{4}, \d{2}:\d{2}", first), first
        assert page.traffic.remote == []
    finally:
        page.context.close()


def test_a_japanese_browser_reads_japanese(chromium: Any, server: Server) -> None:
    """ja-JP: the home page and a thread are Japanese."""
    page = open_in(chromium, server, "ja-JP", "/")
    try:
        assert page.locator("html").get_attribute("lang") == "ja"
        assert page.get_by_role("heading", name="コミュニティ", exact=True).is_visible()
        page.locator("ul.recent a").first.click()
        page.wait_for_url(re.compile(r"/t/\d+"))
        assert page.locator("html").get_attribute("lang") == "ja"
        assert "参加者:" in page.locator("section.participants").inner_text()
    finally:
        page.context.close()


@pytest.mark.parametrize(("locale", "path"), [("de-DE", "/c/engineering"), ("ja-JP", "/")])
def test_translated_pages_have_no_serious_accessibility_violations(
    chromium: Any, server: Server, locale: str, path: str
) -> None:
    """axe-core on the German and Japanese pages, footer switch included."""
    source = axe_source(BROWSER_CACHE)
    if source is None:
        pytest.skip("axe-core could not be fetched from npm")
    # bypass_csp: our own CSP forbids the injected checker, as it should forbid any script.
    page = open_in(chromium, server, locale, path, bypass_csp=True)
    try:
        assert serious_violations(page, source) == []
    finally:
        page.context.close()


def test_the_switch_is_clicked_and_the_choice_follows_the_person(
    chromium: Any, server: Server
) -> None:
    """A Japanese browser picks Deutsch in the footer (no script needed): the same page comes
    back in German, and another browser of the same person opens in German too."""
    page = open_in(chromium, server, "ja-JP", "/c/engineering")
    try:
        page.get_by_label("言語").select_option("de")
        page.get_by_role("button", name="言語を変更").click()
        page.wait_for_url(re.compile(r"/c/engineering$"))
        assert page.locator("html").get_attribute("lang") == "de"
        assert page.get_by_role("button", name="Sprache ändern").is_visible()
    finally:
        page.context.close()
    other = open_in(chromium, server, "ja-JP", "/")  # a fresh browser: no cookie from before
    try:
        assert other.locator("html").get_attribute("lang") == "de"
        other.get_by_label("Sprache").select_option("en")  # back, for the modules after this
        other.get_by_role("button", name="Sprache ändern").click()
        other.wait_for_url(re.compile(r"/$"))
        assert other.locator("html").get_attribute("lang") == "en"
    finally:
        other.context.close()
