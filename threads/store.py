"""Filing a parsed message into a community: thread assignment, storage, counters.

Thread membership is the set of messages connected by references (through
placeholders for ids we have not seen), by Outlook conversation key, or by a
careful subject match (threads/threading/ decides what links). Each new
message looks up everything it links to and merges the threads it finds, so
the partition is the same whatever order mail arrives in; a reply that came
before its parent already sits in the parent's placeholder thread, and the
display tree is computed at read time from the stored chains. All statements
are SQLAlchemy Core: this runs once per message on bulk import.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
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

from threads.errors import DuplicateMessage
from threads.models import (
    ConsentCandidate,
    Message,
    OutboundMail,
    Thread,
    ThreadRead,
    ThreadSeen,
    ThreadSubscription,
    as_utc,
)
from threads.threading import (
    CLOCK_SKEW,
    SUBJECT_WINDOW,
    ThreadCandidate,
    best_root,
    normalize_subject,
    reference_chain,
    subject_candidate,
    thread_index_key,
    thread_title,
)

MSG = Message.__table__
THREAD = Thread.__table__
# Tables that point at a thread, with the column that is unique per thread (if any).
_THREAD_DEPENDENTS: tuple[tuple[Any, str | None], ...] = (
    (ThreadSubscription, "address"),
    (ThreadRead, "person_id"),
    (ThreadSeen, "person_id"),
    (OutboundMail, None),
    (ConsentCandidate, None),
)


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
    # Whether the From was proven (threads/copies.py: whom its To/Cc may subscribe).
    sender_check: str = "unchecked"


@dataclass(frozen=True, slots=True)
class Filed:
    message_pk: int
    thread_id: int


def conversation_keys(community_id: int, letter: Letter) -> list[str]:
    """Everything filing `letter` can link through, as lock keys (see db.serialize_on)."""
    chain = reference_chain(letter.message_id, letter.in_reply_to, letter.references)
    keys = [f"{community_id}:id:{mid}" for mid in (letter.message_id, *chain)]
    if key := thread_index_key(letter.thread_index):
        keys.append(f"{community_id}:key:{key}")
    # Subject placement links a reply to an opening message with the same subject.
    keys.append(f"{community_id}:subject:{normalize_subject(letter.subject)}")
    return keys


def file_letter(
    conn: Connection, *, community_id: int, raw_id: int | None, letter: Letter
) -> Filed:
    """Store `letter` in its thread (creating, merging or re-placing threads as needed)."""
    chain = reference_chain(letter.message_id, letter.in_reply_to, letter.references)
    key = thread_index_key(letter.thread_index)
    me = subject_candidate(
        letter.message_id,
        letter.subject,
        chain=chain,
        thread_key=key,
        date=letter.date,
        sender=letter.from_addr,
        participants=_participants(letter.from_addr, letter.to, letter.cc),
    )
    known = _rows_by_message_id(conn, community_id, [letter.message_id, *chain])
    own = known.pop(letter.message_id, None)
    # A withdrawn message stays a placeholder; another copy of it must not refill it.
    if own is not None and (not own.placeholder or own.withdrawn_at is not None):
        raise DuplicateMessage(letter.message_id)
    # A reply placed only by its subject is now answered with real references:
    # it anchors this conversation instead (see threading.subject_links).
    anchored = [row for row in known.values() if row.subject_linked]
    linked = {row.thread_id for row in known.values() if not row.subject_linked}
    # Our own placeholder means someone referenced us, unless it is what
    # `bridge reprocess --all` left of a reply that had been placed by subject.
    relinkable = own is None or own.subject_linked
    if own is not None and not own.subject_linked:
        linked.add(own.thread_id)
    if key:
        linked |= set(conn.execute(_THREADS_WITH_KEY, {"c": community_id, "k": key}).scalars())
    by_subject = False
    if not linked and relinkable and me.reply_without_refs:
        root = _best_root_row(conn, community_id, me)
        if root is not None:
            linked, by_subject = {root.thread_id}, True
    thread_id, changed = _merge_or_create(conn, community_id, linked)
    for row in anchored:
        _move(conn, row.id, row.thread_id, thread_id, subject_linked=False)
        changed = True
    values = _message_values(letter, chain, key, me)
    values.update(thread_id=thread_id, raw_id=raw_id, placeholder=False, subject_linked=by_subject)
    if own is not None:
        conn.execute(_FILL_PLACEHOLDER, {**values, "pk": own.id})
        message_pk = own.id
        if own.thread_id != thread_id:
            _forget_if_empty(conn, own.thread_id, thread_id)
    else:
        values.update(community_id=community_id, message_id=letter.message_id)
        message_pk = conn.execute(_INSERT_MESSAGE, values).scalar_one()
    missing = [mid for mid in chain if mid not in known]
    if missing:
        conn.execute(
            _INSERT_PLACEHOLDER, [_placeholder(community_id, thread_id, m) for m in missing]
        )
    if changed:
        refresh_thread(conn, thread_id)
    else:
        _count_into_thread(conn, thread_id, letter)
    if me.opens_thread and me.norm_subject:
        _replace_lone_replies(conn, community_id, me)
    return Filed(message_pk, thread_id)


def _best_root_row(conn: Connection, community_id: int, reply: ThreadCandidate) -> Any:
    """The stored opening message `best_root` picks for a lone reply, or None."""
    if reply.date is None:
        return None  # may_answer needs both dates
    # Only opening messages from SUBJECT_WINDOW before the reply can fit it.
    window = {"lo": reply.date - SUBJECT_WINDOW, "hi": reply.date + CLOCK_SKEW}
    rows = {
        row.message_id: row
        for row in conn.execute(
            _SUBJECT_PEERS_BETWEEN.where(MSG.c.opens_thread.is_(True)),
            {"c": community_id, "s": reply.norm_subject, **window},
        )
    }
    chosen = best_root(reply, (_candidate(row) for row in rows.values()))
    return rows[chosen] if chosen is not None else None


def _replace_lone_replies(conn: Connection, community_id: int, opening: ThreadCandidate) -> None:
    """After a new opening message: put every lone reply it may answer where it now fits.

    A lone reply is reference-less and unreferenced: either placed by subject,
    or alone in its own thread because no opening message fitted before. Only
    replies from the new message's SUBJECT_WINDOW can choose it, and their other
    choices lie within a window before them; everything else keeps its place.
    Reading only that span keeps filing cheap when a subject recurs for years.
    """
    if opening.date is None:
        return  # may_answer needs both dates: no reply can choose this message
    start, end = opening.date - CLOCK_SKEW, opening.date + SUBJECT_WINDOW
    window = {"lo": start - SUBJECT_WINDOW, "hi": end + CLOCK_SKEW}
    peers = list(
        conn.execute(
            _SUBJECT_PEERS_BETWEEN, {"c": community_id, "s": opening.norm_subject, **window}
        )
    )
    roots = [_candidate(row) for row in peers if row.opens_thread]
    root_threads = {row.message_id: row.thread_id for row in peers if row.opens_thread}
    for row in peers:
        if not row.reply_without_refs or not start <= as_utc(row.date) <= end:
            continue
        if not (row.subject_linked or _alone(conn, row)):
            continue
        chosen = best_root(_candidate(row), roots)
        if chosen is not None and root_threads[chosen] != row.thread_id:
            _move(conn, row.id, row.thread_id, root_threads[chosen], subject_linked=True)
            refresh_thread(conn, root_threads[chosen])


def _alone(conn: Connection, row: Any) -> bool:
    return conn.execute(_THREAD_SIZE, {"t": row.thread_id}).scalar_one() == 1


def _move(conn: Connection, pk: int, old: int, new: int, *, subject_linked: bool) -> None:
    """Move one message to another thread; its old thread is refreshed or dropped if empty."""
    conn.execute(_MOVE_ONE, {"pk": pk, "t": new, "linked": subject_linked})
    if old != new:
        _forget_if_empty(conn, old, new)


def _forget_if_empty(conn: Connection, thread_id: int, successor: int) -> None:
    """Drop a thread that lost its last row to `successor`; otherwise recount it."""
    if conn.execute(_THREAD_SIZE, {"t": thread_id}).scalar_one() == 0:
        _retire_threads(conn, [thread_id], successor)
    else:
        refresh_thread(conn, thread_id)


def _retire_threads(conn: Connection, old: list[int], new: int) -> None:
    """Delete threads whose messages went to `new`; what pointed at them points at `new`.

    Follows, mutes, reads and queued mail belong to the conversation, not to
    the row that happened to hold it; the foreign keys also forbid dangling ids.
    """
    for table, unique in _THREAD_DEPENDENTS:
        t = table.__table__
        if unique:
            # The surviving thread's own row wins where both have one.
            kept = select(t.c[unique]).where(t.c.thread_id == new).scalar_subquery()
            conn.execute(delete(t).where(t.c.thread_id.in_(old), t.c[unique].in_(kept)))
        conn.execute(update(t).where(t.c.thread_id.in_(old)).values(thread_id=new))
    conn.execute(_DROP_THREADS, {"old": old})


def _candidate(row: Any) -> ThreadCandidate:
    return ThreadCandidate(
        message_id=row.message_id,
        norm_subject=row.norm_subject,
        reply_without_refs=row.reply_without_refs,
        opens_thread=row.opens_thread,
        date=as_utc(row.date),
        participants=_participants(row.from_addr, row.to_addrs or [], row.cc_addrs or []),
        sender=row.from_addr,
    )


def _participants(sender: str, *groups: Iterable[dict[str, str]]) -> frozenset[str]:
    addrs = {sender} if sender else set()
    for group in groups:
        addrs.update(a["address"].lower() for a in group if a.get("address"))
    return frozenset(addrs)


# Statements are built once with bound parameters so SQLAlchemy compiles each
# a single time; on bulk import this is most of the difference in speed.
_BY_MESSAGE_ID = select(
    MSG.c.id,
    MSG.c.message_id,
    MSG.c.thread_id,
    MSG.c.placeholder,
    MSG.c.subject_linked,
    MSG.c.withdrawn_at,
).where(
    MSG.c.community_id == bindparam("c"), MSG.c.message_id.in_(bindparam("ids", expanding=True))
)
_THREADS_WITH_KEY = (
    select(MSG.c.thread_id)
    .where(MSG.c.community_id == bindparam("c"), MSG.c.thread_key == bindparam("k"))
    .distinct()
)
_SUBJECT_PEERS = select(
    MSG.c.id,
    MSG.c.thread_id,
    MSG.c.message_id,
    MSG.c.norm_subject,
    MSG.c.reply_without_refs,
    MSG.c.opens_thread,
    MSG.c.subject_linked,
    MSG.c.date,
    MSG.c.from_addr,
    MSG.c.to_addrs,
    MSG.c.cc_addrs,
).where(
    MSG.c.community_id == bindparam("c"),
    MSG.c.norm_subject == bindparam("s"),
    MSG.c.placeholder.is_(False),
)
_SUBJECT_PEERS_BETWEEN = _SUBJECT_PEERS.where(
    MSG.c.date >= bindparam("lo"), MSG.c.date <= bindparam("hi")
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
    "sender_check",
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
_MOVE_ONE = (
    update(MSG)
    .where(MSG.c.id == bindparam("pk"))
    .values(thread_id=bindparam("t"), subject_linked=bindparam("linked"))
)
_THREAD_SIZE = select(func.count()).where(MSG.c.thread_id == bindparam("t"))
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


def _merge_or_create(conn: Connection, community_id: int, linked: set[int]) -> tuple[int, bool]:
    """The thread to file into, and whether threads were merged to get it."""
    if not linked:
        return conn.execute(_NEW_THREAD, {"community_id": community_id}).scalar_one(), False
    target, *others = sorted(linked)
    if others:
        conn.execute(_MOVE_MESSAGES, {"old": others, "new": target})
        _retire_threads(conn, others, target)
    return target, bool(others)


def _count_into_thread(conn: Connection, thread_id: int, letter: Letter) -> None:
    """Add one message to a thread's counters without re-reading the thread."""
    audience = {a["address"].lower() for a in [*letter.to, *letter.cc]}
    conn.execute(
        _COUNT_INTO_THREAD,
        {"t": thread_id, "d": letter.date, "s": thread_title(letter.subject), "n": len(audience)},
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
        values.update(subject=thread_title(opener[0]), original_recipients=len(audience))
    conn.execute(update(THREAD).where(THREAD.c.id == thread_id).values(values))


def _message_values(
    letter: Letter, chain: list[str], key: str | None, me: ThreadCandidate
) -> dict[str, Any]:
    return {
        "chain": chain,
        "thread_key": key,
        "subject": letter.subject,
        "norm_subject": me.norm_subject,
        "reply_without_refs": me.reply_without_refs,
        "opens_thread": me.opens_thread,
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
        "sender_check": letter.sender_check,
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
        "opens_thread": False,
        "subject_linked": False,
        "from_name": "",
        "from_addr": "",
        "visible_text": "",
        "quoted_text": "",
        "signature": "",
        "auto_reply": False,
        "attachment_count": 0,
        "sender_check": "unchecked",
    }
