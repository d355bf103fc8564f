"""Attribution lines ("On <date>, <name> wrote:"), in many languages and wrapped over
up to three lines: found, and judged by how surely they are one."""

from __future__ import annotations

import re

from mail.trim import words
from mail.trim.text import alternation, has_text, is_quote, lines_up, next_text_line, phrases

_MAX_ATTRIBUTION = 300  # characters; longer "lines ending in a colon" are prose

_CJK_VERB = re.compile(alternation(words.CJK_VERB_TABLE))
_CJK_VERBS = tuple(phrases(words.CJK_VERB_TABLE))
# Verbs are recognised by their last word, with a set lookup: most lines that end in a
# colon are code labels or prose, and a regex alternation would try every position.
_FINAL_VERBS = frozenset(verb.rsplit(None, 1)[-1] for verb in phrases(words.VERB_TABLE))
# "sent" counts only as the last word: "On Monday, Ben sent:" but not "I sent it to".
_MIDDLE_VERBS = _FINAL_VERBS - {"sent"}
# Android and Zoho frame the attribution in dashes and drop the colon: "---- Ben wrote ----".
_FRAMED = re.compile(r"[ \t]*-{2,}.*-{2,}[ \t]*")
# Lines that may end an attribution: a colon, or "wrote" without one (webmail). Each
# pattern starts with a literal, which the regex engine finds fast.
_LINE_ENDS = (
    re.compile(r":[ \t]*(?=\n|\Z)"),
    re.compile(r"：[ \t]*(?=\n|\Z)"),
    re.compile(r"wrote[ \t\-]*(?=\n|\Z)"),
)
_ATTRIBUTION_INTRO = re.compile(rf"(?:{alternation(words.INTRO_TABLE)})[\s,]", re.I)
# An intro word after a space or a dash rule inside a line; the match starts at the rule.
_INLINE_INTRO = re.compile(r"(?:-{2,}[ \t]*|(?<=[ \t]))(?=(?:on|am|le|el|il|em|op)[ \t])", re.I)
# The domain after an "@" (found with str.find: a pattern starting with a character class
# would be tried, and backtrack, at every position).
_DOMAIN = re.compile(r"[\w-]+(?:\.[\w-]+)+")
# "... Name <name@example.com>:" (Gmail in many locales, with no verb at all).
_ADDRESS_COLON = re.compile(r"[>)\]][\"' \t]*[:：][ \t]*$")
# Runs of digits, read by _date_parts: "09:00" or "9.00" or "09h00" is a time; "2026" or
# "2026年" a year; "3月" a month.
_DIGITS = re.compile(r"\d+(?:[:.h]\d+)?[年년月월]?")
# A "Label: value" trailer or a list item: text, not the start of a wrapped attribution.
_NOT_ATTRIBUTION_START = re.compile(r"[ \t]*(?:[\w-]+:[ \t]|[-*+•][ \t])")
WRAPPED_ADDRESS_END = re.compile(r">[ \t]*[:：][ \t]*")
# Mutt's default attribution: "* Alice <alice@example.org> [2024-01-02 10:00]:".
_MUTT_ATTRIBUTION = re.compile(r"\* .+ \[[^\]]+\]:")
_SENTENCE_END = re.compile(r"[.!?;:。！？]\s*$")
_WEAK, _STRONG = 1, 2


def line_ends(text: str, end: int) -> list[tuple[int, int]]:
    """(start, end) of the lines before `end` that end in a colon or "wrote", in order:
    where attributions and forward announcements may be."""
    found = sorted(
        match.end()
        for pattern in _LINE_ENDS
        if pattern.pattern[0] in text
        for match in pattern.finditer(text, 0, end)
    )
    return [(text.rfind("\n", 0, line_end) + 1, line_end) for line_end in found]


def first_attribution(text: str, limit: int, ends: list[tuple[int, int]]) -> int | None:
    """Start of the first strong attribution followed by unquoted text (top-posting without
    ">" marks), with author text above it."""
    for line_start, end in ends:
        if end > limit:
            break
        line = text[line_start:end]
        if (is_quote(line) and not WRAPPED_ADDRESS_END.fullmatch(line)) or not (
            _ends_in_verb(line) or _ADDRESS_COLON.search(line[-8:])
        ):
            continue
        found = attribution_at(text, line_start, end)
        if found is None or found[1] < _STRONG or not has_text(text, found[0]):
            continue
        following = next_text_line(text, end + 1, limit, skip_snips=True)
        if following is not None and not is_quote(following[1]):
            return found[0]
    return None


def _ends_in_verb(line: str) -> bool:
    """Whether the line's last word, before its colon, is an attribution verb."""
    stripped = line.rstrip(" \t:：-")
    if stripped.endswith(_CJK_VERBS):
        return True
    words = stripped.rsplit(None, 1)
    return bool(words) and _verb_word(words[-1].lower()) in _FINAL_VERBS


def _verb_word(word: str) -> str:
    """A word as the verb tables spell it: Czech, Slovak and Polish add "(a)" for either
    gender ("napsal(a)"), Russian "(а)"."""
    return word[:-3] if word.endswith(("(a)", "(а)")) else word


