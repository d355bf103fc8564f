"""Filing a parsed message into a community: thread assignment, storage, counters.

Thread membership is the set of messages connected by references (through
placeholders for ids we have not seen), by Outlook conversation key, or by a
careful subject match (threads/threading.py decides what links). Each new
message looks up everything it links to and merges the threads it finds, so
the partition is the same whatever order mail arrives in; a reply that came
before its parent already sits in the parent's placeholder thread, and the
display tree is computed at read time from the stored chains. All statements
are SQLAlchemy Core: this runs once per message on bulk import.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from threads.models import Message, Thread
from threads.threading import (
    ThreadCandidate,
    has_reply_prefix,
    normalize_subject,
    reference_chain,
    subject_related,
    thread_index_key,
)

MSG = Message.__table__
THREAD = Thread.__table__


@dataclass(frozen=True, slots=True)
class Letter:
    """What the store needs of one message, already parsed and cleaned."""

    message_id: str
    in_reply_to: Sequence[str]
    references: Sequence[str]
    thread_index: str | None
    subject: str
    from_name: str
    from_addr: str
    to: list[dict[str, str]]
    cc: list[dict[str, str]]
    date: datetime | None
    visible_text: str
    quoted_text: str
    signature: str
    html: str | None
    auto_reply: bool
    sensitivity: str | None
    attachment_count: int


class DuplicateMessage(Exception):
    """This community already holds a message with this Message-ID."""


@dataclass(frozen=True, slots=True)
class Filed:
    message_pk: int
    thread_id: int


def file_letter(
    conn: Connection, *, community_id: int, raw_id: int | None, letter: Letter
) -> Filed:
    """Store `letter` in its thread (creating or merging threads as needed)."""
    chain = reference_chain(letter.message_id, letter.in_reply_to, letter.references)
    key = thread_index_key(letter.thread_index)
    norm = normalize_subject(letter.subject)
    candidate = ThreadCandidate(
        message_id=letter.message_id,
        norm_subject=norm,
        reply_without_refs=has_reply_prefix(letter.subject) and not chain,
        date=letter.date,
        participants=_participants(letter.from_addr, letter.to, letter.cc),
        sender=letter.from_addr,
    )
    known = _rows_by_message_id(conn, community_id, [letter.message_id, *chain])
    own = known.pop(letter.message_id, None)
    if own is not None and not own.placeholder:
        raise DuplicateMessage(letter.message_id)
    linked = {row.thread_id for row in known.values()}
    if own is not None:
        linked.add(own.thread_id)
    if key:
        linked |= set(conn.execute(_THREADS_WITH_KEY, {"c": community_id, "k": key}).scalars())
    if norm:
        linked |= _threads_by_subject(conn, community_id, candidate)
    thread_id, merged = _merge_or_create(conn, community_id, linked)
    values = _message_values(letter, chain, key, norm, candidate.reply_without_refs)
    values.update(thread_id=thread_id, raw_id=raw_id, placeholder=False)
    if own is not None:
        conn.execute(_FILL_PLACEHOLDER, {**values, "pk": own.id})
        message_pk = own.id
    else:
        values.update(community_id=community_id, message_id=letter.message_id)
        message_pk = conn.execute(_INSERT_MESSAGE, values).scalar_one()
    missing = [mid for mid in chain if mid not in known]
    if missing:
        conn.execute(
            _INSERT_PLACEHOLDER, [_placeholder(community_id, thread_id, m) for m in missing]
        )
    if merged:
        refresh_thread(conn, thread_id)
    else:
        _count_into_thread(conn, thread_id, letter)
    return Filed(message_pk, thread_id)


def _participants(sender: str, *groups: Iterable[dict[str, str]]) -> frozenset[str]:
    addrs = {sender} if sender else set()
    for group in groups:
        addrs.update(a["address"].lower() for a in group if a.get("address"))
    return frozenset(addrs)


# Statements are built once with bound parameters so SQLAlchemy compiles each
# a single time; on bulk import this is most of the difference in speed.
_BY_MESSAGE_ID = select(MSG.c.id, MSG.c.message_id, MSG.c.thread_id, MSG.c.placeholder).where(
    MSG.c.community_id == bindparam("c"), MSG.c.message_id.in_(bindparam("ids", expanding=True))
)
_THREADS_WITH_KEY = (
    select(MSG.c.thread_id)
    .where(MSG.c.community_id == bindparam("c"), MSG.c.thread_key == bindparam("k"))
    .distinct()
)
_SUBJECT_PEERS = select(
    MSG.c.thread_id,
    MSG.c.message_id,
    MSG.c.reply_without_refs,
    MSG.c.date,
    MSG.c.from_addr,
    MSG.c.to_addrs,
    MSG.c.cc_addrs,
).where(
    MSG.c.community_id == bindparam("c"),
    MSG.c.norm_subject == bindparam("s"),
    MSG.c.placeholder.is_(False),
)
_MESSAGE_FIELDS = (
    "chain",
    "thread_key",
    "subject",
    "norm_subject",
    "reply_without_refs",
    "from_name",
    "from_addr",
    "to_addrs",
    "cc_addrs",
    "date",
    "visible_text",
    "quoted_text",
    "signature",
    "html",
    "auto_reply",
    "sensitivity",
    "attachment_count",
    "thread_id",
    "raw_id",
    "placeholder",
)
_INSERT_MESSAGE = insert(MSG).returning(MSG.c.id)
_INSERT_PLACEHOLDER = insert(MSG)
_FILL_PLACEHOLDER = (
    update(MSG)
    .where(MSG.c.id == bindparam("pk"))
    .values({name: bindparam(name) for name in _MESSAGE_FIELDS})
)
_NEW_THREAD = insert(THREAD).returning(THREAD.c.id)
_MOVE_MESSAGES = (
    update(MSG)
    .where(MSG.c.thread_id.in_(bindparam("old", expanding=True)))
    .values(thread_id=bindparam("new"))
)
_DROP_THREADS = delete(THREAD).where(THREAD.c.id.in_(bindparam("old", expanding=True)))


def _opener_case(new: Any, old: Any) -> Any:
    """SQL: `new` when this message opens the thread (earliest so far), else `old`."""
    opens = or_(THREAD.c.started_at.is_(None), THREAD.c.started_at > bindparam("d"))
    return case((opens, new), else_=old)


_COUNT_INTO_THREAD = (
    update(THREAD)
    .where(THREAD.c.id == bindparam("t"))
    .values(
        message_count=THREAD.c.message_count + 1,
        last_activity_at=case(
            (
                or_(
                    THREAD.c.last_activity_at.is_(None), THREAD.c.last_activity_at < bindparam("d")
                ),
                bindparam("d"),
            ),
            else_=THREAD.c.last_activity_at,
        ),
        subject=_opener_case(bindparam("s"), THREAD.c.subject),
        original_recipients=_opener_case(bindparam("n"), THREAD.c.original_recipients),
        started_at=_opener_case(bindparam("d"), THREAD.c.started_at),
    )
)


def _rows_by_message_id(conn: Connection, community_id: int, ids: list[str]) -> dict[str, Any]:
    rows = conn.execute(_BY_MESSAGE_ID, {"c": community_id, "ids": ids})
    return {row.message_id: row for row in rows}


def _threads_by_subject(conn: Connection, community_id: int, me: ThreadCandidate) -> set[int]:
    """Threads holding a message that `subject_related` links to `me` (either direction)."""
    stmt = _SUBJECT_PEERS
    if not me.reply_without_refs:
        # Only a reply that lost its references may link by subject; look for those.
        stmt = stmt.where(MSG.c.reply_without_refs.is_(True))
    found: set[int] = set()
    for row in conn.execute(stmt, {"c": community_id, "s": me.norm_subject}):
        other = ThreadCandidate(
            message_id=row.message_id,
            norm_subject=me.norm_subject,
            reply_without_refs=row.reply_without_refs,
            date=_aware(row.date),
            participants=_participants(row.from_addr, row.to_addrs or [], row.cc_addrs or []),
            sender=row.from_addr,
        )
        if subject_related(me, other):
            found.add(row.thread_id)
    return found


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _merge_or_create(conn: Connection, community_id: int, linked: set[int]) -> tuple[int, bool]:
    """The thread to file into, and whether threads were merged to get it."""
    if not linked:
        return conn.execute(_NEW_THREAD, {"community_id": community_id}).scalar_one(), False
    target, *others = sorted(linked)
    if others:
        conn.execute(_MOVE_MESSAGES, {"old": others, "new": target})
        conn.execute(_DROP_THREADS, {"old": others})
    return target, bool(others)


def _count_into_thread(conn: Connection, thread_id: int, letter: Letter) -> None:
    """Add one message to a thread's counters without re-reading the thread."""
    audience = {a["address"].lower() for a in [*letter.to, *letter.cc]}
    conn.execute(
        _COUNT_INTO_THREAD,
        {"t": thread_id, "d": letter.date, "s": letter.subject, "n": len(audience)},
    )


