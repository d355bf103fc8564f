"""Is consent working? Figures over time for one community's managers (web/insights.py).

Two families of figures, bucketed by week (or by day) in UTC:

- **Consent**: candidates found (`created_at`; live ones only, since a
  mailbox's history found at connection time is not new conversation), nudges
  sent (`nudged_at`), opened and kept private (`decided_at` with that state),
  and a conversion figure: of the candidates nudged in the period, how many
  are opened now.
- **Reach**: logged-in readers who were not in a thread's original audience
  (From/To/Cc of its first real message). A person counts once in the period,
  in the bucket of their first such read (`readers_new`, which adds up to the
  period's total), and once per bucket they made such a read (`readers`).

Only plain comparisons reach SQL; the timestamps in the window are fetched and
bucketed here, so SQLite and PostgreSQL need no date functions of their own.
The bucketing functions are pure and take hand-made timestamps in tests.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, exists, func, or_, select

from threads.models import (
    CandidateState,
    ConsentCandidate,
    Message,
    Person,
    Thread,
    ThreadRead,
    as_utc,
)
from threads.people import try_normalize

CAND, READ = ConsentCandidate.__table__, ThreadRead.__table__
THREAD, MSG, P = Thread.__table__, Message.__table__, Person.__table__

WEEK_CHOICES = (4, 12, 26, 52)
DEFAULT_WEEKS = 12
DAILY_DAYS = 90
K = TypeVar("K", bound=Hashable)


# --- Periods and buckets (pure) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """`count` buckets of `step`, the first starting at `start` (UTC, inclusive)."""

    start: datetime
    step: timedelta
    count: int

    @property
    def end(self) -> datetime:
        """The end of the last bucket (exclusive)."""
        return self.start + self.step * self.count

    @property
    def daily(self) -> bool:
        return self.step == timedelta(days=1)

    def starts(self) -> list[datetime]:
        return [self.start + self.step * i for i in range(self.count)]

    def index(self, when: datetime | None) -> int | None:
        """The bucket `when` falls in, or None outside the period (or no time at all)."""
        moment = as_utc(when)
        if moment is None or moment < self.start or moment >= self.end:
            return None
        return int((moment - self.start) // self.step)


def _midnight(now: datetime) -> datetime:
    moment = as_utc(now) or now
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def weekly(weeks: int, now: datetime) -> Period:
    """The last `weeks` weeks, Monday to Monday (ISO weeks, UTC); the current one is partial."""
    this_monday = _midnight(now) - timedelta(days=(as_utc(now) or now).astimezone(UTC).weekday())
    return Period(this_monday - timedelta(weeks=weeks - 1), timedelta(weeks=1), weeks)


def daily(days: int, now: datetime) -> Period:
    """The last `days` days, midnight to midnight UTC; today is partial."""
    return Period(_midnight(now) - timedelta(days=days - 1), timedelta(days=1), days)


def count_by_bucket(period: Period, times: Iterable[datetime | None]) -> list[int]:
    """How many of `times` fall in each bucket; times outside the period are left out."""
    counts = [0] * period.count
    for when in times:
        i = period.index(when)
        if i is not None:
            counts[i] += 1
    return counts


def distinct_by_bucket(period: Period, pairs: Iterable[tuple[K, datetime]]) -> list[int]:
    """How many distinct keys have at least one time in each bucket."""
    seen: list[set[K]] = [set() for _ in range(period.count)]
    for key, when in pairs:
        i = period.index(when)
        if i is not None:
            seen[i].add(key)
    return [len(keys) for keys in seen]


def first_by_bucket(period: Period, pairs: Iterable[tuple[K, datetime]]) -> list[int]:
    """Each key counted once, in the bucket of its earliest time within the period."""
    first: dict[K, int] = {}
    for key, when in pairs:
        i = period.index(when)
        if i is not None and (key not in first or i < first[key]):
            first[key] = i
    return count_by_bucket_index(period, first.values())


def count_by_bucket_index(period: Period, indexes: Iterable[int]) -> list[int]:
    counts = [0] * period.count
    for i in indexes:
        counts[i] += 1
    return counts


# --- Consent figures ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CandidateTimes:
    """The moments of one candidate the figures need."""

    created_at: datetime
    nudged_at: datetime | None
    decided_at: datetime | None
    state: str
    live: bool = True


@dataclass(frozen=True, slots=True)
class ConsentSeries:
    found: list[int]
    nudged: list[int]
    opened: list[int]
    private: list[int]
    backlog: int  # candidates from a mailbox's history, created in the period (not in `found`)
    nudged_then_opened: int  # of the candidates nudged in the period, how many are opened now


def consent_series(period: Period, rows: Sequence[CandidateTimes]) -> ConsentSeries:
    """Per bucket: found, nudged, opened, kept private (pure)."""

    def decided(state: CandidateState) -> list[int]:
        return count_by_bucket(period, (r.decided_at for r in rows if r.state == state.value))

    nudged_in_period = [r for r in rows if period.index(r.nudged_at) is not None]
    return ConsentSeries(
        found=count_by_bucket(period, (r.created_at for r in rows if r.live)),
        nudged=count_by_bucket(period, (r.nudged_at for r in rows)),
        opened=decided(CandidateState.opened),
        private=decided(CandidateState.private),
        backlog=sum(1 for r in rows if not r.live and period.index(r.created_at) is not None),
        nudged_then_opened=sum(
            1 for r in nudged_in_period if r.state == CandidateState.opened.value
        ),
    )


def conversion(nudged: int, opened: int) -> float | None:
    """Opened per nudge, 0..1; None when nothing was nudged (no figure beats a made-up 0%)."""
    return opened / nudged if nudged else None


# --- Reach figures ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Read:
    """One person's first read of one thread."""

    person_id: int
    email: str
    thread_id: int
    first_at: datetime


