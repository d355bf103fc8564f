"""Learnt signatures replayed over real mail without a database, for the corpus test and
bench/learned_signatures.py: what filing does (threads/signatures.py) for each sender
address, and the rules a removal must never break."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass, field

from mail.trim.learned import WINDOW, Tail, learn, remove_learned, tail_of

# Lines that are content whoever wrote them: a quote, a patch trailer, a diff's
# header or hunk line.
_CONTENT_LINE = re.compile(
    r" *>|\s*(?:Signed-off-by|Acked-by|Reviewed-by|Tested-by|Reported-by|Fixes):"
    r"|diff --git |\+\+\+ |--- a/|@@ -"
)
_DIFF_IN_TEXT = re.compile(r"^(?:diff --git |@@ -)", re.M)
_CHANGE_LINE = re.compile(r"[+-](?!-)\S")


def breaks_rule(kept: str, removed: str) -> bool:
    """Whether a removal took a line that is content: a quote, a trailer, a diff header
    or hunk line, or a changed line ("+x", "-x") of a message that carries a diff."""
    diff = _DIFF_IN_TEXT.search(kept) is not None
    return any(
        _CONTENT_LINE.match(line) or (diff and _CHANGE_LINE.match(line))
        for line in removed.split("\n")
    )


@dataclass
class _Sender:
    window: list[tuple[int, Tail]] = field(default_factory=list)
    block: tuple[str, ...] = ()


@dataclass
class Replay:
    """Messages filed one by one: each sender's latest tails, the block learnt with each
    message, the message trimmed, and on a new or changed block the sender's window."""

    texts: dict[int, str] = field(default_factory=dict)
    removed: dict[int, str] = field(default_factory=dict)
    senders: dict[str, _Sender] = field(default_factory=lambda: defaultdict(_Sender))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: float = 0.0

    def file(self, index: int, address: str, text: str) -> None:
        started = time.perf_counter()
        sender = self.senders[address]
        self.counts[address] += 1
        sender.window = [*sender.window, (index, tail_of(text))][-WINDOW:]
        block = learn([t for _, t in sender.window])
        self.texts[index] = text
        targets = [index]
        if block and block != sender.block:
            targets = [i for i, _ in sender.window]
        sender.block = block
        for target in targets:
            kept, removed = remove_learned(self.texts[target], block)
            if removed:
                self.texts[target] = kept
                self.removed[target] = removed
        self.seconds += time.perf_counter() - started

    def broken(self) -> list[int]:
        return [i for i, r in self.removed.items() if breaks_rule(self.texts[i], r)]

    def lines_removed(self) -> int:
        return sum(sum(1 for ln in r.split("\n") if ln.strip()) for r in self.removed.values())
