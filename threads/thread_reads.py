"""A thread's messages in conversation order, read in two steps: its outline, then bodies.

The outline is every message's place in the conversation (parent, depth,
date, sender, recipients, arrival) without its text: enough for the
reply tree, the counts, the participants and the fold links. The bodies
(text, quoted part, signature, HTML, attachments) are read only for the
messages a page shows. A 200-message thread's first view shows about ten,
so it reads ten bodies, not two hundred (and the reader's redaction walks
ten texts).

Both steps apply the same rule as every other read: placeholders are left
out, withdrawn messages are kept only as empty places when asked for.
Callers check the thread is readable first (queries.thread_by_id with
`readable`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, or_, select

from threads.models import Attachment, Message, RawMessage, as_utc
from threads.threading import TreeNode, build_tree, order_for_display

M, A, R = Message.__table__, Attachment.__table__, RawMessage.__table__

# What the outline reads of each message: no text a person wrote beyond the subject.
_OUTLINE = (
    M.c.id,
    M.c.message_id,
    M.c.chain,
    M.c.date,
    M.c.norm_subject,
    M.c.subject,
    M.c.from_name,
    M.c.from_addr,
    M.c.to_addrs,
    M.c.cc_addrs,
    M.c.raw_id,
    M.c.auto_reply,
    M.c.withdrawn_at,
)


# What `fill` adds: the outline's JSON columns (chain, To, Cc) are not decoded twice.
_BODY = (
    M.c.id,
    M.c.visible_text,
    M.c.quoted_text,
    M.c.signature,
    M.c.html,
    M.c.events,
    M.c.from_impersonates,
    M.c.sender_check,
)


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
    has_html: bool = False
    auto_reply: bool = False
    source: str = ""
    parent_pk: int | None = None
    # Columns the mail-fidelity work adds; empty when this database predates them.
    events: list[dict[str, Any]] = field(default_factory=list)
    from_impersonates: str | None = None
    # Its author withdrew it: only its place in the conversation is left (threads/withdraw.py).
    withdrawn: bool = False
    # Whether its From was proven (threads/models/ SenderCheck); moderators are shown it.
    sender_check: str = ""
    # Arrival order: its raw mail's id (0 for none). A parent that arrives after its reply
    # fills a placeholder row with an older id, so the row id does not say what is new.
    arrival: int = 0
    # False for an outline entry (thread_outline): its texts, HTML and files are not read.
    filled: bool = True


def thread_outline(
    conn: Connection, thread_id: int, *, withdrawn: bool = False
) -> list[ThreadMessage]:
    """The thread's real messages in conversation order, without their bodies.

    With `withdrawn`, withdrawn messages are included as empty entries
    (`withdrawn=True`, no text, no sender's name) so the page can say where one
    was and its replies stay nested; feeds, the API and exports leave them out.
    """
    shown: ColumnElement[bool] = M.c.placeholder.is_(False)
    if withdrawn:
        shown = or_(shown, M.c.withdrawn_at.is_not(None))
    rows = {
        r.message_id: r
        for r in conn.execute(select(*_OUTLINE).where(M.c.thread_id == thread_id, shown))
    }
    nodes = [
        TreeNode(r.message_id, tuple(r.chain or ()), as_utc(r.date), r.norm_subject)
        for r in rows.values()
    ]
    parents = build_tree(nodes)
    raw_ids = [r.raw_id for r in rows.values() if r.raw_id is not None]
    sources = (
        dict(conn.execute(select(R.c.id, R.c.source).where(R.c.id.in_(raw_ids))).all())
        if raw_ids
        else {}
    )
    out = []
    for message_id, depth in order_for_display(nodes, parents):
        r = rows[message_id]
        parent = parents.get(message_id)
        out.append(
            ThreadMessage(
                r.id,
                r.message_id,
                parent,
                depth,
                r.subject,
                r.from_name,
                r.from_addr,
                r.to_addrs or [],
                r.cc_addrs or [],
                as_utc(r.date),
                "",
                "",
                "",
                [],
                auto_reply=bool(r.auto_reply),
                source=sources.get(r.raw_id, ""),
                parent_pk=rows[parent].id if parent in rows else None,
                withdrawn=r.withdrawn_at is not None,
                arrival=r.raw_id or 0,
                filled=False,
            )
        )
    return out


def fill(conn: Connection, outline: Sequence[ThreadMessage]) -> list[ThreadMessage]:
    """The given outline entries with their bodies and files read, in the same order."""
    pks = [m.pk for m in outline if not m.filled]
    if not pks:
        return list(outline)
    rows = {r.id: r for r in conn.execute(select(*_BODY).where(M.c.id.in_(pks)))}
    files = _attachments(conn, pks)
    out = []
    for m in outline:
        r = rows.get(m.pk)
        if m.filled or r is None:
            out.append(m)
            continue
        extra = r._mapping
        out.append(
            replace(
                m,
                visible_text=r.visible_text,
                quoted_text=r.quoted_text,
                signature=r.signature,
                attachments=files.get(r.id, []),
                has_html=bool(r.html),
                events=list(extra.get("events") or []),
                from_impersonates=extra.get("from_impersonates"),
                sender_check=str(extra.get("sender_check") or ""),
                filled=True,
            )
        )
    return out


def thread_messages(
    conn: Connection, thread_id: int, *, withdrawn: bool = False
) -> list[ThreadMessage]:
    """The whole thread, bodies included (feeds, the API, exports)."""
    return fill(conn, thread_outline(conn, thread_id, withdrawn=withdrawn))


def _attachments(conn: Connection, message_pks: list[int]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    if message_pks:
        for row in conn.execute(select(A).where(A.c.message_pk.in_(message_pks)).order_by(A.c.id)):
            out.setdefault(row.message_pk, []).append(row)
    return out
