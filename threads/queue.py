"""The raw-message queue: workers lease pending messages, so several can share the work.

A claim is a lease (`claimed_by`, `claimed_until`) taken in one short
transaction with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite's single
writer makes the plain UPDATE safe). The lease is short and renewed while
its worker lives (bridge/heartbeat.py, threads/leases.py); a worker that dies
leaves its lease to expire, or to be released at once by a process on its
host that sees it gone, and the next claim takes the message over. Filing
re-checks the state under a row lock, so a message is filed once even if a
lease ran out while its first worker was still busy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Connection, bindparam, or_, select, update

from threads.models import RawMessage, RawState, utcnow

RAW = RawMessage.__table__


def claim(conn: Connection, worker: str, *, limit: int, lease: timedelta) -> list[int]:
    """Lease up to `limit` pending messages, oldest first, skipping live leases of others.

    A worker's own leases count as free: what it still holds when it asks for
    more was left by a batch that failed midway, and is retried at once.
    """
    now = utcnow()
    free = (
        select(RAW.c.id)
        .where(
            RAW.c.state == RawState.pending,
            or_(
                RAW.c.claimed_until.is_(None),
                RAW.c.claimed_until < now,
                RAW.c.claimed_by == worker,
            ),
        )
        .order_by(RAW.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(RAW)
        .where(RAW.c.id.in_(free.scalar_subquery()))
        .values(claimed_by=worker, claimed_until=now + lease)
        .returning(RAW.c.id)
    )
    return sorted(conn.execute(stmt).scalars())


_STILL_PENDING = (
    select(RAW.c.id)
    .where(RAW.c.id.in_(bindparam("ids", expanding=True)), RAW.c.state == RawState.pending)
    .with_for_update()
)


def lock_pending(conn: Connection, ids: Sequence[int], worker: str | None) -> set[int]:
    """Lock the rows of `ids` that are still pending (and still ours, for a worker)."""
    stmt = _STILL_PENDING
    if worker is not None:
        stmt = stmt.where(RAW.c.claimed_by == worker)
    return set(conn.execute(stmt, {"ids": list(ids)}).scalars())
