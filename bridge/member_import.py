"""`bridge member import`: many members of one community from a CSV file, all or nothing.

One person a line: the address, then optionally the role (member or
moderator) and a display name. A first line naming the columns (`email`,
`role`, `name`, in any order) is read as a header. Every line is checked
before anything is written, so a file with a bad line imports nothing and
each problem is reported with its line number; a good file is written in one
transaction, each membership audited as `bridge member add` would.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from bridge import admin
from bridge.errors import UsageError
from threads.errors import InvalidAddress
from threads.models import AuditEntry, Membership, Person, utcnow
from threads.people import normalize_email

ROLES = ("member", "moderator")
COLUMNS = ("email", "role", "name")
P, MS = Person.__table__, Membership.__table__
# Addresses per IN (...) list: well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500


@dataclass(frozen=True, slots=True)
class MemberLine:
    line: int  # 1-based, as an editor shows it
    email: str  # normalised
    role: str
    name: str


def read_members(text: str, default_role: str = "member") -> tuple[list[MemberLine], list[str]]:
    """The file's people and its problems ("line N: what is wrong"); pure, no database."""
    rows = list(csv.reader(io.StringIO(text)))
    columns = list(COLUMNS)
    start = 0
    if rows and rows[0] and rows[0][0].strip().lower() in COLUMNS:
        header = [cell.strip().lower() for cell in rows[0]]
        unknown = [c for c in header if c not in COLUMNS]
        if unknown or "email" not in header:
            return [], [f"line 1: columns are {', '.join(COLUMNS)} (email required), not {unknown}"]
        columns, start = header, 1
    people: list[MemberLine] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, cells in enumerate(rows[start:], start=start + 1):
        if not any(cell.strip() for cell in cells) or cells[0].lstrip().startswith("#"):
            continue  # blank lines and comments
        if len(cells) > len(columns):
            problems.append(f"line {number}: {len(cells)} fields, expected at most {len(columns)}")
            continue
        values = dict(zip(columns, (cell.strip() for cell in cells), strict=False))
        try:
            email = normalize_email(values.get("email", ""))
        except InvalidAddress as exc:
            problems.append(f"line {number}: '{values.get('email', '')}' {exc}")
            continue
        role = (values.get("role") or default_role).lower()
        if role not in ROLES:
            problems.append(f"line {number}: role '{role}': choose member or moderator")
            continue
        if email in seen:
            problems.append(f"line {number}: {email} is already on line {seen[email]}")
            continue
        seen[email] = number
        people.append(MemberLine(number, email, role, values.get("name", "")))
    return people, problems


def import_members(
    conn: Connection, slug: str, people: list[MemberLine], *, actor: str
) -> Counter[str]:
    """Make each person a member or moderator of `slug` in the caller's transaction;
    returns how many of each role the file holds.

    In bulk (a few statements for the whole file, not a few per person), with
    the rows and audit entries `bridge member add` would write one by one.
    """
    cid = admin.community_id_of(conn, slug)
    now = utcnow()
    ids = _person_ids(conn, [x.email for x in people])
    new = [x for x in people if x.email not in ids]
    if new:
        try:
            conn.execute(
                insert(P),
                [
                    {"email": x.email, "name": x.name, "created_at": now}
                    | {"is_admin": False, "disabled": False}
                    for x in new
                ],
            )
        except IntegrityError as exc:  # someone added one of them meanwhile
            raise UsageError("people were added while importing; run the import again") from exc
        ids |= _person_ids(conn, [x.email for x in new])
    roles = {
        int(pid): str(role)
        for pid, role in conn.execute(
            select(MS.c.person_id, MS.c.role).where(MS.c.community_id == cid)
        )
    }
    changed = [x for x in people if roles.get(ids[x.email]) != x.role]
    fresh = [x for x in changed if ids[x.email] not in roles]
    if fresh:
        conn.execute(
            insert(MS),
            [
                {"community_id": cid, "person_id": ids[x.email], "role": x.role, "created_at": now}
                for x in fresh
            ],
        )
    for x in changed:
        if ids[x.email] in roles:  # a role changed: rare, one statement each
            conn.execute(
                update(MS)
                .where(MS.c.community_id == cid, MS.c.person_id == ids[x.email])
                .values(role=x.role)
            )
    if changed:
        conn.execute(
            insert(AuditEntry.__table__),
            [
                {
                    "at": now,
                    "actor": actor,
                    "action": "member.set",
                    "target": f"{slug} {x.email}",
                    "before": {"role": roles[ids[x.email]]} if ids[x.email] in roles else None,
                    "after": {"role": x.role},
                }
                for x in changed
            ],
        )
    return Counter(person.role for person in people)


def _person_ids(conn: Connection, emails: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(emails), CHUNK):
        chunk = emails[start : start + CHUNK]
        rows = conn.execute(select(P.c.email, P.c.id).where(P.c.email.in_(chunk)))
        out |= {str(email): int(pid) for email, pid in rows}
    return out
