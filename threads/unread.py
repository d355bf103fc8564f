"""What's new: how far each logged-in reader has read each thread, and what came since.

A reader's mark on a thread is the highest raw mail id (arrival order) among the
messages on a page they opened, so later mail is above it. Not the message row's
id: a parent that arrives after its reply fills the placeholder row the reply
left, with an older id, and would never count as new. A thread's unread
count is its messages above the mark, withdrawn ones left out (their rows stay
as placeholders); a thread never opened counts every message. Counting a page
of threads is one grouped query.

Marks are written in the background, a batch every few seconds, as the reach
log does (threads/reach.py): opening a thread must not wait for the single
SQLite writer. Marks not yet written are kept in memory and laid over the
stored ones, so the page after a thread already shows it read. With several
web processes each overlays only its own pending marks, for those seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence

from sqlalchemy import ColumnElement, Connection, Engine, case, func, literal, select

from threads.batches import BatchedWrites
from threads.db import insert_keeping_highest, writer
from threads.models import Message, Thread, ThreadSeen, utcnow

SEEN = ThreadSeen.__table__
M = Message.__table__
T = Thread.__table__
log = logging.getLogger(__name__)


def unread_counts(
    conn: Connection,
    person_id: int,
    thread_ids: Collection[int],
    *,
    communities: Collection[int],
    pending: Mapping[int, int] | None = None,
) -> dict[int, int]:
    """Unread messages per thread (threads with none are left out), in one query, counting
    only messages in `communities` (those the reader may read). `pending`: marks not yet
    written, by thread id."""
    if not thread_ids:
        return {}
    ids = list(thread_ids)
    # Driven from the thread rows by id, each count a correlated subquery on the message
    # index that leads with thread_id: joined flat, SQLite chose the community index and
    # read the whole community's messages. A thread's messages are in its community.
    seen = SEEN.alias("seen")
    mark: ColumnElement[int] = func.coalesce(seen.c.seen_up_to, 0)
    overlay = {t: pk for t, pk in (pending or {}).items() if t in thread_ids}
    if overlay:
        waiting = case(overlay, value=T.c.id, else_=0)
        mark = case((waiting > mark, waiting), else_=mark)
    new = (
        select(func.count())
        .where(
            M.c.thread_id == T.c.id,
            # The thread's community, not the message's: that column has its own index,
            # which SQLite would then take over the thread_id one.
            T.c.community_id.in_(list(communities)),
            M.c.placeholder.is_(False),
            M.c.raw_id > mark,
        )
        .correlate(T, seen)
        .scalar_subquery()
    )
    query = (
        select(T.c.id, new)
        .select_from(
            T.outerjoin(seen, (seen.c.thread_id == T.c.id) & (seen.c.person_id == person_id))
        )
        .where(T.c.id.in_(ids))
    )
    return {int(t): int(n) for t, n in conn.execute(query).tuples() if n}


def seen_mark(conn: Connection, person_id: int, thread_id: int) -> int | None:
    """The reader's stored mark on a thread; None if they never opened it."""
    return conn.execute(
        select(SEEN.c.seen_up_to).where(
            SEEN.c.person_id == person_id, SEEN.c.thread_id == thread_id
        )
    ).scalar()


def first_unread(shown: Sequence[tuple[int, int, bool]], mark: int | None) -> int | None:
    """The pk of the first message to arrive after `mark` among (pk, arrival, withdrawn);
    None when the thread was never opened (it opens at its start) or nothing is new."""
    if mark is None:
        return None
    new = [(arrival, pk) for pk, arrival, withdrawn in shown if arrival > mark and not withdrawn]
    return min(new)[1] if new else None


def mark_community_read(conn: Connection, person_id: int, community_id: int) -> None:
    """Mark every thread of a community read up to its newest message, in one statement."""
    stmt = insert_keeping_highest(
        conn, SEEN, ["person_id", "thread_id"], "seen_up_to", touched=["seen_at"]
    )
    newest = (
        select(
            literal(person_id).label("person_id"),
            M.c.thread_id,
            func.coalesce(func.max(M.c.raw_id), 0).label("seen_up_to"),
            literal(utcnow(), SEEN.c.seen_at.type).label("seen_at"),
        )
        .where(M.c.community_id == community_id)
        .group_by(M.c.thread_id)
    )
    conn.execute(stmt.from_select(["person_id", "thread_id", "seen_up_to", "seen_at"], newest))


def _write(engine: Engine, marks: Mapping[tuple[int, int], int]) -> None:
    now = utcnow()
    with writer(engine).begin() as conn:
        stmt = insert_keeping_highest(
            conn, SEEN, ["person_id", "thread_id"], "seen_up_to", touched=["seen_at"]
        )
        conn.execute(
            stmt,
            [
                {"person_id": p, "thread_id": t, "seen_up_to": pk, "seen_at": now}
                for (p, t), pk in sorted(marks.items())
            ],
        )


class SeenLog(BatchedWrites):
    """Collects readers' marks and writes them in one transaction per `interval` seconds."""

    def __init__(self, engine: Engine, interval: float = 2.0) -> None:
        super().__init__("seen-log", interval)
        self._engine = engine
        # (person, thread) -> highest message id shown; the batch being written stays
        # readable until its commit, so no page sees a mark disappear and come back.
        self._pending: dict[tuple[int, int], int] = {}
        self._writing: dict[tuple[int, int], int] = {}

    def add(self, person_id: int, thread_id: int, seen_up_to: int) -> None:
        key = (person_id, thread_id)
        with self._lock:
            if seen_up_to > self._pending.get(key, 0):
                self._pending[key] = seen_up_to
            self._started()

    def pending(self, person_id: int) -> dict[int, int]:
        """Marks of this reader not yet stored, by thread id."""
        with self._lock:
            found: dict[int, int] = {}
            for source in (self._writing, self._pending):
                for (p, t), pk in source.items():
                    if p == person_id and pk > found.get(t, 0):
                        found[t] = pk
            return found

    def flush(self) -> None:
        with self._lock:
            self._writing, self._pending = self._pending, {}
            batch = self._writing
        try:
            if batch:
                _write(self._engine, batch)
        except Exception:  # lost marks show threads as new again: log, never fail a page
            log.exception("could not record %d thread marks", len(batch))
        with self._lock:
            self._writing = {}
