"""Personal access tokens: issue, look up, list and revoke (storage only, no protocol).

A token is a prefix saying its kind (`cbt_` for the API, `cbf_` for feeds,
so a leaked one can be recognised in a log or a secret scanner) and 32 random
bytes; only the sha256 of the whole string is stored. 256 bits of randomness
need no slow hash: nobody can guess one, and a copy of the table opens
nothing. A token acts for its owner with the owner's rights at the time of
each request, so a person removed from a community stops seeing it at once;
a disabled owner's tokens open nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select, update

from threads.models import AccessToken, Person, TokenKind, as_utc, utcnow

T = AccessToken.__table__
P = Person.__table__
PREFIX = {TokenKind.api: "cbt_", TokenKind.feed: "cbf_"}
# Recording every use would make each API read a write; once in a while says enough.
USE_RECORDED_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class TokenRow:
    id: int
    kind: str
    name: str
    created_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def issue(conn: Connection, person_id: int, kind: TokenKind, name: str) -> tuple[int, str]:
    """A new token for the person: (row id, the secret, shown once and never stored)."""
    secret = PREFIX[kind] + secrets.token_urlsafe(32)
    row_id = conn.execute(
        insert(T).values(
            person_id=person_id,
            kind=kind.value,
            name=name,
            token_hash=digest(secret),
            created_at=utcnow(),
        )
    ).inserted_primary_key[0]  # type: ignore[index]  # one row inserted: its key is there
    return int(row_id), secret


def issue_derived(
    conn: Connection, person_id: int, kind: TokenKind, name: str, derive: Callable[[int], str]
) -> tuple[int, str]:
    """A new token whose secret `derive(row id)` can rebuild (feed links shown on every page).

    Only its hash is stored all the same: the database alone opens nothing,
    `derive` needs the server's key.
    """
    placeholder = secrets.token_hex(32)  # unique until the real hash replaces it
    row_id = conn.execute(
        insert(T).values(
            person_id=person_id,
            kind=kind.value,
            name=name,
            token_hash=placeholder,
            created_at=utcnow(),
        )
    ).inserted_primary_key[0]  # type: ignore[index]  # one row inserted: its key is there
    secret = PREFIX[kind] + derive(int(row_id))
    conn.execute(update(T).where(T.c.id == row_id).values(token_hash=digest(secret)))
    return int(row_id), secret


def live_token_id(conn: Connection, person_id: int, kind: TokenKind) -> int | None:
    """The person's newest unrevoked token of `kind`, if any."""
    return conn.execute(
        select(T.c.id)
        .where(T.c.person_id == person_id, T.c.kind == kind.value, T.c.revoked_at.is_(None))
        .order_by(T.c.id.desc())
        .limit(1)
    ).scalar()


@dataclass(frozen=True)
class Holder:
    """Whose token a request carries, and whether its last use is worth recording."""

    token_id: int
    person_id: int
    stale_use: bool


def holder(conn: Connection, secret: str, kind: TokenKind) -> Holder | None:
    """The live token of this kind for `secret`: None if unknown, revoked, or its owner disabled."""
    if not secret.startswith(PREFIX[kind]) or len(secret) > 200:
        return None
    row = conn.execute(
        select(T.c.id, T.c.person_id, T.c.last_used_at)
        .join(P, P.c.id == T.c.person_id)
        .where(
            T.c.token_hash == digest(secret),
            T.c.kind == kind.value,
            T.c.revoked_at.is_(None),
            P.c.disabled.is_(False),
        )
    ).first()
    if row is None:
        return None
    last = as_utc(row.last_used_at)
    stale = last is None or utcnow() - last > USE_RECORDED_EVERY
    return Holder(row.id, row.person_id, stale)


def record_use(conn: Connection, token_id: int) -> None:
    conn.execute(update(T).where(T.c.id == token_id).values(last_used_at=utcnow()))


def tokens_of(conn: Connection, person_id: int, kind: TokenKind | None = None) -> list[TokenRow]:
    """The person's tokens, newest first, revoked ones included (marked)."""
    stmt = select(T).where(T.c.person_id == person_id).order_by(T.c.id.desc())
    if kind is not None:
        stmt = stmt.where(T.c.kind == kind.value)
    return [
        TokenRow(
            r.id,
            r.kind,
            r.name,
            as_utc(r.created_at),
            as_utc(r.last_used_at),
            as_utc(r.revoked_at),
        )
        for r in conn.execute(stmt)
    ]


def revoke(conn: Connection, token_id: int, *, person_id: int | None = None) -> TokenRow | None:
    """Revoke one token (only the person's own when `person_id` is given); None if no such."""
    stmt = select(T).where(T.c.id == token_id)
    if person_id is not None:
        stmt = stmt.where(T.c.person_id == person_id)
    row = conn.execute(stmt).first()
    if row is None:
        return None
    now = row.revoked_at or utcnow()
    conn.execute(update(T).where(T.c.id == token_id).values(revoked_at=now))
    return TokenRow(row.id, row.kind, row.name, as_utc(row.created_at), None, as_utc(now))