_PLAIN = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+")


@functools.lru_cache(maxsize=65536)
def address_key(address: str) -> str | None:
    """An address as people are stored (threads/people.py normalize_email), quickly.

    Most addresses are plain ASCII, for which normalising is lower-casing; the
    full rules (Unicode folding, IDNA) cost ~60 µs an address, too much for
    every To/Cc of thousands of threads, so only the others take that path.
    """
    value = address.strip().removeprefix("<").removesuffix(">")
    if _PLAIN.fullmatch(value):
        return value.lower().rstrip(".")
    return try_normalize(address)


def audience_of(*groups: Iterable[dict[str, str]] | None, sender: str = "") -> frozenset[str]:
    """The normalised addresses of a message's From/To/Cc."""
    found = {address_key(sender)} if sender else set()
    for group in groups:
        found.update(address_key(entry.get("address", "")) for entry in group or [])
    return frozenset(a for a in found if a is not None)


def outside_reads(
    reads: Iterable[Read], audiences: dict[int, frozenset[str]]
) -> list[tuple[int, datetime]]:
    """(person, when) of the reads by someone outside the thread's original audience.

    A thread with no real message left (all withdrawn or placeholders) has no
    known audience: every reader of it counts as reached.
    """
    # A person's address is stored normalised (threads/people.py): no work per read.
    nobody: frozenset[str] = frozenset()
    return [
        (read.person_id, read.first_at)
        for read in reads
        if read.email not in audiences.get(read.thread_id, nobody)
    ]


# --- The community's figures --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Insights:
    """Everything the managers' page shows for one community and period."""

    period: Period
    found: list[int]
    nudged: list[int]
    opened: list[int]
    private: list[int]
    readers_new: list[int]  # each reader once, in the bucket first reached
    readers: list[int]  # distinct readers reached per bucket
    backlog: int
    nudged_then_opened: int
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def conversion(self) -> float | None:
        return conversion(self.totals.get("nudged", 0), self.nudged_then_opened)


