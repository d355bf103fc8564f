"""Addresses an unverified message put on a thread: a moderator decides whether they get copies.

A forged or merely unauthenticated message can name anyone on its To/Cc;
threads/copies.py sends such addresses nothing and lists them in
`copy_review`. A moderator of the thread's community (or an admin) sees
"x@… was added on Cc by an unverified message" and approves or denies it;
every decision is audited. Functions take the caller's connection: the
caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from bridge.admin import audit
from bridge.errors import UsageError
from threads.models import CopyReview, Thread, utcnow

R, T = CopyReview.__table__, Thread.__table__
DECISIONS = {"approve": "approved", "deny": "denied"}


@dataclass(frozen=True, slots=True)
class PendingCopy:
    id: int
    thread_id: int
    community_id: int
    subject: str
    address: str
    added_by: str
    created_at: datetime


def pending(conn: Connection, community_ids: Iterable[int]) -> list[PendingCopy]:
    """Undecided additions in these communities, newest first."""
    rows = conn.execute(
        select(R.c.id, R.c.thread_id, T.c.community_id, T.c.subject)
        .add_columns(R.c.address, R.c.added_by, R.c.created_at)
        .join(T, T.c.id == R.c.thread_id)
        .where(R.c.state == "pending", T.c.community_id.in_(list(community_ids)))
        .order_by(R.c.id.desc())
        .limit(500)
    )
    return [PendingCopy(*row) for row in rows]


def decide(
    conn: Connection, review_id: int, decision: str, *, actor: str, community_ids: Iterable[int]
) -> str:
    """Approve or deny one pending addition in a community `actor` moderates; returns its state."""
    if decision not in DECISIONS:
        raise UsageError(f"decision '{decision}': choose approve or deny")
    row = conn.execute(
        select(R.c.state, R.c.address, R.c.thread_id, T.c.community_id)
        .join(T, T.c.id == R.c.thread_id)
        .where(R.c.id == review_id)
    ).first()
    if row is None or row.community_id not in set(community_ids) or row.state != "pending":
        raise UsageError(f"no pending address {review_id} to decide on")
    state = DECISIONS[decision]
    conn.execute(
        update(R)
        .where(R.c.id == review_id)
        .values(state=state, actor=actor[:320], decided_at=utcnow())
    )
    audit(
        conn,
        actor,
        f"copies.{decision}",
        f"thread {row.thread_id}: {row.address}",
        {"state": row.state},
        {"state": state},
    )
    return state
