"""Read queries for pages, the API, feeds and exports; each takes the connection explicitly.

Every function that returns communities, threads, messages or attachments
takes the ids of the communities the viewer may read (threads/access.py) and
applies them inside the query, so a thread one may not read looks exactly like
one that does not exist. `readable=None` means "everything" and is for the
shell's export only.

Pages are bounded: lists use the (community, last activity) index and a page
of ids, and per-thread details (participants, last reply, how it started) are
read for that page only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, exists, func, select

from threads.models import (
    Attachment,
    Community,
    Message,
    RawMessage,
    Thread,
    as_utc,
    utcnow,
)

# The thread page's reads live in threads/thread_reads.py; re-exported for the other readers.
from threads.people import distinct_writers
from threads.thread_reads import ThreadMessage as ThreadMessage
from threads.thread_reads import thread_messages as thread_messages

C, T, M, A = Community.__table__, Thread.__table__, Message.__table__, Attachment.__table__
R = RawMessage.__table__
# Sources whose mail came from someone's mail client rather than the web reply box.
MAIL_SOURCES = ("smtp", "imap", "import", "demo")
ACTIVE_DAYS = 30


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
    active_threads: int = 0  # threads with a message in the last ACTIVE_DAYS days
    recent: list[tuple[int, str]] = field(default_factory=list)  # (thread id, subject)


def communities(
    conn: Connection, readable: Sequence[int] | None = None, *, recent: int = 0
) -> list[CommunitySummary]:
    """Readable, unarchived communities by name with their activity at a glance.

    Totals come from the community row (kept by triggers, migration 0012); the
    last activity and the `recent` threads from the newest end of the
    community's thread index: nothing here reads a whole community.
    """
    stmt = select(C).where(C.c.archived.is_(False)).order_by(C.c.name)
    if readable is not None:
        stmt = stmt.where(C.c.id.in_(list(readable)))
    rows = conn.execute(stmt).all()
    since = utcnow() - timedelta(days=ACTIVE_DAYS)
    active: dict[int, int] = dict(
        conn.execute(
            select(T.c.community_id, func.count())
            .where(
                T.c.community_id.in_([r.id for r in rows]),
                T.c.last_activity_at >= since,
                T.c.message_count > 0,
            )
            .group_by(T.c.community_id)
        ).all()
    )
    out = []
    for r in rows:
        # Both from the (community_id, last_activity_at) index. A thread with no
        # real message left has no last activity, so max() needs no filter.
        last = conn.execute(
            select(func.max(T.c.last_activity_at)).where(T.c.community_id == r.id)
        ).scalar()
        latest = (
            conn.execute(
                select(T.c.id, T.c.subject)
                .where(T.c.community_id == r.id, T.c.message_count > 0)
                .order_by(T.c.last_activity_at.desc(), T.c.id.desc())
                .limit(recent)
            ).all()
            if recent
            else []
        )
        out.append(
            CommunitySummary(
                r.id,
                r.slug,
                r.name,
                r.description,
                r.visibility,
                r.thread_total,
                r.message_total,
                as_utc(last),
                active.get(r.id, 0),
                [(t.id, t.subject) for t in latest],
            )
        )
    return out


def community_by_slug(conn: Connection, slug: str, readable: Sequence[int] | None = None) -> Any:
    stmt = select(C).where(C.c.slug == slug)
    if readable is not None:
        stmt = stmt.where(C.c.id.in_(list(readable)))
    return conn.execute(stmt).first()


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    address: str


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
    people: list[Person] = field(default_factory=list)
    started_by_email: bool = True
    starter: str = ""
    attachments: int = 0
    community_slug: str = ""
    # The addresses behind `last_from` and `starter` (which are a name, or that address).
    last_from_addr: str = ""
    starter_addr: str = ""


@dataclass(frozen=True, slots=True)
class ThreadFilters:
    """What a community's list can be narrowed to."""

    unanswered: bool = False
    attachments: bool = False
    person: str = ""  # an address: threads this person wrote in

    @property
    def any(self) -> bool:
        return self.unanswered or self.attachments or bool(self.person)


