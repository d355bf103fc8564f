"""Ranking: which matches are scored, how, and how threads are ordered by their best one.

Ranking scores every candidate; for a word in half the archive that is
hundreds of thousands of rows. Relevance is therefore computed over the most
recent RANK_WINDOW matches only (message ids grow with arrival), which keeps a
query's cost bounded at any archive size and favours recent discussion. A
match's relevance (on SQLite threads/search/relevance.py's, on PostgreSQL
ts_rank's, both weighting the subject above the sender and the sender above
the text) is multiplied by a gentle recency weight; a thread ranks by its best
match, raised a little for each doubling of its matching messages.

Other modules read the bounds here as `rank.RANK_WINDOW`, not by importing
the name, so a test that lowers the window lowers it everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, bindparam, cast, func
from sqlalchemy.dialects.postgresql import TSQUERY

from threads.models import Message
from threads.search.compiler import Compiler
from threads.search.index import FTS

M = Message.__table__

RANK_WINDOW = 1000
# Recency: a match loses up to half its weight with age (half of that in HALF_LIFE days).
HALF_LIFE_DAYS = 180.0
THREAD_BONUS = 0.1


@dataclass(frozen=True, slots=True)
class Candidate:
    pk: int
    thread_id: int
    day: float | None  # the date in days, for recency: cheaper to read than a datetime
    relevance: float


def day(compiler: Compiler) -> ColumnElement[float | Decimal]:
    """The message's date in days, for the recency weight (PostgreSQL's extract is numeric)."""
    if compiler.sqlite:
        return func.julianday(M.c.date)
    return func.extract("epoch", M.c.date) / 86400.0


def score(compiler: Compiler, expr: str) -> ColumnElement[float]:
    """PostgreSQL's relevance, higher is better."""
    return func.ts_rank(FTS.c.tsv, cast(bindparam(compiler.bind_name("q"), expr), TSQUERY))


def group(candidates: list[Candidate]) -> list[tuple[float, int, Candidate]]:
    """Threads by their best match (relevance times recency); (score, matches, best)."""
    dated = [c.day for c in candidates if c.day is not None]
    newest = max(dated) if dated else None
    best: dict[int, tuple[float, int, Candidate]] = {}
    for c in candidates:
        age = newest - c.day if newest is not None and c.day is not None else 0.0
        weight = c.relevance * (0.5 + 0.5 * math.pow(2.0, -max(age, 0.0) / HALF_LIFE_DAYS))
        prev = best.get(c.thread_id)
        if prev is None:
            best[c.thread_id] = (weight, 1, c)
        else:
            top = (weight, c) if weight > prev[0] else (prev[0], prev[2])
            best[c.thread_id] = (top[0], prev[1] + 1, top[1])
    # A thread where several messages match is a conversation about the words,
    # not a passing mention: it gains a little with each doubling of its matches.
    best = {
        t: (score * (1.0 + THREAD_BONUS * math.log2(n)), n, c) for t, (score, n, c) in best.items()
    }

    def key(item: tuple[float, int, Candidate]) -> tuple[float, float, int]:
        when = item[2].day or 0.0
        return (-item[0], -when, -item[2].pk)

    return sorted(best.values(), key=key)
