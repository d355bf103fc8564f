"""Stored subjects and names lose the control characters hostile encoded-words put there.

Before the parser cleaned them (mail/headers.py `clean_text`), a subject like
"=?utf-8?q?Hello=0D=0ABcc:_x?=" was stored with its CR/LF, and every later
header made from it failed: web replies to the thread, the copies of its
posts, a moderator's rejection notice. This repairs the rows the same way
the parser now reads new mail: each run of control characters, line
separators or bidi controls becomes one space. Only rows holding such a
character are read back (a regular expression on PostgreSQL, a small SQL
function on SQLite), so a clean archive of any size is only scanned.
The search index is left as it is: its tokenizers already split on these
characters.

Revision ID: 0015
Revises: 0014
"""

import json
import re
import sqlite3
from typing import Any, cast

import sqlalchemy as sa
from alembic import op

from mail.headers import UNSAFE_CHARS, clean_text
from threads.threading import normalize_subject

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Table: (plain text columns, JSON columns of [{"name", "address"}]).
_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "raw_message": (("subject",), ()),
    "thread": (("subject",), ()),
    "message": (("subject", "from_name"), ("to_addrs", "cc_addrs")),
    "person": (("name",), ()),
    "consent_candidate": (("subject", "starter_name"), ("participants",)),
    "outbound_mail": (("subject",), ()),
}
_BATCH = 1000
_UNSAFE = re.compile(f"[{UNSAFE_CHARS}]")


def _maybe_unsafe(value: object) -> int:
    # JSON text holds control characters escaped ("\r", "\u2028"): any backslash is worth a look.
    return int(isinstance(value, str) and ("\\" in value or bool(_UNSAFE.search(value))))


def _suspect(conn: sa.Connection, column: str, is_json: bool) -> str:
    """SQL that is true for a row whose column may hold an unsafe character."""
    if conn.dialect.name == "sqlite":
        return f"bridge_maybe_unsafe({column}) = 1"
    # PostgreSQL text never holds NUL, and a NUL cannot be sent in a pattern either.
    if is_json:
        return f"(CAST({column} AS TEXT) ~ :unsafe OR strpos(CAST({column} AS TEXT), '\\') > 0)"
    return f"{column} ~ :unsafe"


def _clean_people(people: Any) -> Any:
    """A list of {"name", "address"} with names cleaned and unsafe characters out of addresses."""
    if not isinstance(people, list):
        return people
    out = []
    for person in people:
        if isinstance(person, dict):
            person = dict(person)
            if isinstance(name := person.get("name"), str):
                person["name"] = clean_text(name)
            if isinstance(address := person.get("address"), str):
                person["address"] = _UNSAFE.sub("", address)
        out.append(person)
    return out


def _cleaned(row: Any, text: tuple[str, ...], js: tuple[str, ...]) -> dict[str, Any]:
    """The columns of one row that change, with their new values."""
    changed: dict[str, Any] = {}
    for column in text:
        value = getattr(row, column)
        if value is not None and (clean := clean_text(value)) != value:
            changed[column] = clean
    for column in js:
        value = getattr(row, column)
        people = json.loads(value) if isinstance(value, str) else value
        if (clean := _clean_people(people)) != people:
            changed[column] = clean
    return changed


def _repair(conn: sa.Connection, table: str, text: tuple[str, ...], js: tuple[str, ...]) -> int:
    columns = text + js
    where = " OR ".join(_suspect(conn, c, c in js) for c in columns)
    # The pattern leaves NUL out: PostgreSQL text never holds one, nor can a parameter.
    params = {} if conn.dialect.name == "sqlite" else {"unsafe": f"[\x01{UNSAFE_CHARS[1:]}]"}
    select = sa.text(
        f"SELECT id, {', '.join(columns)} FROM {table}"
        f" WHERE id > :last AND ({where}) ORDER BY id LIMIT {_BATCH}"
    )
    repaired, last = 0, 0
    while rows := conn.execute(select, {"last": last, **params}).all():
        last = rows[-1].id
        for row in rows:
            changed = _cleaned(row, text, js)
            if table == "message" and "subject" in changed:
                changed["norm_subject"] = normalize_subject(changed["subject"])
            if changed:
                kinds = [sa.column(c, sa.JSON() if c in js else sa.String()) for c in changed]
                target = sa.table(table, sa.column("id"), *kinds)
                conn.execute(sa.update(target).where(target.c.id == row.id).values(changed))
                repaired += 1
    return repaired


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        raw = cast("sqlite3.Connection", conn.connection.driver_connection)
        raw.create_function("bridge_maybe_unsafe", 1, _maybe_unsafe, deterministic=True)
    for table, (text, js) in _COLUMNS.items():
        _repair(conn, table, text, js)


def downgrade() -> None:
    """Nothing to undo: the control characters are not worth putting back."""