def threads_page(
    conn: Connection,
    community_id: int,
    *,
    offset: int = 0,
    limit: int = 30,
    filters: ThreadFilters | None = None,
) -> tuple[list[ThreadSummary], int | None, bool]:
    """A community's threads by last activity, newest first; the total; whether more follow.

    The total is None when filters are applied: counting every thread that
    has an attachment would read the whole community; the page then knows only
    whether there is a next one (it asks for one row more).
    """
    filters = filters or ThreadFilters()
    where = [T.c.community_id == community_id, T.c.message_count > 0]
    if filters.unanswered:
        where.append(T.c.message_count == 1)
    if filters.attachments:
        where.append(
            exists().where(
                M.c.thread_id == T.c.id, M.c.attachment_count > 0, M.c.placeholder.is_(False)
            )
        )
    if filters.person:
        where.append(
            T.c.id.in_(
                select(M.c.thread_id).where(
                    M.c.from_addr == filters.person,
                    _community(conn, M.c.community_id) == community_id,
                    M.c.placeholder.is_(False),  # a withdrawn message keeps its from_addr
                )
            )
        )
    total = None
    if not filters.any:
        # Kept by triggers (migration 0012); threads whose every message was
        # withdrawn are not listed, and not counted either.
        total = conn.execute(select(C.c.thread_total).where(C.c.id == community_id)).scalar_one()
    rows = conn.execute(
        select(T)
        .where(*where)
        .order_by(T.c.last_activity_at.desc(), T.c.id.desc())
        .offset(offset)
        .limit(limit + 1)
    ).all()
    return summarize(conn, rows[:limit]), total, len(rows) > limit


def summarize(
    conn: Connection, rows: Sequence[Any], slugs: dict[int, str] | None = None
) -> list[ThreadSummary]:
    """ThreadSummary for thread rows: participants, who replied last, how it started."""
    ids = [r.id for r in rows]
    details = _thread_details(conn, ids)
    out = []
    for r in rows:
        d = details.get(r.id, _Details())
        out.append(
            ThreadSummary(
                r.id,
                r.subject,
                r.message_count,
                r.original_recipients,
                as_utc(r.started_at),
                as_utc(r.last_activity_at),
                [p.name for p in d.people][:6],
                d.last_from,
                d.people,
                d.source in MAIL_SOURCES,
                d.starter,
                d.attachments,
                (slugs or {}).get(r.community_id, ""),
                d.last_from_addr,
                d.starter_addr,
            )
        )
    return out


@dataclass
class _Details:
    people: list[Person] = field(default_factory=list)
    last_from: str = ""
    starter: str = ""
    source: str = "smtp"
    attachments: int = 0
    last_from_addr: str = ""
    starter_addr: str = ""


def _thread_details(conn: Connection, thread_ids: list[int]) -> dict[int, _Details]:
    """Per thread: distinct senders in order of first message, the last sender, the source."""
    if not thread_ids:
        return {}
    rows = conn.execute(
        select(
            M.c.thread_id,
            M.c.from_name,
            M.c.from_addr,
            M.c.raw_id,
            M.c.attachment_count,
        )
        .where(M.c.thread_id.in_(thread_ids), M.c.placeholder.is_(False))
        .order_by(M.c.thread_id, M.c.date, M.c.id)
    ).all()
    out: dict[int, _Details] = {}
    first_raw: dict[int, int] = {}
    writers: dict[int, list[tuple[str, str]]] = {}
    for tid, name, addr, raw_id, files in rows:
        d = out.get(tid)
        if d is None:
            d = out[tid] = _Details(starter=name or addr, starter_addr=addr)
            if raw_id is not None:
                first_raw[tid] = raw_id
        writers.setdefault(tid, []).append((name, addr))
        d.last_from = name or addr
        d.last_from_addr = addr
        d.attachments += files or 0
    for tid, pairs in writers.items():
        # Counted as the thread page counts them (one person under two addresses is one).
        out[tid].people = [Person(name, addr) for name, addr in distinct_writers(pairs)]
    if first_raw:
        sources = dict(
            conn.execute(
                select(R.c.id, R.c.source).where(R.c.id.in_(list(first_raw.values())))
            ).all()
        )
        for tid, raw_id in first_raw.items():
            out[tid].source = sources.get(raw_id, "smtp")
    return out


def thread_by_id(conn: Connection, thread_id: int, readable: Sequence[int] | None = None) -> Any:
    stmt = select(T, C.c.slug, C.c.name.label("community_name")).join(C, C.c.id == T.c.community_id)
    stmt = stmt.where(T.c.id == thread_id, T.c.message_count > 0)
    if readable is not None:
        stmt = stmt.where(T.c.community_id.in_(list(readable)))
    return conn.execute(stmt).first()


def thread_subject(conn: Connection, thread_id: int) -> str | None:
    """A thread's subject whoever may read it: for pages a signed link opens."""
    return conn.execute(select(T.c.subject).where(T.c.id == thread_id)).scalar()


def message_by_pk(conn: Connection, pk: int, readable: Sequence[int] | None) -> Any:
    """One real message, if readable."""
    stmt = select(M).where(M.c.id == pk, M.c.placeholder.is_(False))
    if readable is not None:
        stmt = stmt.where(M.c.community_id.in_(list(readable)))
    return conn.execute(stmt).first()