def attribution_at(text: str, line_start: int, line_end: int) -> tuple[int, int] | None:
    """(start, strength) of an attribution whose last line is text[line_start:line_end].

    Clients wrap long attributions over two or three lines ("On Mon, ... Ben
    Ortiz <" / "ben@example.org> wrote:"). The start is the first line of the
    longest run that begins like one ("On ...", "Am ...") or, failing that,
    the run extended upwards over lines that carry a date or an address.
    """
    lines = [(line_start, text[line_start:line_end])]
    for start, line in lines_up(text, line_start - 1):
        if len(lines) == 3 or not line.strip() or is_quote(line):
            break
        lines.insert(0, (start, line))
    framed = _FRAMED.fullmatch(lines[-1][1]) is not None
    for count in range(len(lines), 0, -1):
        chunk = _joined(lines[-count:])
        if _ATTRIBUTION_INTRO.match(chunk):
            strength = _strength(chunk, framed)
            if strength:
                return lines[-count][0], strength
    inline = _inline_attribution(*lines[-1])
    if inline is not None:
        return inline, _STRONG
    count = 1
    while count < len(lines):
        above = lines[-count - 1][1]
        if (
            _SENTENCE_END.search(above)
            or _NOT_ATTRIBUTION_START.match(above)
            or not ("@" in above or any(_date_parts(above)))
        ):
            break
        count += 1
    for size in (count, 1) if count > 1 else (1,):
        strength = _strength(_joined(lines[-size:]), framed)
        if strength:
            return lines[-size][0], strength
    return None


def _inline_attribution(start: int, line: str) -> int | None:
    """Where an attribution starts inside a line, after the reply ("Thanks On Mon, Mar 2,
    2026 at 9:00 AM, Ben <ben@example.com> wrote:"): clients that flatten HTML join them.
    Only a full one counts here: a verb at the end, an address, a year and a time."""
    for match in _INLINE_INTRO.finditer(line, 1):
        rest = line[match.end() :]
        time, year = _date_parts(rest)
        if time and year and _has_address(rest) and _ends_in_verb(rest):
            return start + match.start()
    return None


def _joined(lines: list[tuple[int, str]]) -> str:
    joined = " ".join(line.strip() for _, line in lines).replace("\xa0", " ")
    return joined.strip("- \t")


def _strength(chunk: str, framed: bool = False) -> int:
    """How surely a (joined) line is an attribution: 0 not, _WEAK above quotes only, _STRONG."""
    if len(chunk) > _MAX_ATTRIBUTION:
        return 0
    if chunk.startswith("* ") and _MUTT_ATTRIBUTION.fullmatch(chunk):
        return _STRONG
    colon = chunk.endswith((":", "："))
    verb_last = _ends_in_verb(chunk)
    address = _has_address(chunk)
    if not colon and not framed and not verb_last:
        # Old Gmail: "2011/4/7 Ben Ortiz <ben@example.org>" with no colon, right above quotes.
        return _WEAK if address and chunk.endswith(">") and any(_date_parts(chunk)) else 0
    if verb_last or _has_verb(chunk):
        intro = _ATTRIBUTION_INTRO.match(chunk) is not None
        if address or (intro and "," in chunk):
            return _STRONG
        # Dates are read only now: most attributions carry an address.
        dated = any(_date_parts(chunk))
        if not colon and not framed and not dated:
            return 0  # "On Monday I wrote" ending a wrapped sentence
        cjk = not chunk.isascii() and _CJK_VERB.search(chunk) is not None
        if (intro or cjk) and dated:
            return _STRONG
        return _WEAK if intro or framed or len(chunk) < 150 else 0
    if colon and address:
        # "2017-11-24 16:32 GMT+01:00 Ben Ortiz <ben@example.org>:" (Gmail in many locales):
        # a time, a year and an address just before the colon. In a language whose verb
        # we do not know, only above a quote block.
        time, year = _date_parts(chunk)
        if time and year and _ADDRESS_COLON.search(chunk[-8:]):
            return _STRONG
        return _WEAK if time or year else 0
    return 0


def _has_address(chunk: str) -> bool:
    at = chunk.find("@")
    while at > 0:
        before = chunk[at - 1]
        if (before.isalnum() or before in "._+-") and _DOMAIN.match(chunk, at + 1):
            return True
        at = chunk.find("@", at + 1)
    return False


def _date_parts(chunk: str) -> tuple[bool, bool]:
    """(has a time, has a year or a CJK date)."""
    time = year = False
    for match in _DIGITS.finditer(chunk):
        token = match.group()
        if token[-1] in "年년月월":
            year = True
        elif token.isdigit():
            year = year or (len(token) == 4 and token[:2] in ("19", "20"))
        else:
            hours, minutes = re.split(r"[:.h]", token, maxsplit=1)
            time = time or (len(hours) <= 2 and len(minutes) == 2)
    return time, year


def _has_verb(chunk: str) -> bool:
    """An attribution verb anywhere in the chunk, by its words ("schrieb Ben <ben@...>:")."""
    if not chunk.isascii() and _CJK_VERB.search(chunk):
        return True
    return any(
        _verb_word(word.strip(",.:;：!?\"'")) in _MIDDLE_VERBS for word in chunk.lower().split()
    )
