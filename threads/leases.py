"""Leases on rows: renewing one's own, listing the live ones, and releasing a dead holder's.

Three tables carry a lease, each a holder name and an expiry: raw messages
claimed by a pipeline worker, outbound mail claimed by a sender, and IMAP
folders held by a poller. `LEASED` names their columns and the rows whose
lease still matters (a filed message's stale claim is history, not a lease).
Whether a holder is alive is not storage's business: callers pass the names
(bridge/liveness.py decides which are dead). Functions take the connection
first; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Table, select, update

from threads.models import (
    ImapFolder,
    OutboundMail,
    OutboundState,
    RawMessage,
    RawState,
    utcnow,
)


@dataclass(frozen=True, slots=True)
class Leased:
    """One table's lease columns and the rows whose lease is in force."""

    name: str
    table: Table
    holder: Column[Any]
    until: Column[Any]
    active: ColumnElement[bool]


RAW = RawMessage.__table__
OUT = OutboundMail.__table__
FOLDERS = ImapFolder.__table__


def _leased(table: Table, holder: str, until: str, active: ColumnElement[bool]) -> Leased:
    return Leased(table.name, table, table.c[holder], table.c[until], active)


RAW_CLAIMS = _leased(RAW, "claimed_by", "claimed_until", RAW.c.state == RawState.pending)
OUTBOUND_CLAIMS = _leased(OUT, "claimed_by", "claimed_until", OUT.c.state == OutboundState.queued)
FOLDER_LEASES = _leased(FOLDERS, "lease_holder", "lease_until", FOLDERS.c.lease_holder != "")
LEASED = (RAW_CLAIMS, OUTBOUND_CLAIMS, FOLDER_LEASES)


def renew(conn: Connection, leased: Leased, holders: Collection[str], until: datetime) -> int:
    """Extend the leases `holders` still hold to `until`; returns how many rows."""
    if not holders:
        return 0
    stmt = (
        update(leased.table)
        .where(leased.active, leased.holder.in_(list(holders)))
        .values({leased.until.name: until})
    )
    return conn.execute(stmt).rowcount


def live_holders(conn: Connection, leased: Leased) -> set[str]:
    """Every holder with a lease in force (not yet expired) on `leased`."""
    stmt = (
        select(leased.holder)
        .where(leased.active, leased.holder != "", leased.until >= utcnow())
        .distinct()
    )
    return set(conn.execute(stmt).scalars())


def release(conn: Connection, leased: Leased, holders: Collection[str]) -> int:
    """Free every lease of `holders` at once, as if it had expired; returns how many rows."""
    if not holders:
        return 0
    stmt = (
        update(leased.table)
        .where(leased.active, leased.holder.in_(list(holders)))
        .values({leased.holder.name: "", leased.until.name: None})
    )
    return conn.execute(stmt).rowcount
