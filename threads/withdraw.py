"""An author withdraws one of their own messages: it leaves every page at once.

The message row is not deleted: it becomes a placeholder stamped with
`withdrawn_at`. Replies name it in their References, and a placeholder is
exactly what keeps a referenced-but-absent message's place, so the rest of
the conversation still threads the same way (threads/store.py). Every read
path already skips placeholders (pages, search, feeds, person pages, thread
counters, the mbox), so making the row one is what hides it everywhere.

What is kept, and why:
- `message_id` and `chain`: threading (above).
- `from_addr`: who wrote it, so the author (and an admin) can be told "you
  withdrew this", a second withdrawal is recognised, and the audit entry
  points at a person. It is never shown to other readers: placeholders are
  never listed with a sender.
- `date`: where the "withdrawn" line sits in the conversation.
- `raw_id`: the retention sweep finds the raw copy through it.
Everything a reader could learn the content from is cleared: subject, text,
quoted part, signature, HTML, events, recipients, the display name, the
attachments (rows now; unreferenced files after the commit, see
`remove_unreferenced_files`), the search index entry, and its line hashes among
its sender's learnt-signature tails (threads/signatures.py).

The raw message turns `withdrawn`, a state `bridge reprocess` never selects,
so no re-run brings the message back; its bytes are erased after
BRIDGE_WITHDRAWN_RAW_DAYS by `purge_withdrawn_raw`, keeping the sha256 so the
same bytes imported again are still recognised as a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, select, update

from threads import signatures
from threads.db import writer
from threads.models import (
    Attachment,
    AuditEntry,
    Message,
    Notification,
    OutboundMail,
    OutboundState,
    RawMessage,
    RawState,
    utcnow,
)
from threads.search import unindex_message
from threads.store import refresh_thread

M, A, R = Message.__table__, Attachment.__table__, RawMessage.__table__
N, OUT, AUDIT = Notification.__table__, OutboundMail.__table__, AuditEntry.__table__
WITHDRAWN_REASON = "withdrawn by its author on {day}"
# A notification that never went out because its message was withdrawn.
NOTIFICATION_WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """What a withdrawal did: the message, its thread, and attachment files to check."""

    message_pk: int
    thread_id: int
    file_digests: frozenset[str]


def is_author(from_addr: str | None, email: str | None) -> bool:
    """Whether `email` (a normalised address) wrote a message sent from `from_addr`."""
    return bool(email) and bool(from_addr) and from_addr == email


def withdrawable(conn: Connection, message_pk: int) -> Row[*tuple[Any, ...]] | None:
    """The real (not yet withdrawn) message row, or None."""
    return conn.execute(
        select(
            M.c.id, M.c.thread_id, M.c.community_id, M.c.from_addr, M.c.raw_id, M.c.subject
        ).where(M.c.id == message_pk, M.c.placeholder.is_(False))
    ).first()


def withdraw_message(conn: Connection, message_pk: int, actor: str) -> Withdrawal | None:
    """Withdraw one message in the caller's (write) transaction; None if there is none to.

    The caller decides who may (the author or an admin); `actor` is written to
    the audit log. A mail filed into several communities (one raw message, a
    row per community) is withdrawn everywhere: it is one message to its author.
    Attachment files are not touched here, since the transaction may still roll
    back: call `remove_unreferenced_files` with the result after the commit.
    """
    row = withdrawable(conn, message_pk)
    if row is None:
        return None
    now = utcnow()
    pks = [row.id]
    if row.raw_id is not None:
        pks = list(
            conn.execute(
                select(M.c.id).where(M.c.raw_id == row.raw_id, M.c.placeholder.is_(False))
            ).scalars()
        )
    digests = frozenset(conn.execute(select(A.c.sha256).where(A.c.message_pk.in_(pks))).scalars())
    conn.execute(A.delete().where(A.c.message_pk.in_(pks)))
    for pk in pks:
        unindex_message(conn, pk)
    threads = set(conn.execute(select(M.c.thread_id).where(M.c.id.in_(pks))).scalars())
    conn.execute(update(M).where(M.c.id.in_(pks)).values({**_CLEARED, "withdrawn_at": now}))
    signatures.forget(conn, row.from_addr or "", pks)
    for thread_id in sorted(threads):
        refresh_thread(conn, thread_id)
    _cancel_copies(conn, pks)
    if row.raw_id is not None:
        conn.execute(
            update(R)
            .where(R.c.id == row.raw_id)
            .values(state=RawState.withdrawn, reason=WITHDRAWN_REASON.format(day=now.date()))
        )
    conn.execute(
        AUDIT.insert().values(
            at=now,
            actor=actor[:320],
            action="message.withdraw",
            target=f"message {message_pk}",
            before={"messages": pks, "from": row.from_addr, "raw_id": row.raw_id},
            after={"withdrawn_at": now.isoformat()},
        )
    )
    return Withdrawal(message_pk, row.thread_id, digests)


# The row keeps message_id, chain, from_addr, date and raw_id (module docstring).
_CLEARED: dict[str, object] = {
    "placeholder": True,
    "subject": "",
    "norm_subject": "",
    "reply_without_refs": False,
    "opens_thread": False,
    "subject_linked": False,
    "from_name": "",
    "to_addrs": [],
    "cc_addrs": [],
    "visible_text": "",
    "quoted_text": "",
    "signature": "",
    "html": None,
    "events": None,
    "from_impersonates": None,
    "attachment_count": 0,
    "thread_key": None,
}


def _cancel_copies(conn: Connection, message_pks: list[int]) -> None:
    """Copies of the message not mailed yet stay unmailed (notifications, queued mail)."""
    pending = select(N.c.id).where(
        N.c.message_pk.in_(message_pks), N.c.state.in_(("queued", "digest"))
    )
    ids = list(conn.execute(pending).scalars())
    if not ids:
        return
    conn.execute(
        update(OUT)
        .where(OUT.c.notification_id.in_(ids), OUT.c.state == OutboundState.queued)
        .values(state=OutboundState.cancelled, last_error="message withdrawn by its author")
    )
    conn.execute(update(N).where(N.c.id.in_(ids)).values(state=NOTIFICATION_WITHDRAWN))


def remove_unreferenced_files(
    conn: Connection, digests: frozenset[str], attachments_dir: Path
) -> list[str]:
    """Delete the files of `digests` no attachment row refers to any more; returns those removed.

    Files are content-addressed: the same PDF sent to two threads is one file,
    so a file is removed only when no other message still lists it.
    """
    if not digests:
        return []
    still = set(conn.execute(select(A.c.sha256).where(A.c.sha256.in_(list(digests)))).scalars())
    removed = []
    for digest in sorted(digests - still):
        path = attachments_dir / digest[:2] / digest
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(digest)
    return removed


def purge_withdrawn_raw(conn: Connection, days: int, *, now: datetime | None = None) -> int:
    """Erase the bytes of raw messages withdrawn more than `days` ago; returns how many.

    The sha256 stays (raw_message.sha256 is what intake deduplicates on), so the
    same bytes imported again are a duplicate, not a resurrection. `days=0`
    erases every withdrawn message's bytes at once.
    """
    cutoff = (now or utcnow()) - timedelta(days=days)
    withdrawn_before = (
        select(M.c.raw_id)
        .where(M.c.withdrawn_at.is_not(None), M.c.withdrawn_at <= cutoff)
        .where(M.c.raw_id.is_not(None))
    )
    result = conn.execute(
        update(R)
        .where(R.c.state == RawState.withdrawn, R.c.id.in_(withdrawn_before))
        .where(func.length(R.c.data) > 0)
        .values(data=b"")
    )
    return result.rowcount or 0


def withdraw(
    engine: Engine, attachments_dir: Path, message_pk: int, actor: str
) -> Withdrawal | None:
    """Withdraw in its own write transaction, then remove the files nobody else uses."""
    with writer(engine).begin() as conn:
        done = withdraw_message(conn, message_pk, actor)
    if done is not None and done.file_digests:
        with engine.connect() as conn:
            remove_unreferenced_files(conn, done.file_digests, attachments_dir)
    return done


def sweep(engine: Engine, days: int) -> int:
    """The retention sweep the worker runs now and then, and `bridge withdrawn purge`."""
    with writer(engine).begin() as conn:
        return purge_withdrawn_raw(conn, days)
