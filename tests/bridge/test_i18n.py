"""Choosing a language from what a browser says, and writing dates and numbers in it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge import i18n
from bridge.i18n import LOCALES, known, negotiate, preferred_languages


def choose(header: str | None) -> str | None:
    return negotiate(preferred_languages(header))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "de"),  # Chrome in Germany
        ("ja,en-US;q=0.9,en;q=0.8", "ja"),
        ("fr-CA", "fr"),  # a regional tag falls back to its language
        ("es-419,es;q=0.9", "es"),
        ("zh-CN,zh;q=0.9", "zh_Hans"),
        ("zh-Hans-SG", "zh_Hans"),
        ("zh", "zh_Hans"),
        ("en-GB,en;q=0.9", "en"),
        ("pt-BR, de;q=0.5", "de"),  # the first language we speak, in the reader's order
        ("en;q=0.2, fr;q=0.9", "fr"),  # weights decide, not the header's order
        ("de;q=0, fr;q=0.1", "fr"),  # q=0 means "not this one"
    ],
)
def test_browsers_get_the_language_they_ask_for(header: str, expected: str) -> None:
    """Real Accept-Language headers pick the shipped locale a reader would expect."""
    assert choose(header) == expected


def test_traditional_chinese_is_not_answered_in_simplified() -> None:
    """zh-TW, zh-HK and zh-Hant readers get their next preference, not Simplified."""
    assert choose("zh-TW,zh;q=0.9") == "zh_Hans"  # they also said plain zh
    assert choose("zh-TW") is None
    assert choose("zh-Hant-HK, ja;q=0.5") == "ja"


@pytest.mark.parametrize(
    "header",
    [
        "",
        None,
        "*",
        "xx-YY",
        "<script>alert(1)</script>",
        "de;q=2",  # out of range: the range is skipped, not clamped
        "de;q=abc",
        "de;level=1",
        ";;;,,,;q=",
        "de-" + "a" * 5000,
        ",".join(["xx"] * 10_000) + ",de",  # past the ranges read: not reached
        "\x00de",
        "ja\r\nSet-Cookie: x=1",
    ],
)
def test_junk_headers_fall_back_quietly(header: str | None) -> None:
    """Malformed, hostile or oversized headers give no match (English), never an error."""
    assert choose(header) is None


@given(st.text(max_size=300))
def test_any_header_gives_a_shipped_locale_or_none(header: str) -> None:
    """Whatever a client sends, the answer is one of the shipped locales or None."""
    assert choose(header) in (*LOCALES, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("de", "de"), ("zh-Hans", "zh_Hans"), ("ZH_hans", "zh_Hans"), ("EN", "en")],
)
def test_known_accepts_codes_and_tags(value: str, expected: str) -> None:
    assert known(value) == expected


@pytest.mark.parametrize("value", ["", None, "de-DE", "zh", "pt", "de;", "x" * 100, "../de"])
def test_known_refuses_anything_else(value: str | None) -> None:
    """Cookies and stored values are matched exactly: no partial or path-like names."""
    assert known(value) is None


def test_html_tags_names_and_direction() -> None:
    """`<html lang dir>` values and the switch's labels come from CLDR."""
    assert [i18n.html_tag(c) for c in LOCALES] == ["en", "de", "fr", "es", "ja", "zh-Hans"]
    assert {i18n.text_direction(c) for c in LOCALES} == {"ltr"}
    assert i18n.text_direction("ar") == "rtl"  # ready for a right-to-left catalogue
    assert i18n.language_name("de") == "Deutsch"
    assert i18n.language_name("ja") == "日本語"


def test_dates_and_numbers_follow_the_locale() -> None:
    """The same moment and number, written the way each language writes them."""
    moment = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    assert i18n.format_when(moment, "en") == "Mar 2, 2026, 14:05"
    assert i18n.format_when(moment, "de") == "2. März 2026, 14:05"
    assert i18n.format_when(moment, "ja") == "2026年3月2日 14:05"
    assert i18n.format_when(moment, "fr", "date") == "2 mars 2026"
    assert i18n.format_when(moment.replace(tzinfo=None), "en", "seconds") == "Mar 2, 2026, 14:05:00"
    assert i18n.format_number(1234567, "en") == "1,234,567"
    assert i18n.format_number(1234567, "de") == "1.234.567"
    assert i18n.format_number(1234567, "fr") == "1\u202f234\u202f567"
