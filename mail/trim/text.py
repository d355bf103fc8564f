"""Offsets and lines: the small scanning tools the trimmer's parts share."""

from __future__ import annotations

import re
from collections.abc import Iterator


def alternation(table: str) -> str:
    """A regex alternation of the phrases in a table: one language a line, "|" between
    phrases, longest first, a space matching any run of blanks."""
    phrases = {p.strip() for line in table.strip().splitlines() for p in line.split("|")}
    ordered = sorted(phrases - {""}, key=len, reverse=True)
    return "|".join(re.escape(phrase).replace(r"\ ", r"[ \t\xa0]+") for phrase in ordered)


def phrases(table: str) -> list[str]:
    return [p.strip() for line in table.strip().splitlines() for p in line.split("|") if p.strip()]


# What kernel and list mail write for a cut in a quote: "[...]", "<snip>".
_SNIP = re.compile(
    r"[ \t]*(?=[^\n]*(?:\.\.\.|…|snip|cut))[\[<(]?[ \t]*(?:\.{3,}|…)?[ \t]*"
    r"(?:snip(?:ped)?|cut)?[ \t]*(?:\.{3,}|…)?[ \t]*[\]>)]?[ \t]*",
    re.I,
)


_LEADING_BLANK_LINES = re.compile(r"(?:[ \t]*\n)+")


def clean(part: str) -> str:
    """Drop leading and trailing blank lines, keep the first line's indentation."""
    part = part.rstrip()
    blank = _LEADING_BLANK_LINES.match(part)
    return part[blank.end() :] if blank else part


# The first line of a quote block: ">" then a blank, another ">" or the line's end, or
# a ">text" line with another quote line under it. Not a lone ">:" (the end of an
# attribution wrapped inside "<address>") and not a line a client wrapped at a ">" in
# the author's own text ("(a>" / ">8));").
_QUOTE_LINE = re.compile(r"\n *>(?![ \t]*[:：][ \t]*(?:\n|\Z))(?:[ \t>]|(?=\n|\Z)|[^\n]*\n *>)")
# Any quote line (at the start of the text, or after a newline).
QUOTE_START = re.compile(r"(?:^|\n) *>")
# A line that is neither blank nor a quote.
TEXT_LINE = re.compile(r"\n(?![ \t]*(?:\n|\Z)| *>)")


def first_quote_line(text: str) -> int | None:
    """Start of the first quote line."""
    found = _QUOTE_LINE.match("\n" + text[:400])
    if found is not None:
        return 0
    found = _QUOTE_LINE.search(text)
    return None if found is None else found.start() + 1


_NON_SPACE = re.compile(r"\S")


def has_text(text: str, end: int) -> bool:
    """Whether text[:end] has a non-blank character (found without copying the text)."""
    return _NON_SPACE.search(text, 0, end) is not None


def is_quote(line: str) -> bool:
    return line.lstrip(" ")[:1] == ">"


def line_at(text: str, start: int) -> str:
    end = text.find("\n", start)
    return text[start:] if end < 0 else text[start:end]


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end < 0 else end


def lines_up(text: str, end: int) -> Iterator[tuple[int, str]]:
    """(start, line) for the line ending at `end` and each line above it."""
    while end >= 0:
        start = text.rfind("\n", 0, end) + 1
        yield start, text[start:end]
        end = start - 1


def next_text_line(
    text: str, start: int, limit: int, skip_snips: bool = False
) -> tuple[int, str] | None:
    """(start, line) of the first non-blank line at or after `start` and before `limit`
    (also passing over "[...]"-style snip marks when asked)."""
    while start < limit:
        end = min(_line_end(text, start), limit)
        line = text[start:end]
        if line.strip() and not (skip_snips and _SNIP.fullmatch(line)):
            return start, line
        start = end + 1
    return None
