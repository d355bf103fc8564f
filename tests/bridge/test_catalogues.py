"""The shipped gettext catalogues: complete, current with the code, safe, and compilable.

Every language in bridge/i18n.py LOCALES has a .po file in which every string the
code and templates mark is translated (no empty or fuzzy entry), with the same
%(name)s placeholders as its source and no markup of its own. The template
catalogue is re-extracted here, so a string marked in the code but not yet carried
into the catalogues (`make translations`) fails this test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from bridge.i18n import CATALOGUES, LOCALES, SOURCE, gettext_for, ngettext_for, translations

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [code for code in LOCALES if code != SOURCE]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# Any % that is not a %(name)s placeholder or an escaped %%: newstyle gettext formats
# every string, so a stray % in a translation would break its page.
STRAY_PERCENT = re.compile(r"%(?!\(\w+\)s|%)")


def catalogue(code: str) -> Catalog:
    with (CATALOGUES / code / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=code)


def entries(cat: Catalog) -> list[Message]:
    return [m for m in cat if m.id]


def sources(message: Message) -> tuple[str, ...]:
    return (message.id,) if isinstance(message.id, str) else tuple(message.id)


def forms(message: Message) -> tuple[str, ...]:
    return (message.string,) if isinstance(message.string, str) else tuple(message.string)


def extracted(tmp_path: Path) -> set[str]:
    """The msgids `make translations` would extract from the code and templates now."""
    out = tmp_path / "now.pot"
    command = [sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-k", "N_"]
    subprocess.run(
        [*command, "-F", str(CATALOGUES / "babel.cfg"), "--no-location", "-o", str(out), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with out.open("rb") as pot:
        return {sources(m)[0] for m in entries(read_po(pot))}


def test_the_template_catalogue_is_current_with_the_code(tmp_path: Path) -> None:
    """Every marked string is in messages.pot, and nothing unmarked lingers there."""
    with (CATALOGUES / "messages.pot").open("rb") as pot:
        kept = {sources(m)[0] for m in entries(read_po(pot))}
    now = extracted(tmp_path)
    assert sorted(now - kept) == [], "run `make translations`: new strings are not extracted"
    assert sorted(kept - now) == [], "run `make translations`: strings gone from the code"
    assert len(now) > 400  # the pages' strings are marked, not just a handful


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_string_is_translated_and_none_is_fuzzy(code: str) -> None:
    """Each language has a non-empty msgstr (every plural form) for every template msgid."""
    with (CATALOGUES / "messages.pot").open("rb") as pot:
        wanted = {sources(m)[0] for m in entries(read_po(pot))}
    cat = catalogue(code)
    have = {sources(m)[0]: m for m in entries(cat)}
    assert sorted(wanted - set(have)) == []
    missing = [m.id for m in have.values() if not all(f.strip() for f in forms(m))]
    fuzzy = [m.id for m in have.values() if m.fuzzy]
    assert (missing, fuzzy) == ([], [])
    assert cat.num_plurals == len(forms(next(m for m in have.values() if m.pluralizable)))


@pytest.mark.parametrize("code", TRANSLATED)
def test_placeholders_match_and_translations_carry_no_markup(code: str) -> None:
    """A translation names exactly its source's %(name)s values and adds no HTML or stray %."""
    problems = []
    for m in entries(catalogue(code)):
        want = set(PLACEHOLDER.findall(sources(m)[-1]))
        for form in forms(m):
            got = set(PLACEHOLDER.findall(form))
            # A plural form may leave the count out ("one" is spelled as a word in some
            # languages); it may never name a value its source does not have.
            ok = got == want or (m.pluralizable and got <= want and "num" not in got)
            if not ok or STRAY_PERCENT.search(form) or re.search(r"[<>]", form):
                problems.append((m.id, form))
    assert problems == []


@pytest.mark.parametrize("code", TRANSLATED)
def test_each_catalogue_compiles_and_translates(code: str) -> None:
    """The .po compiles in memory (as at start-up) and answers a page's strings."""
    translations.cache_clear()
    assert gettext_for(code)("Log in") != "Log in"
    assert ngettext_for(code)("%(num)s thread", "%(num)s threads", 3) != "%(num)s threads"


def test_english_and_unknown_codes_are_the_source_strings() -> None:
    """English is the source; an unknown or hostile code falls back to it, never fails."""
    for code in ("en", None, "xx", "../../etc/passwd", "de\x00"):
        assert gettext_for(code)("Log in") == "Log in"
