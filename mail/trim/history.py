"""Top-posting: where the quoted history starts (rule markers, Outlook header blocks,
phone footers) and where forwarded content starts."""

from __future__ import annotations

import re

from mail.trim import words
from mail.trim.attribution import first_attribution
from mail.trim.footers import CJK_FOOTER_ANYWHERE, FOOTER_ANYWHERE, FOOTER_REACH
from mail.trim.signature import LOOSE_SIG_DELIMITERS
from mail.trim.text import alternation, has_text, is_quote, lines_up, next_text_line

# --- markers that start a line --------------------------------------------------------
#
# Speed matters here: the regex engine finds a pattern that starts with a literal
# character by a fast scan, but tries an alternation or a non-ASCII class at every
# position (ten times slower on long list mail). So each scanning pattern below starts
# with "\n" (the first line of a text is checked on its own where it matters) or a
# literal, and most vocabulary is applied only to the few lines such a scan finds.

_RULE_MARKER = re.compile(
    rf"[ \t]*-{{2,}}[ \t]*(?:(?P<forward>{alternation(words.FORWARD_RULES)})"
    rf"|(?P<original>{alternation(words.ORIGINAL_RULES)}))[ \t]*-{{2,}}[ \t]*(?=\n|\Z)",
    re.I,
)
_FORWARD_INTRO = re.compile(
    rf"[ \t]*(?:{alternation(words.FORWARD_INTROS)})[ \t\xa0]*[:：][ \t]*", re.I
)
_FROM_LABELS = alternation(words.FROM_FIELDS)
# Lines that may start a rule marker (patches are full of "-" lines: only "--" lines that
# go on with a word) or a header block's From field (checked by _header_block_start).
# The lookahead on the first character lets most lines fail at once.
_LINE_START = re.compile(
    r"\n[ \t]*(?=[-*_fFvVdDoOkKlLåÅ\u0400-\u04ff\u3000-\u9fff\uac00-\ud7af])"
    r"(?:(?P<rule>--+[ \t]*[^\W\d_])"
    rf"|(?P<from>[*_]{{0,2}}(?:{_FROM_LABELS})[*_]{{0,2}}[ \t\xa0]*[:：]))",
    re.I,
)

# --- Outlook-style header blocks ------------------------------------------------------

# One field of a header block. Outlook translates the labels; Yahoo and Outlook web
# put a space before the colon, Gmail's HTML makes them bold ("*From:*").
_HEADER_FIELD = re.compile(
    rf"[ \t]*[*_]{{0,2}}(?:(?P<from>{_FROM_LABELS})|(?P<date>{alternation(words.DATE_FIELDS)})"
    rf"|(?P<to>{alternation(words.TO_FIELDS)})|(?P<cc>{alternation(words.CC_FIELDS)})"
    rf"|(?P<subject>{alternation(words.SUBJECT_FIELDS)}))[*_]{{0,2}}[ \t\xa0]*[:：]",
    re.I,
)
_HEADER_WINDOW = 14  # lines: four to six fields, some wrapped
# An Outlook rule line: "-----Original Message-----" and the like, or "________".
_OUTLOOK_RULE = re.compile(r"\n[ \t]*(?:-{2,}[ \t]*[^\W\d_][^\n]*-{2,}|_{10,})[ \t]*(?=\n|\Z)")
# A rule that sets off quoted history: Outlook's "____", "====", "----".
_RULE = re.compile(r"[ \t]*(?:[-_=*~]{2,}|—+)[ \t]*")


def line_starts(text: str, end: int) -> tuple[list[tuple[int, str]], list[int]]:
    """The rule markers before `end` as (line start, "forward" or "original"), and the
    starts of the lines that open like a header block's From field. One scan finds both."""
    rules = []
    from_lines = []
    starts = [(0, "rule")] if text.lstrip(" \t").startswith("--") else []
    starts += [
        (match.start() + 1, match.lastgroup or "") for match in _LINE_START.finditer(text, 0, end)
    ]
    for start, kind in starts:
        if kind == "from":
            from_lines.append(start)
            continue
        rule = _RULE_MARKER.match(text, start, end)
        if rule is not None:
            rules.append((start, rule.lastgroup or ""))
    return rules, from_lines


def forward_start(text: str, ends: list[tuple[int, int]], rules: list[tuple[int, str]]) -> int:
    """Where forwarded content starts (a rule or an announcing line), or len(text)."""
    start = next((line for line, kind in rules if kind == "forward"), len(text))
    for line_start, line_end in ends:
        if line_start >= start:
            break
        if line_end - line_start < 80 and _FORWARD_INTRO.fullmatch(text, line_start, line_end):
            return line_start
    return start


# --- top-posting: where the history starts ------------------------------------------------


