"""Signatures without a delimiter, learnt from the same sender's other messages.

Many corporate senders sign with no "-- " line and no closing word the trimmer
knows ("Jane Doe\\nSenior Engineer | ACME\\n+1 555 0100"), and the same block ends
most of their messages. A block is learnt when the same trailing lines (equal
once runs of blanks are made one space) end at least MIN_MESSAGES of the last
messages and more than half of them: three, because two messages ending alike
can be chance (two short replies both ending "Thanks!"), and a majority, because
it makes the learnt block unique (two different blocks cannot both end more than
half the messages) and lets a sender who changed signature switch over as soon as
the new one outnumbers the old.

What is learnt is kept as keys (a hash per line), never as text: whatever is
stored cannot be shown, and a block learnt from mail in a private community
reveals nothing when it trims a message elsewhere; the trimmed lines are that
message's own.

Removal never takes real content: only a suffix equal to the whole learnt block
(a varying line, such as a date or a ticket number, ends a block, since it is
never equal in a majority), only lines of the trailing prose (a quote, a diff,
code or a stack trace ends it, mail/blocks.py), only lines of signature length,
and never every line of a message. A message that taught the block counts only
if it has text above it, so a sender's repeated one-line answer ("+1") is not
taken for a signature.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from mail.blocks import text_blocks

# Fewest messages that must end with the block (and more than half of them must).
MIN_MESSAGES = 3
# How many of a sender's latest messages learning looks at.
WINDOW = 10
# A signature block is a few lines; longer runs of equal lines are content (a
# template the sender fills in) more often than a signature.
MAX_BLOCK_LINES = 12
# Signature lines are short; a long line is a paragraph.
MAX_LINE_CHARS = 160
# Patch trailers ("Acked-by: ...", "Fixes: ...") are content even when a reviewer ends
# most messages with the same one.
_TRAILER = re.compile(r"\s*(?:[A-Z][\w-]*-by|Fixes|Link|Closes|Cc|Bug|Change-Id):\s", re.I)
# How far up the blocks are classified (a few times the longest block, so a quote or
# code block above is seen whole enough); mail with a diff above that is classified
# from the diff's start, since a diff's lines must never read as prose.
_CLASSIFIED_LINES = 40
_DIFF_ABOVE = re.compile(r"^(?:diff --git |@@ -|\+\+\+ )", re.M)


def line_key(line: str) -> str:
    """The key of one line: its words, blanks made one space, hashed."""
    normal = " ".join(line.split())
    return hashlib.sha256(normal.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Tail:
    """What learning keeps of one message: the keys of its last lines that could be a
    signature (bottom line last), and whether any text is above them."""

    keys: tuple[str, ...]
    more_above: bool

    def to_json(self) -> dict[str, object]:
        return {"k": list(self.keys), "a": self.more_above}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Tail:
        keys = data.get("k")
        return cls(
            tuple(str(k) for k in keys) if isinstance(keys, list) else (), bool(data.get("a"))
        )


@dataclass(frozen=True, slots=True)
class _Line:
    start: int
    text: str


@lru_cache(maxsize=16)
def _signature_lines(body: str) -> tuple[tuple[_Line, ...], bool]:
    """The non-blank lines at the end of `body` that a signature may hold (top first),
    and whether a non-blank line is above them."""
    region = _trailing_prose_start(body)
    lines: list[_Line] = []
    end = len(body)
    stopped = False
    while end >= region:
        start = body.rfind("\n", region, end) + 1
        if start == 0 and region > 0:
            start = region
        line = body[start:end]
        if line.strip():
            if len(line) > MAX_LINE_CHARS or len(lines) > MAX_BLOCK_LINES or _TRAILER.match(line):
                stopped = True
                break
            lines.append(_Line(start, line))
        if start <= region:
            break
        end = start - 1
    lines.reverse()
    top = lines[0].start if lines else len(body)
    above = stopped or bool(body[:top].strip())
    return tuple(lines), above


def _trailing_prose_start(body: str) -> int:
    """Where the prose after the last quote, diff or code block starts."""
    offset = len(body)
    for _ in range(_CLASSIFIED_LINES):
        offset = body.rfind("\n", 0, offset)
        if offset < 0:
            break
    offset = max(offset + 1, 0)
    if offset:
        # A diff above the window: classify from its last start line, so the diff is
        # seen whole and a long patch is not read from its first line.
        starts = [found.start() for found in _DIFF_ABOVE.finditer(body, 0, offset)]
        if starts:
            offset = starts[-1]
    start = offset
    for block in text_blocks(body[offset:]):
        offset_end = offset + len(block.text)
        if block.kind != "text":
            start = min(offset_end + 1, len(body))
        offset = offset_end + 1
    return start


def tail_of(body: str) -> Tail:
    """What learning keeps of one message's visible text."""
    lines, above = _signature_lines(body)
    keys = tuple(line_key(line.text) for line in lines[-MAX_BLOCK_LINES:])
    return Tail(keys, above or len(lines) > MAX_BLOCK_LINES)


def learn(tails: Sequence[Tail]) -> tuple[str, ...]:
    """The block (line keys, top first) that ends a majority, and at least MIN_MESSAGES,
    of the `tails`; empty when there is none."""
    need = max(MIN_MESSAGES, len(tails) // 2 + 1)
    block: tuple[str, ...] = ()
    for size in range(1, MAX_BLOCK_LINES + 1):
        counts = Counter(
            t.keys[len(t.keys) - size :]
            for t in tails
            if len(t.keys) >= size and (t.more_above or len(t.keys) > size)
        )
        if not counts:
            break
        candidate, count = counts.most_common(1)[0]
        if count < need:
            break
        block = candidate
    return block


def learn_from(bodies: Sequence[str]) -> tuple[str, ...]:
    """The block learnt from a sender's latest visible texts (oldest first)."""
    return learn([tail_of(body) for body in bodies[-WINDOW:]])


def remove_learned(body: str, block: Sequence[str]) -> tuple[str, str]:
    """(kept, removed): `body` without the learnt `block` at its end, and the lines taken.
    Unchanged (body, "") unless its last signature-like lines are exactly the block and
    text is left above them."""
    if not block:
        return body, ""
    lines, above = _signature_lines(body)
    size = len(block)
    if size > len(lines) or not (above or len(lines) > size):
        return body, ""
    ending = lines[len(lines) - size :]
    if tuple(line_key(line.text) for line in ending) != tuple(block):
        return body, ""
    cut = ending[0].start
    kept = body[:cut].rstrip()
    if not kept.strip():
        return body, ""
    return kept, body[cut:]
