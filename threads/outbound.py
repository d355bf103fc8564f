"""The outbound queue and what delivery learns about addresses: storage only, no SMTP.

Queued mail is leased like pipeline work (threads/queue.py): a sender claims
due rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite's single writer
makes the plain UPDATE safe), so several sender processes share the queue
and a sender that dies leaves its rows to the next once the lease runs out.
Functions take the connection first; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from threads.db import insert_ignoring_conflict
from threads.models import (
    DeliveryPreference,
    MailAddress,
    OutboundMail,
    OutboundState,
    ThreadSubscription,
    utcnow,
)

OUT = OutboundMail.__table__
ADDR = MailAddress.__table__
SUBS = ThreadSubscription.__table__
PREFS = DeliveryPreference.__table__
MODES = ("each", "digest", "web")


def enqueue(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Queue composed messages (each a dict of OutboundMail fields); returns their ids."""
    if not rows:
        return []
    now = utcnow()
    full = [
        {
            "subject": "",
            "community_id": None,
            "thread_id": None,
            "notification_id": None,
            "state": OutboundState.queued,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": "",
            "created_at": now,
            "claimed_by": "",
            **row,
        }
        for row in rows
    ]
    return [conn.execute(OUT.insert().values(row).returning(OUT.c.id)).scalar_one() for row in full]