def history_start(
    text: str,
    limit: int,
    ends: list[tuple[int, int]],
    rules: list[tuple[int, str]],
    from_lines: list[int],
) -> int | None:
    """Offset of the first history marker before `limit` that has the author's text above it."""
    marker = _first_marker(text, limit, rules, from_lines)
    attribution = first_attribution(text, limit if marker is None else marker, ends)
    return attribution if attribution is not None else marker


def _first_marker(
    text: str, limit: int, rules: list[tuple[int, str]], from_lines: list[int]
) -> int | None:
    """The first "-----Original Message-----" rule, header block or phone footer before
    `limit` with text above it. The first line is never one: nothing is above it."""
    best = next(
        (
            line
            for line, kind in rules
            if kind == "original" and line < limit and has_text(text, line)
        ),
        None,
    )
    end = limit if best is None else best
    for line in from_lines:
        if line >= end:
            break
        start = _header_block_start(text, line)
        if start is not None and has_text(text, start):
            best = end = start
            break
    reach = min(end, FOOTER_REACH)
    footers = [FOOTER_ANYWHERE] if text.isascii() else [FOOTER_ANYWHERE, CJK_FOOTER_ANYWHERE]
    for pattern in footers:
        for match in pattern.finditer(text, 0, reach):
            start = _after_footer(text, match.end(), limit)
            if start is not None and has_text(text, match.start()):
                return start
    return best


def outlook_history_start(text: str, start: int, end: int) -> int | None:
    """Outlook's quoted original between `start` and `end`, below quote lines.

    Outlook users answer inline at the top and Outlook still appends the whole
    original under a "-----Original Message-----" line or a "____" rule and a
    header block. Those two are looked for below the first quote line too; a bare
    header block is not, since that is how an inline patch starts ("From:",
    "Date:", "Subject: [PATCH]").
    """
    for match in _OUTLOOK_RULE.finditer(text, start, end):
        line = match.start() + 1
        if _RULE_MARKER.match(text, line, end) is not None:
            return line
        following = next_text_line(text, match.end() + 1, end)
        if following is not None and _HEADER_FIELD.match(following[1]):
            block = _header_block_start(text, following[0])
            if block == line:
                return line
    return None


def _after_footer(text: str, end: int, limit: int) -> int | None:
    """Where history starts under a phone footer: the next text, unless it is a quote block
    (left to the bottom-posting rules in split.py) or a signature."""
    following = next_text_line(text, end + 1, limit)
    if following is None:
        return None
    start, line = following
    if is_quote(line) or line.rstrip() in LOOSE_SIG_DELIMITERS:
        return None
    return start


def _header_block_start(text: str, start: int) -> int | None:
    """Start of an Outlook-style header block whose From line is at `start`, or None.

    A block is From plus at least two of Sent/Date, To and Subject (one suffices
    under a rule), each field on its own line; a long value may wrap onto up to
    two more lines. Fields just above the From line (Hotmail puts Date first)
    and a rule above the block belong to it.
    """
    kinds: set[str] = set()
    wrapped = 0
    for line in text[start : start + 3000].split("\n", _HEADER_WINDOW)[:_HEADER_WINDOW]:
        if not line.strip():
            break
        field = _HEADER_FIELD.match(line)
        if field is None:
            wrapped += 1
            if wrapped > 2:
                break
            continue
        wrapped = 0
        kinds.add(field.lastgroup or "")
    if "from" not in kinds:
        return None
    top = start
    for line_start, line in lines_up(text, start - 1):
        field = _HEADER_FIELD.match(line)
        if field is None or not line.strip():
            break
        kinds.add(field.lastgroup or "")
        top = line_start
    found = len(kinds & {"date", "to", "subject"})
    above = _rule_above(text, top)
    if found >= 2 or (found == 1 and above != top):
        return above
    return None


def _rule_above(text: str, start: int) -> int:
    """Include a rule line ("_____", "-----Original Message-----") just above `start`, blank
    lines between allowed."""
    for line_start, line in lines_up(text, start - 1):
        if line.strip():
            return line_start if _RULE.fullmatch(line) or _RULE_MARKER.fullmatch(line) else start
    return start


def is_header_block(text: str) -> bool:
    """Whether the text is one header block and nothing else, perhaps under a rule."""
    lines = text.strip().split("\n")
    if len(lines) > _HEADER_WINDOW + 1:
        return False
    if _RULE.fullmatch(lines[0]) or _RULE_MARKER.fullmatch(lines[0]):
        lines = lines[1:]
    kinds: set[str] = set()
    wrapped = 0
    for line in lines:
        field = _HEADER_FIELD.match(line)
        if field is not None:
            kinds.add(field.lastgroup or "")
            wrapped = 0
        elif not line.strip() or wrapped == 2:
            return False
        else:
            wrapped += 1
    return "from" in kinds and len(kinds & {"date", "to", "subject"}) >= 2
