"""Communities, people, memberships and the audit log: the admin operations on who may do what.

Shared by the CLI and the admin pages, one implementation each. Each operation
takes a Connection and writes in its caller's transaction
(`with writer(engine).begin() as conn: admin.set_member(conn, ...)`), so a
caller can check and act in one transaction. Routes and polled folders are
bridge/route_admin.py; held mail and the incoming log are bridge/moderation.py.

Every operation that changes who may do what, or what the bridge does with
mail, writes an audit entry in the same transaction (`audit`; `audit_log`:
who, what, when, the state before and after), so the record cannot miss an
action that happened or claim one that did not.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from bridge.errors import UsageError
from threads.errors import InvalidAddress
from threads.models import (
    AuditEntry,
    Community,
    Membership,
    Person,
    Posting,
    Role,
    Route,
    RouteKind,
    RoutePolicy,
    Visibility,
    WebSession,
    utcnow,
)
from threads.people import normalize_email

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def add_community(
    conn: Connection,
    slug: str,
    name: str,
    visibility: str = "org",
    description: str = "",
    addresses: list[str] | None = None,
    *,
    posting: str = "org",
    actor: str = "cli",
) -> int:
    if not _SLUG.match(slug):
        raise UsageError(f"slug '{slug}': use lower-case letters, digits and '-' (max 63)")
    _check_choices(visibility, posting)
    try:
        cid = conn.execute(
            insert(Community.__table__).values(
                slug=slug,
                name=name,
                description=description,
                visibility=visibility,
                posting=posting,
                archived=False,
                created_at=utcnow(),
            )
        ).inserted_primary_key[0]  # type: ignore[index]  # set after every INSERT
    except IntegrityError as exc:
        raise UsageError(f"community '{slug}' already exists") from exc
    for address in addresses or []:
        insert_route(conn, cid, RouteKind.address, address)
    audit(conn, actor, "community.create", slug, None, _community_state(conn, cid))
    return int(cid)


def insert_route(
    conn: Connection,
    community_id: int,
    kind: RouteKind,
    value: str,
    policy: str = RoutePolicy.open.value,
    cc_threshold: int = 0,
) -> str:
    """Insert one route row for `community_id`; returns the stored (normalised) value.

    The one place a route row is written: a new community's addresses and
    bridge/route_admin.py `add_route` both come here.
    """
    value = value.strip().strip("<>").lower()
    if kind in (RouteKind.address, RouteKind.list_address) and not _ADDRESS.match(value):
        raise UsageError(f"'{value}' is not an e-mail address")
    if not value:
        raise UsageError("a route needs a value")
    try:
        conn.execute(
            insert(Route.__table__).values(
                community_id=community_id,
                kind=kind,
                value=value,
                policy=policy,
                cc_threshold=cc_threshold,
            )
        )
    except IntegrityError as exc:
        raise UsageError(f"{kind} '{value}' is already routed") from exc
    return value


# --- audit log, people, memberships, community settings ---------------------------------


def audit(
    conn: Connection,
    actor: str,
    action: str,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Record an admin action in the caller's transaction."""
    conn.execute(
        insert(AuditEntry.__table__).values(
            at=utcnow(), actor=actor, action=action, target=target, before=before, after=after
        )
    )


def audit_log(conn: Connection, *, limit: int = 200) -> list[Any]:
    a = AuditEntry.__table__
    return list(conn.execute(select(a).order_by(a.c.id.desc()).limit(limit)))


def _check_choices(visibility: str, posting: str) -> None:
    if visibility not in Visibility.__members__:
        raise UsageError(f"visibility '{visibility}': choose org, members or public")
    if posting not in Posting.__members__:
        raise UsageError(f"posting '{posting}': choose members, org or anyone")


def community_id_of(conn: Connection, slug: str) -> int:
    """The id of community `slug`; a UsageError if there is none."""
    cid = conn.execute(select(col(Community.id)).where(col(Community.slug) == slug)).scalar()
    if cid is None:
        raise UsageError(f"no community '{slug}'")
    return int(cid)


def community_listing(conn: Connection) -> list[dict[str, Any]]:
    """Every community by slug, archived ones too, with its settings and totals."""
    c = Community.__table__
    rows = conn.execute(
        select(
            c.c.slug,
            c.c.name,
            c.c.visibility,
            c.c.posting,
            c.c.archived,
            c.c.thread_total,
            c.c.message_total,
        ).order_by(c.c.slug)
    )
    return [
        {
            "slug": r.slug,
            "name": r.name,
            "visibility": str(r.visibility),
            "posting": str(r.posting),
            "archived": bool(r.archived),
            "threads": int(r.thread_total or 0),
            "messages": int(r.message_total or 0),
        }
        for r in rows
    ]


def _community_state(conn: Connection, cid: int) -> dict[str, Any]:
    c = Community.__table__
    row = conn.execute(
        select(
            c.c.slug, c.c.name, c.c.description, c.c.visibility, c.c.posting, c.c.archived
        ).where(c.c.id == cid)
    ).one()
    return {k: (str(v) if k in ("visibility", "posting") else v) for k, v in row._mapping.items()}