def attachment_by_id(conn: Connection, attachment_id: int, readable: Sequence[int] | None) -> Any:
    """An attachment with its message's raw id, if its message is readable."""
    stmt = (
        select(A, M.c.raw_id, M.c.community_id)
        .join(M, M.c.id == A.c.message_pk)
        .where(A.c.id == attachment_id)
    )
    if readable is not None:
        stmt = stmt.where(M.c.community_id.in_(list(readable)))
    return conn.execute(stmt).first()


def inline_attachments(conn: Connection, message_pk: int) -> dict[str, int]:
    """content-id -> attachment id, for rewriting cid: references of one message."""
    rows = conn.execute(
        select(A.c.content_id, A.c.id).where(
            A.c.message_pk == message_pk, A.c.content_id.isnot(None)
        )
    )
    return {cid: aid for cid, aid in rows if cid}


def raw_bytes(conn: Connection, raw_id: int) -> bytes | None:
    return conn.execute(select(R.c.data).where(R.c.id == raw_id)).scalar()


def thread_raw(conn: Connection, thread_id: int) -> list[tuple[bytes, str, datetime | None]]:
    """The raw bytes of a thread's messages, oldest first, with sender and date (for mbox)."""
    rows = conn.execute(
        select(R.c.data, M.c.from_addr, M.c.date)
        .join(R, R.c.id == M.c.raw_id)
        .where(M.c.thread_id == thread_id, M.c.placeholder.is_(False))
        .order_by(M.c.date, M.c.id)
    )
    return [(bytes(data), addr, as_utc(when)) for data, addr, when in rows]


def _community(conn: Connection, column: Any) -> Any:
    """The community column, made unusable as an index on SQLite (`+ 0`).

    Without table statistics SQLite rates "community_id = ?" as selective as
    "from_addr = ?" and walks a whole community through a composite index;
    the sender's index is the one that is small.
    """
    return column + 0 if conn.dialect.name == "sqlite" else column


@dataclass(frozen=True, slots=True)
class PersonMessage:
    pk: int
    thread_id: int
    subject: str
    date: datetime | None
    excerpt: str
    community_slug: str
    community_name: str


@dataclass
class PersonPage:
    address: str
    name: str
    messages: list[PersonMessage]
    communities: list[tuple[str, str, int]]  # slug, name, messages
    total: int
    first: datetime | None
    last: datetime | None


def person_page(
    conn: Connection,
    address: str,
    readable: Sequence[int] | None,
    *,
    offset: int = 0,
    limit: int = 30,
) -> PersonPage | None:
    """What someone wrote, where, newest first; None when nothing readable."""
    where = [M.c.from_addr == address, M.c.placeholder.is_(False)]
    if readable is not None:
        where.append(_community(conn, M.c.community_id).in_(list(readable)))
    per_community = conn.execute(
        select(
            C.c.slug,
            C.c.name,
            func.count(),
            func.min(M.c.date),
            func.max(M.c.date),
        )
        .join(C, C.c.id == M.c.community_id)
        .where(*where)
        .group_by(C.c.slug, C.c.name)
        .order_by(func.count().desc())
    ).all()
    if not per_community:
        return None
    rows = conn.execute(
        select(
            M.c.id,
            M.c.thread_id,
            M.c.subject,
            M.c.date,
            func.substr(M.c.visible_text, 1, 300),
            C.c.slug,
            C.c.name,
            M.c.from_name,
        )
        .join(C, C.c.id == M.c.community_id)
        .where(*where)
        .order_by(M.c.date.desc(), M.c.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    names = [r[7] for r in rows if r[7]]
    firsts = [as_utc(r[3]) for r in per_community if r[3] is not None]
    lasts = [as_utc(r[4]) for r in per_community if r[4] is not None]
    return PersonPage(
        address,
        names[0] if names else address,
        [PersonMessage(r[0], r[1], r[2], as_utc(r[3]), r[4] or "", r[5], r[6]) for r in rows],
        [(slug, name, count) for slug, name, count, _, _ in per_community],
        sum(r[2] for r in per_community),
        min(firsts) if firsts else None,
        max(lasts) if lasts else None,
    )


def recent_threads(conn: Connection, community_id: int, limit: int = 30) -> list[ThreadSummary]:
    """The most recently active threads of a community (the community's feed)."""
    rows = conn.execute(
        select(T)
        .where(T.c.community_id == community_id, T.c.message_count > 0)
        .order_by(T.c.last_activity_at.desc(), T.c.id.desc())
        .limit(limit)
    ).all()
    return summarize(conn, rows)


def latest_message(conn: Connection, thread_ids: list[int]) -> dict[int, Any]:
    """Per thread, its newest real message (for feed entries)."""
    out: dict[int, Any] = {}
    for tid in thread_ids:
        row = conn.execute(
            select(M.c.id, M.c.from_name, M.c.from_addr, M.c.date, M.c.visible_text)
            .where(M.c.thread_id == tid, M.c.placeholder.is_(False))
            .order_by(M.c.date.desc(), M.c.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            out[tid] = row
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
