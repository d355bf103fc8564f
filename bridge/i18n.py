"""The languages the bridge speaks: which ones, how a reader's wish is matched, the catalogues.

The interface is written in English (the catalogues' source language) and
translated through gettext catalogues kept in bridge/translations/<code>/LC_MESSAGES/
messages.po. Only the .po files are in the repository: each is compiled in memory
the first time its language is asked for, so a fresh clone runs without a build
step and no compiled file can fall behind its source (`make translations`
re-extracts the strings and updates the catalogues).

Locale codes are Babel's (`zh_Hans`); HTML and HTTP write the same language as a
BCP 47 tag (`zh-Hans`). Whatever a browser, a cookie or a stored row says is
matched against `LOCALES` and nothing else is ever used or echoed, so a hostile
Accept-Language header or cookie can only fall back to English.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cache
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.core import negotiate_locale
from babel.dates import format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

SOURCE = "en"  # the language the strings are written in
LOCALES = ("en", "de", "fr", "es", "ja", "zh_Hans")
CATALOGUES = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"

# A language tag as RFC 5646 spells it, loosely: letters, then subtags. Anything
# else in an Accept-Language header (or a cookie) is skipped, never interpreted.
_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,4}")
_QUALITY = re.compile(r"\s*q\s*=\s*(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\s*")
MAX_HEADER = 1000  # characters of Accept-Language read; browsers send well under 100
MAX_RANGES = 25  # language ranges read from it
_TRADITIONAL_REGIONS = {"tw", "hk", "mo"}  # Chinese written in Traditional characters
# The `when` filter's lengths: CLDR skeletons (a date, a time) that each locale orders
# and spells itself, joined by the locale's own date-time pattern.
SKELETONS: dict[str, tuple[str, str | None]] = {
    "minutes": ("yMMMd", "Hm"),
    "seconds": ("yMMMd", "Hms"),
    "date": ("yMMMd", None),
    "weekday": ("yMMMEd", None),
    "day": ("MMMd", None),  # a chart's axis: the year is in the title
}


def html_tag(code: str) -> str:
    """The BCP 47 tag of a locale code, for `<html lang>` and Content-Language."""
    return code.replace("_", "-")


AVAILABLE_TAGS = {html_tag(code).lower(): code for code in LOCALES}


def known(value: str | None) -> str | None:
    """`value` if it names a shipped locale (code or tag, any case); otherwise None."""
    if not value or len(value) > 16:
        return None
    return AVAILABLE_TAGS.get(value.replace("_", "-").lower())


def preferred_languages(header: str | None) -> list[str]:
    """The language tags of an Accept-Language header, most wanted first (q=0 dropped).

    Malformed ranges and parameters are skipped; equal weights keep the header's order.
    """
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header[:MAX_HEADER].split(",")[:MAX_RANGES]):
        tag, _, params = part.partition(";")
        tag = tag.strip()
        if not _TAG.fullmatch(tag):
            continue  # "*", garbage, or markup: no language to match
        weight = 1.0
        if params:
            quality = _QUALITY.fullmatch(params)
            if quality is None:
                continue
            weight = float(quality.group(1))
        if weight > 0:
            ranked.append((-weight, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def _simplified_chinese(tag: str) -> str | None:
    """zh, zh-CN, zh-SG, zh-Hans-…: our Simplified catalogue; Traditional Chinese: None."""
    subtags = tag.lower().split("-")
    if "hant" in subtags or (len(subtags) > 1 and subtags[1] in _TRADITIONAL_REGIONS):
        return None  # not to be answered in Simplified: the next preference decides
    return "zh-Hans"


def negotiate(preferred: Iterable[str]) -> str | None:
    """The shipped locale best matching the tags a reader prefers, in order; None if none."""
    candidates: list[str] = []
    for tag in preferred:
        if tag.lower().split("-")[0] == "zh":
            simplified = _simplified_chinese(tag)
            if simplified is not None:
                candidates.append(simplified)
        else:
            candidates.append(tag)
    # Exact tags first, then a regional tag's language (de-AT → de), in preference order.
    found = negotiate_locale(candidates, list(AVAILABLE_TAGS), sep="-", aliases={})
    return known(found)


@cache
def translations(code: str) -> gettext.NullTranslations:
    """The compiled catalogue of a shipped locale (the source language translates to itself)."""
    if code == SOURCE or code not in LOCALES:
        return gettext.NullTranslations()
    with (CATALOGUES / code / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalogue = read_po(po, locale=code)
    compiled = BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)  # a fuzzy entry is not a translation
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def gettext_for(code: str | None) -> Callable[[str], str]:
    """`gettext` in a locale (English for None or an unknown code)."""
    return translations(known(code) or SOURCE).gettext


def ngettext_for(code: str | None) -> Callable[[str, str, int], str]:
    return translations(known(code) or SOURCE).ngettext


def N_(message: str) -> str:
    """Marks a string for extraction; it is translated where it is shown."""
    return message


@cache
def babel_locale(code: str) -> Locale:
    return Locale.parse(code)


def text_direction(code: str) -> str:
    """ "ltr" or "rtl", as CLDR writes the locale (none of the shipped ones is rtl yet)."""
    return babel_locale(code).text_direction


def language_name(code: str) -> str:
    """A locale's own name for itself ("Deutsch", "日本語"), for the language switch."""
    name = babel_locale(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def format_when(value: datetime, code: str, style: str = "minutes") -> str:
    """A date and time (UTC, as the archive stores it) the way the locale writes it."""
    day, time = SKELETONS.get(style, SKELETONS["minutes"])
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    locale = babel_locale(code)
    written = format_skeleton(day, aware, tzinfo=UTC, locale=locale)
    if time is None:
        return written
    clock = format_skeleton(time, aware, tzinfo=UTC, locale=locale)
    pattern = str(locale.datetime_formats["medium"])
    return pattern.replace("{1}", written).replace("{0}", clock)


def format_number(value: float, code: str) -> str:
    """A count or size with the locale's digit grouping and decimal sign."""
    return format_decimal(value, locale=babel_locale(code))


def format_share(value: float, code: str) -> str:
    """A share (0.5) as the locale writes a percentage ("50%", "50 %")."""
    return format_percent(value, locale=babel_locale(code))
