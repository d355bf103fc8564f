"""Read queries for pages, the API and exports; each takes the connection explicitly.

Access rules arrive with the identity work: every function that returns
messages already takes the set of community ids the viewer may read, so the
filter lives inside the query, not after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from threads.models import Attachment, Community, Message, Thread, as_utc
from threads.threading import TreeNode, build_tree, order_for_display

C, T, M, A = Community.__table__, Thread.__table__, Message.__table__, Attachment.__table__


@dataclass(frozen=True, slots=True)
class CommunitySummary:
    id: int
    slug: str
    name: str
    description: str
    visibility: str
    threads: int
    messages: int
    last_activity: datetime | None


def communities(conn: Connection, readable: Sequence[int] | None = None) -> list[CommunitySummary]:
    stats = (
        select(
            T.c.community_id,
            func.count().label("threads"),
            func.coalesce(func.sum(T.c.message_count), 0).label("messages"),
            func.max(T.c.last_activity_at).label("last"),
        )
        .group_by(T.c.community_id)
        .subquery()
    )
    stmt = (
        select(C, stats.c.threads, stats.c.messages, stats.c.last)
        .select_from(C.outerjoin(stats, stats.c.community_id == C.c.id))
        .where(C.c.archived.is_(False))
        .order_by(C.c.name)
    )
    if readable is not None:
        stmt = stmt.where(C.c.id.in_(readable))
    return [
        CommunitySummary(
            r.id,
            r.slug,
            r.name,
            r.description,
            r.visibility,
            r.threads or 0,
            r.messages or 0,
            as_utc(r.last),
        )
        for r in conn.execute(stmt)
    ]


def community_by_slug(conn: Connection, slug: str) -> Any:
    return conn.execute(select(C).where(C.c.slug == slug)).first()


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    id: int
    subject: str
    message_count: int
    original_recipients: int
    started_at: datetime | None
    last_activity_at: datetime | None
    participants: list[str]
    last_from: str


def threads_page(
    conn: Connection, community_id: int, *, offset: int = 0, limit: int = 30
) -> tuple[list[ThreadSummary], int]:
    """A community's threads by last activity, newest first, and the total count."""
    where = (T.c.community_id == community_id) & (T.c.message_count > 0)
    total = conn.execute(select(func.count()).select_from(T).where(where)).scalar_one()
    rows = conn.execute(
        select(T)
        .where(where)
        .order_by(T.c.last_activity_at.desc(), T.c.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    people = _participants(conn, [r.id for r in rows])
    out = [
        ThreadSummary(
            r.id,
            r.subject,
            r.message_count,
            r.original_recipients,
            as_utc(r.started_at),
            as_utc(r.last_activity_at),
            [name for name, _ in people.get(r.id, [])][:6],
            people.get(r.id, [("", "")])[-1][0],
        )
        for r in rows
    ]
    return out, total


def _participants(conn: Connection, thread_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """Per thread, distinct senders in order of first message (name, address)."""
    if not thread_ids:
        return {}
    rows = conn.execute(
        select(M.c.thread_id, M.c.from_name, M.c.from_addr)
        .where(M.c.thread_id.in_(thread_ids), M.c.placeholder.is_(False))
        .order_by(M.c.thread_id, M.c.date, M.c.id)
    )
    out: dict[int, list[tuple[str, str]]] = {}
    for tid, name, addr in rows:
        seen = out.setdefault(tid, [])
        if all(addr != a for _, a in seen):
            seen.append((name or addr, addr))
    return out


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    pk: int
    message_id: str
    parent: str | None
    depth: int
    subject: str
    from_name: str
    from_addr: str
    to: list[dict[str, str]]
    cc: list[dict[str, str]]
    date: datetime | None
    visible_text: str
    quoted_text: str
    signature: str
    attachments: list[Any]


def thread_by_id(conn: Connection, thread_id: int, readable: Sequence[int] | None = None) -> Any:
    stmt = select(T, C.c.slug, C.c.name.label("community_name")).join(C, C.c.id == T.c.community_id)
    stmt = stmt.where(T.c.id == thread_id, T.c.message_count > 0)
    if readable is not None:
        stmt = stmt.where(T.c.community_id.in_(readable))
    return conn.execute(stmt).first()


def thread_messages(conn: Connection, thread_id: int) -> list[ThreadMessage]:
    """The thread's real messages in conversation order, with display parent and depth."""
    rows = {
        r.message_id: r
        for r in conn.execute(
            select(M).where(M.c.thread_id == thread_id, M.c.placeholder.is_(False))
        )
    }
    nodes = [
        TreeNode(r.message_id, tuple(r.chain or ()), as_utc(r.date), r.norm_subject)
        for r in rows.values()
    ]
    parents = build_tree(nodes)
    files = _attachments(conn, [r.id for r in rows.values()])
    out = []
    for message_id, depth in order_for_display(nodes, parents):
        r = rows[message_id]
        out.append(
            ThreadMessage(
                r.id,
                r.message_id,
                parents.get(message_id),
                depth,
                r.subject,
                r.from_name,
                r.from_addr,
                r.to_addrs or [],
                r.cc_addrs or [],
                as_utc(r.date),
                r.visible_text,
                r.quoted_text,
                r.signature,
                files.get(r.id, []),
            )
        )
    return out


def _attachments(conn: Connection, message_pks: list[int]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    if message_pks:
        for row in conn.execute(select(A).where(A.c.message_pk.in_(message_pks)).order_by(A.c.id)):
            out.setdefault(row.message_pk, []).append(row)
    return out


def export_threads(conn: Connection, community_id: int) -> list[dict[str, Any]]:
    """Every thread of a community with its messages' tree, for `bridge export threads`."""
    out = []
    thread_ids = conn.execute(
        select(T.c.id)
        .where(T.c.community_id == community_id, T.c.message_count > 0)
        .order_by(T.c.started_at, T.c.id)
    ).scalars()
    for tid in thread_ids:
        messages = thread_messages(conn, tid)
        out.append(
            {
                "id": tid,
                "subject": messages[0].subject if messages else "",
                "messages": [
                    {
                        "message_id": m.message_id,
                        "parent": m.parent,
                        "from": m.from_addr,
                        "date": m.date.isoformat() if m.date else None,
                    }
                    for m in messages
                ],
            }
        )
    return out