def refresh_thread(conn: Connection, thread_id: int) -> None:
    """Recompute a thread's counters and headline from its real messages."""
    real = and_(MSG.c.thread_id == thread_id, MSG.c.placeholder.is_(False))
    count, first, last = conn.execute(
        select(func.count(), func.min(MSG.c.date), func.max(MSG.c.date)).where(real)
    ).one()
    opener = conn.execute(
        select(MSG.c.subject, MSG.c.to_addrs, MSG.c.cc_addrs)
        .where(real)
        .order_by(MSG.c.date.is_(None), MSG.c.date, MSG.c.id)
        .limit(1)
    ).first()
    values: dict[str, Any] = {
        "message_count": count,
        "started_at": first,
        "last_activity_at": last,
    }
    if opener is not None:
        audience = {a["address"].lower() for a in [*(opener[1] or []), *(opener[2] or [])]}
        values.update(subject=opener[0], original_recipients=len(audience))
    conn.execute(update(THREAD).where(THREAD.c.id == thread_id).values(values))


def _message_values(
    letter: Letter, chain: list[str], key: str | None, norm: str, reply_without_refs: bool
) -> dict[str, Any]:
    return {
        "chain": chain,
        "thread_key": key,
        "subject": letter.subject,
        "norm_subject": norm,
        "reply_without_refs": reply_without_refs,
        "from_name": letter.from_name,
        "from_addr": letter.from_addr,
        "to_addrs": letter.to,
        "cc_addrs": letter.cc,
        "date": letter.date,
        "visible_text": letter.visible_text,
        "quoted_text": letter.quoted_text,
        "signature": letter.signature,
        "html": letter.html,
        "auto_reply": letter.auto_reply,
        "sensitivity": letter.sensitivity,
        "attachment_count": letter.attachment_count,
    }


def _placeholder(community_id: int, thread_id: int, message_id: str) -> dict[str, Any]:
    return {
        "community_id": community_id,
        "thread_id": thread_id,
        "message_id": message_id,
        "placeholder": True,
        "chain": [],
        "subject": "",
        "norm_subject": "",
        "reply_without_refs": False,
        "from_name": "",
        "from_addr": "",
        "visible_text": "",
        "quoted_text": "",
        "signature": "",
        "auto_reply": False,
        "attachment_count": 0,
    }