def community_insights(conn: Connection, community_id: int, period: Period) -> Insights:
    """The figures for one community over `period` (two or three indexed queries)."""
    consent = consent_series(period, candidate_times(conn, community_id, period))
    outside = outside_reads(
        reads_in(conn, community_id, period), opening_audiences(conn, community_id, period)
    )
    readers_new = first_by_bucket(period, outside)
    series = {
        "found": consent.found,
        "nudged": consent.nudged,
        "opened": consent.opened,
        "private": consent.private,
        "readers": readers_new,
    }
    return Insights(
        period=period,
        found=consent.found,
        nudged=consent.nudged,
        opened=consent.opened,
        private=consent.private,
        readers_new=readers_new,
        readers=distinct_by_bucket(period, outside),
        backlog=consent.backlog,
        nudged_then_opened=consent.nudged_then_opened,
        totals={name: sum(values) for name, values in series.items()},
    )


def last_activity(conn: Connection, community_id: int) -> datetime | None:
    """The community's latest thread activity or candidate found, whichever is later.

    Both from indexes that lead with the community; reads are left out (their
    table has no time index), and nobody reads what did not happen first.
    """
    thread = conn.execute(
        select(func.max(THREAD.c.last_activity_at)).where(THREAD.c.community_id == community_id)
    ).scalar()
    found = conn.execute(
        select(func.max(CAND.c.created_at)).where(CAND.c.community_id == community_id)
    ).scalar()
    moments = [m for m in (as_utc(thread), as_utc(found)) if m is not None]
    return max(moments) if moments else None


def candidate_times(conn: Connection, community_id: int, period: Period) -> list[CandidateTimes]:
    """The community's candidates with any moment in the period.

    Only (community, created_at) is indexed; the community prefix bounds the
    scan to this community's candidates (thousands, not the whole table), and
    a candidate created before the period may still be nudged or decided in it.
    """
    start = period.start
    rows = conn.execute(
        select(
            CAND.c.created_at, CAND.c.nudged_at, CAND.c.decided_at, CAND.c.state, CAND.c.live
        ).where(
            CAND.c.community_id == community_id,
            or_(CAND.c.created_at >= start, CAND.c.nudged_at >= start, CAND.c.decided_at >= start),
        )
    )
    return [
        CandidateTimes(
            created_at=as_utc(r.created_at) or period.start,
            nudged_at=as_utc(r.nudged_at),
            decided_at=as_utc(r.decided_at),
            state=r.state,
            live=bool(r.live),
        )
        for r in rows
    ]


def _read_in_window(period: Period) -> Any:
    return (READ.c.first_at >= period.start) & (READ.c.first_at < period.end)


def reads_in(conn: Connection, community_id: int, period: Period) -> list[Read]:
    """First reads of the community's threads in the period, with the reader's address.

    thread_read has no time index: the planner goes from the community's
    threads to their reads by the (thread_id, person_id) unique index.
    """
    rows = conn.execute(
        select(READ.c.person_id, P.c.email, READ.c.thread_id, READ.c.first_at)
        .join(THREAD, THREAD.c.id == READ.c.thread_id)
        .join(P, P.c.id == READ.c.person_id)
        .where(THREAD.c.community_id == community_id, _read_in_window(period))
    )
    return [Read(r.person_id, r.email, r.thread_id, as_utc(r.first_at) or r.first_at) for r in rows]


def opening_audiences(
    conn: Connection, community_id: int, period: Period
) -> dict[int, frozenset[str]]:
    """Per thread read in the period, the From/To/Cc of its first real message.

    "First" as the store decides a thread's opener (threads/store.py): earliest
    date, undated last, then the lowest id. One correlated lookup per thread
    on the (thread_id, date) index; only threads read in the period are asked.
    """
    first = (
        select(MSG.c.id)
        .where(MSG.c.thread_id == THREAD.c.id, MSG.c.placeholder.is_(False))
        .order_by(MSG.c.date.is_(None), MSG.c.date, MSG.c.id)
        .limit(1)
        .correlate(THREAD)
        .scalar_subquery()
    )
    was_read = exists().where(READ.c.thread_id == THREAD.c.id, _read_in_window(period))
    openers = select(first).where(THREAD.c.community_id == community_id, was_read)
    rows = conn.execute(
        select(MSG.c.thread_id, MSG.c.from_addr, MSG.c.to_addrs, MSG.c.cc_addrs).where(
            MSG.c.id.in_(openers)
        )
    )
    return {r.thread_id: audience_of(r.to_addrs, r.cc_addrs, sender=r.from_addr) for r in rows}
