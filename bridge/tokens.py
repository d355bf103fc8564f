"""Personal tokens as an admin or their owner handles them: create, list, revoke, audited.

The storage is threads/tokens.py; this adds who may act on whose tokens and
the audit entry each change writes in the same transaction (the audit log
names the token by id and name, never its secret).
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from bridge.admin import audit, ensure_person
from bridge.errors import UsageError
from threads import tokens
from threads.models import Person, TokenKind
from threads.people import try_normalize

MAX_NAME = 200


def create(
    conn: Connection, email: str, name: str, kind: TokenKind = TokenKind.api, *, actor: str
) -> tuple[int, str]:
    """A new token for EMAIL: (id, secret). The person must exist and not be disabled."""
    name = " ".join(name.split())[:MAX_NAME]
    if not name:
        raise UsageError("a token needs a name (--name) saying what uses it")
    pid, key = _person(conn, email)
    token_id, secret = tokens.issue(conn, pid, kind, name)
    audit(conn, actor, f"token.create.{kind.value}", key, None, {"id": token_id, "name": name})
    return token_id, secret


def listed(conn: Connection, email: str) -> list[tokens.TokenRow]:
    pid, _key = _person(conn, email, create=False)
    return tokens.tokens_of(conn, pid)


def revoke(
    conn: Connection, token_id: int, *, actor: str, owner_id: int | None = None
) -> tokens.TokenRow:
    """Revoke token `token_id` (an owner only their own); a UsageError if there is none."""
    row = tokens.revoke(conn, token_id, person_id=owner_id)
    if row is None:
        raise UsageError(f"there is no token {token_id}")
    audit(conn, actor, f"token.revoke.{row.kind}", str(token_id), None, {"name": row.name})
    return row


def _person(conn: Connection, email: str, *, create: bool = True) -> tuple[int, str]:
    key = try_normalize(email)
    if key is None:
        raise UsageError(f"'{email}' is not an e-mail address")
    p = Person.__table__
    row = conn.execute(select(p.c.id, p.c.disabled).where(p.c.email == key)).first()
    if row is None and create:
        return ensure_person(conn, key)
    if row is None:
        raise UsageError(f"nobody is known as {key}")
    if row.disabled and create:
        raise UsageError(f"{key} is disabled: enable them first (bridge person enable)")
    return row.id, key