def claim_due(
    conn: Connection,
    worker: str,
    *,
    limit: int,
    lease: timedelta,
    only: Sequence[int] | None = None,
) -> list[int]:
    """Lease up to `limit` queued messages whose next attempt is due, oldest first."""
    now = utcnow()
    free = (
        select(OUT.c.id)
        .where(
            OUT.c.state == OutboundState.queued,
            OUT.c.next_attempt_at <= now,
            or_(OUT.c.claimed_until.is_(None), OUT.c.claimed_until < now),
        )
        .where(OUT.c.id.in_(list(only)) if only is not None else OUT.c.id.is_not(None))
        .order_by(OUT.c.next_attempt_at, OUT.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(OUT)
        .where(OUT.c.id.in_(free.scalar_subquery()))
        .values(claimed_by=worker, claimed_until=now + lease)
        .returning(OUT.c.id)
    )
    return sorted(conn.execute(stmt).scalars())


def load(conn: Connection, ids: Sequence[int]) -> list[Any]:
    return list(conn.execute(select(OUT).where(OUT.c.id.in_(list(ids))).order_by(OUT.c.id)))


def _finish(conn: Connection, mail_id: int, worker: str, **values: Any) -> bool:
    """Record an attempt's outcome if the row is still ours (a lease may have run out)."""
    stmt = (
        update(OUT)
        .where(OUT.c.id == mail_id, OUT.c.state == OutboundState.queued)
        .where(OUT.c.claimed_by == worker)
        .values(claimed_by="", claimed_until=None, **values)
    )
    return bool(conn.execute(stmt).rowcount)


def mark_sent(conn: Connection, mail_id: int, worker: str, attempts: int) -> bool:
    return _finish(
        conn, mail_id, worker, state=OutboundState.sent, sent_at=utcnow(), attempts=attempts
    )


def mark_deferred(
    conn: Connection, mail_id: int, worker: str, attempts: int, error: str, retry_at: datetime
) -> bool:
    return _finish(
        conn, mail_id, worker, attempts=attempts, last_error=error[:2000], next_attempt_at=retry_at
    )


def mark_failed(
    conn: Connection, mail_id: int, worker: str, attempts: int, error: str, *, cancel: bool = False
) -> bool:
    state = OutboundState.cancelled if cancel else OutboundState.failed
    return _finish(conn, mail_id, worker, state=state, attempts=attempts, last_error=error[:2000])


def disabled_addresses(conn: Connection, addresses: Iterable[str]) -> set[str]:
    """Those of `addresses` no mail may go to (too many hard bounces)."""
    wanted = sorted({a.lower() for a in addresses})
    if not wanted:
        return set()
    rows = conn.execute(
        select(ADDR.c.address).where(ADDR.c.address.in_(wanted), ADDR.c.disabled.is_(True))
    )
    return set(rows.scalars())


def record_bounce(
    conn: Connection, address: str, *, permanent: bool, reason: str, limit: int
) -> bool:
    """Count a bounce for `address`; returns True when this one stopped mail to it."""
    address = address.strip().lower()
    now = utcnow()
    conn.execute(insert_ignoring_conflict(conn, ADDR, ["address"]).values(address=address))
    counter = ADDR.c.hard_bounces if permanent else ADDR.c.soft_bounces
    conn.execute(
        update(ADDR)
        .where(ADDR.c.address == address)
        .values({counter.name: counter + 1, "last_bounce_at": now, "last_reason": reason[:2000]})
    )
    conn.execute(
        update(ADDR)
        .where(ADDR.c.address == address, ADDR.c.first_bounce_at.is_(None))
        .values(first_bounce_at=now)
    )
    stopped = conn.execute(
        update(ADDR)
        .where(
            ADDR.c.address == address,
            ADDR.c.disabled.is_(False),
            ADDR.c.hard_bounces >= limit,
        )
        .values(disabled=True, disabled_at=now)
    ).rowcount
    return bool(stopped)


def enable_address(conn: Connection, address: str) -> bool:
    """An admin (or the person) says the address works again: bounces forgotten, mail resumes."""
    return bool(
        conn.execute(
            update(ADDR)
            .where(ADDR.c.address == address.strip().lower())
            .values(
                disabled=False,
                disabled_at=None,
                hard_bounces=0,
                soft_bounces=0,
                first_bounce_at=None,
            )
        ).rowcount
    )


def bounce_state(conn: Connection, address: str) -> Any | None:
    """What delivery knows of `address` when it has bounced at all, else None."""
    return conn.execute(
        select(ADDR)
        .where(ADDR.c.address == address.strip().lower())
        .where((ADDR.c.hard_bounces > 0) | (ADDR.c.soft_bounces > 0) | ADDR.c.disabled)
    ).first()


def set_thread_choice(conn: Connection, thread_id: int, address: str, state: str | None) -> None:
    """Mute or watch a thread for `address`; None goes back to the default (subscribed if on cc)."""
    address = address.strip().lower()
    conn.execute(SUBS.delete().where(SUBS.c.thread_id == thread_id, SUBS.c.address == address))
    if state is not None:
        if state not in ("muted", "watching"):
            raise ValueError(state)
        conn.execute(
            SUBS.insert().values(
                thread_id=thread_id, address=address, state=state, updated_at=utcnow()
            )
        )


def thread_choice(conn: Connection, thread_id: int, address: str) -> str | None:
    return conn.execute(
        select(SUBS.c.state).where(
            SUBS.c.thread_id == thread_id, SUBS.c.address == address.strip().lower()
        )
    ).scalar()


def set_preference(conn: Connection, community_id: int, address: str, mode: str) -> None:
    """Every message, a daily digest, or web only, for one address in one community."""
    if mode not in MODES:
        raise ValueError(mode)
    address = address.strip().lower()
    now = utcnow()
    conn.execute(
        insert_ignoring_conflict(conn, PREFS, ["community_id", "address"]).values(
            community_id=community_id, address=address, mode=mode, updated_at=now
        )
    )
    conn.execute(
        update(PREFS)
        .where(PREFS.c.community_id == community_id, PREFS.c.address == address)
        .values(mode=mode, updated_at=now)
    )


def preferences(conn: Connection, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """Delivery mode per (community, address) that chose one; absent means 'each'."""
    wanted = set(pairs)
    if not wanted:
        return {}
    addresses = sorted({a for _c, a in wanted})
    rows = conn.execute(
        select(PREFS.c.community_id, PREFS.c.address, PREFS.c.mode).where(
            PREFS.c.address.in_(addresses)
        )
    )
    return {(c, a): mode for c, a, mode in rows if (c, a) in wanted}


def digests_due(conn: Connection, before: datetime) -> list[Any]:
    """Digest subscribers whose last digest is older than `before` (or who never had one)."""
    return list(
        conn.execute(
            select(PREFS).where(
                PREFS.c.mode == "digest",
                or_(PREFS.c.last_digest_at.is_(None), PREFS.c.last_digest_at < before),
            )
        )
    )


def recent_to(conn: Connection, recipient: str, kind: str, since: datetime) -> bool:
    """Whether a message of `kind` was queued for `recipient` since `since`."""
    return (
        conn.execute(
            select(OUT.c.id)
            .where(
                and_(
                    OUT.c.recipient == recipient.lower(),
                    OUT.c.kind == kind,
                    OUT.c.created_at >= since,
                )
            )
            .limit(1)
        ).first()
        is not None
    )


def listing(conn: Connection, *, state: str | None = None, limit: int = 100) -> list[Any]:
    """Queued and delivered mail, newest first, without the bytes (admin page and CLI)."""
    stmt = select(
        OUT.c.id,
        OUT.c.kind,
        OUT.c.recipient,
        OUT.c.subject,
        OUT.c.message_id,
        OUT.c.state,
        OUT.c.attempts,
        OUT.c.last_error,
        OUT.c.created_at,
        OUT.c.next_attempt_at,
        OUT.c.sent_at,
    )
    if state:
        stmt = stmt.where(OUT.c.state == state)
    return list(conn.execute(stmt.order_by(OUT.c.id.desc()).limit(limit)))


def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(OUT.c.state, func.count()).group_by(OUT.c.state))
    return {state: int(n) for state, n in rows}


def bounced(conn: Connection, *, limit: int = 200) -> list[Any]:
    """Addresses with bounces, stopped ones first, then the most recent."""
    return list(
        conn.execute(
            select(ADDR)
            .where((ADDR.c.hard_bounces > 0) | (ADDR.c.soft_bounces > 0) | ADDR.c.disabled)
            .order_by(ADDR.c.disabled.desc(), ADDR.c.last_bounce_at.desc(), ADDR.c.id)
            .limit(limit)
        )
    )