def edit_community(
    conn: Connection,
    slug: str,
    *,
    actor: str = "cli",
    name: str | None = None,
    description: str | None = None,
    visibility: str | None = None,
    posting: str | None = None,
    archived: bool | None = None,
) -> None:
    """Change a community's settings; only the given fields change."""
    changes = {
        k: v
        for k, v in {
            "name": name,
            "description": description,
            "visibility": visibility,
            "posting": posting,
            "archived": archived,
        }.items()
        if v is not None
    }
    if name is not None and not name.strip():
        raise UsageError("a community needs a name")
    cid = community_id_of(conn, slug)
    before = _community_state(conn, cid)
    _check_choices(visibility or before["visibility"], posting or before["posting"])
    if not changes:
        return
    conn.execute(update(Community.__table__).where(col(Community.id) == cid).values(**changes))
    after = _community_state(conn, cid)
    if after != before:
        action = "community.archive" if changes.get("archived") else "community.edit"
        audit(conn, actor, action, slug, before, after)


def ensure_person(conn: Connection, email: str, name: str = "") -> tuple[int, str]:
    """The person for `email` (created if new): (id, normalised address)."""
    try:
        key = normalize_email(email)
    except InvalidAddress as exc:
        raise UsageError(f"'{email}': {exc}") from exc
    p = Person.__table__
    pid = conn.execute(select(p.c.id).where(p.c.email == key)).scalar()
    if pid is None:
        try:
            with conn.begin_nested():
                pid = conn.execute(
                    insert(p).values(
                        email=key, name=name, created_at=utcnow(), is_admin=False, disabled=False
                    )
                ).inserted_primary_key[0]  # type: ignore[index]  # set after every INSERT
        except IntegrityError:  # someone else created it meanwhile
            pid = conn.execute(select(p.c.id).where(p.c.email == key)).scalar_one()
    return int(pid), key


def _person_flags(conn: Connection, pid: int) -> dict[str, Any]:
    p = Person.__table__
    row = conn.execute(select(p.c.is_admin, p.c.disabled).where(p.c.id == pid)).one()
    return {"is_admin": bool(row.is_admin), "disabled": bool(row.disabled)}


def set_admin(conn: Connection, email: str, admin: bool = True, *, actor: str = "cli") -> str:
    """Grant (or revoke) bridge-wide admin rights; returns the normalised address."""
    pid, key = ensure_person(conn, email)
    before = _person_flags(conn, pid)
    conn.execute(update(Person.__table__).where(col(Person.id) == pid).values(is_admin=admin))
    after = _person_flags(conn, pid)
    if after != before:
        audit(conn, actor, "admin.grant" if admin else "admin.revoke", key, before, after)
    return key


def set_disabled(conn: Connection, email: str, disabled: bool = True, *, actor: str = "cli") -> str:
    """Disable a person (ends their sessions) or enable them again."""
    pid, key = ensure_person(conn, email)
    before = _person_flags(conn, pid)
    conn.execute(update(Person.__table__).where(col(Person.id) == pid).values(disabled=disabled))
    if disabled:
        conn.execute(delete(WebSession.__table__).where(col(WebSession.person_id) == pid))
    after = _person_flags(conn, pid)
    if after != before:
        action = "person.disable" if disabled else "person.enable"
        audit(conn, actor, action, key, before, after)
    return key


def set_member(
    conn: Connection, slug: str, email: str, role: str | None = "member", *, actor: str = "cli"
) -> str:
    """Make `email` a member or moderator of `slug`, or (role None) remove them."""
    if role is not None and role not in Role.__members__:
        raise UsageError(f"role '{role}': choose member or moderator")
    ms = Membership.__table__
    cid = community_id_of(conn, slug)
    pid, key = ensure_person(conn, email)
    old = conn.execute(
        select(ms.c.role).where(ms.c.community_id == cid, ms.c.person_id == pid)
    ).scalar()
    if old == role:
        return key
    if old is not None:
        conn.execute(delete(ms).where(ms.c.community_id == cid, ms.c.person_id == pid))
    if role is not None:
        conn.execute(
            insert(ms).values(community_id=cid, person_id=pid, role=role, created_at=utcnow())
        )
    audit(
        conn,
        actor,
        "member.remove" if role is None else "member.set",
        f"{slug} {key}",
        {"role": str(old)} if old is not None else None,
        {"role": role} if role is not None else None,
    )
    return key


def members(conn: Connection, community_id: int) -> list[Any]:
    ms, p = Membership.__table__, Person.__table__
    return list(
        conn.execute(
            select(p.c.email, p.c.name, p.c.disabled, ms.c.role)
            .join(p, p.c.id == ms.c.person_id)
            .where(ms.c.community_id == community_id)
            .order_by(ms.c.role.desc(), p.c.email)
        )
    )
