"""A message's visible text as blocks a reader sees differently: prose, quotes, code.

Interleaved replies (the norm in patch review) keep the quoted excerpts they
answer; those read as quotes. Kernel and developer mail carries patches, stack
traces and indented code that lose their meaning in a proportional font and
with lines re-flowed. This module only classifies; the web decides how each kind
looks. Pure and linear in the text's length: a long patch costs one pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "quote", "diff", "code"]

# A unified diff starts with one of these lines (git, diff -u, svn, quilt).
_DIFF_START = re.compile(r"(?:diff (?:--git|-u|-r) |Index: |--- \S|@@ -\d+(?:,\d+)? \+\d+)")
# Lines that keep a diff going: context, changes, hunk and file headers, git's
# extended header lines, and the marker for a missing final newline.
_DIFF_LINE = re.compile(
    r"(?:[ +\-]|@@ |\\ No newline|diff |index |new file mode|deleted file mode|old mode"
    r"|new mode|similarity index|dissimilarity index|rename (?:from|to) |copy (?:from|to) "
    r"|Binary files |Index: |={10,}$|$)"
)
# git's diffstat under the commit message: " path/to/file | 12 +++---" and its summary.
_DIFFSTAT = re.compile(r" \S.* \| +(?:\d+ ?[+\-]*|Bin .*)$| \d+ files? changed")
# Stack traces: Python's header and frames, Java's header and "at" frames, kernel log
# lines with a timestamp ("[   12.345678] ..."), and the kernel's call-trace frames.
_TRACE_START = re.compile(
    r"Traceback \(most recent call last\):|\s*\[\s*\d+\.\d{6}\] "
    r"|Exception in thread |\s+at [\w$.<>]+\("
)
_TRACE_LINE = re.compile(
    r"(?:\s+File \"|\s+at [\w$.<>]+[(:]|\s*\[\s*\d+\.\d{6}\] |\s+\S.*\+0x[0-9a-f]+/0x[0-9a-f]+"
    r"|\s{2,}\S|\w+(?:\.\w+)*(?:Error|Exception|Exit|Interrupt)\b)"
)
# Indented code: a tab or four spaces, as Markdown and most mail authors indent it.
_INDENTED = re.compile(r"(?:\t|    )\s*\S")
_QUOTE = re.compile(r" *>")


@dataclass(frozen=True, slots=True)
class Block:
    kind: Kind
    text: str
    # For a quote: how many ">" its first line carries (a quote of a quote is 2).
    depth: int = 0

    @property
    def lines(self) -> int:
        return self.text.count("\n") + 1


def text_blocks(text: str) -> list[Block]:
    """Split `text` into consecutive blocks whose texts, joined by newlines, give it back."""
    lines = text.split("\n")
    blocks: list[Block] = []
    prose: list[str] = []
    index = 0

    def flush() -> None:
        if prose:
            blocks.append(Block("text", "\n".join(prose)))
            prose.clear()

    while index < len(lines):
        line = lines[index]
        end, kind = _special_run(lines, index)
        if end > index:
            flush()
            run = "\n".join(lines[index:end])
            depth = _quote_depth(line) if kind == "quote" else 0
            blocks.append(Block(kind, run, depth))
            index = end
        else:
            prose.append(line)
            index += 1
    flush()
    return blocks


def _special_run(lines: list[str], start: int) -> tuple[int, Kind]:
    """End of the quote, diff or code run starting at `start` (== start if none does)."""
    line = lines[start]
    if _QUOTE.match(line):
        end = start + 1
        while end < len(lines) and _QUOTE.match(lines[end]):
            end += 1
        return end, "quote"
    if _DIFF_START.match(line) and _looks_like_diff(lines, start):
        end = start + 1
        while end < len(lines) and _DIFF_LINE.match(lines[end]) and lines[end] != "-- ":
            end += 1
        return _trim_blank_tail(lines, start, end), "diff"
    if _DIFFSTAT.match(line):
        end = start + 1
        while end < len(lines) and _DIFFSTAT.match(lines[end]):
            end += 1
        if end - start >= 2 or " changed" in line:
            return end, "code"
    if _TRACE_START.match(line):
        end = start + 1
        while end < len(lines) and _in_trace(lines[end]):
            end += 1
        if end - start >= 2:
            return end, "code"
    previous_blank = start == 0 or not lines[start - 1].strip()
    if previous_blank and _INDENTED.match(line):
        end = start + 1
        while end < len(lines) and (_INDENTED.match(lines[end]) or _blank_inside(lines, end)):
            end += 1
        end = _trim_blank_tail(lines, start, end)
        if end - start >= 2:
            return end, "code"
    return start, "text"


def _in_trace(line: str) -> bool:
    return _TRACE_LINE.match(line) is not None or _TRACE_START.match(line) is not None


def _looks_like_diff(lines: list[str], start: int) -> bool:
    """A "--- x" line is a diff only with "+++ y" under it (else it is a rule or a
    signature-like line); the other starts are unambiguous."""
    if not lines[start].startswith("--- "):
        return True
    return start + 1 < len(lines) and lines[start + 1].startswith("+++ ")


def _blank_inside(lines: list[str], index: int) -> bool:
    """A blank line between two indented lines belongs to the code block."""
    return (
        not lines[index].strip()
        and index + 1 < len(lines)
        and _INDENTED.match(lines[index + 1]) is not None
    )


def _trim_blank_tail(lines: list[str], start: int, end: int) -> int:
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return end


def _quote_depth(line: str) -> int:
    depth = 0
    for char in line.lstrip(" "):
        if char == ">":
            depth += 1
        elif char != " ":
            break
    return depth


def diff_line_kind(line: str) -> str:
    """How one diff line reads: "add", "del", "hunk", "meta" (file headers) or "ctx"."""
    if line.startswith(("+++ ", "--- ")):
        return "meta"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    if line.startswith("@@"):
        return "hunk"
    if line.startswith((" ", "\\")) or not line:
        return "ctx"
    return "meta"
