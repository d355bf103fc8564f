"""The threading oracle: how the store grouped messages into threads, and the
input the pure algorithm (threads/threading/) takes for the same raw mail, so
a test can compare what was stored with what the algorithm alone would say."""

from __future__ import annotations

from sqlalchemy import select

from bridge.core import Core
from mail.parse import parse_message
from threads.models import Message
from threads.threading import ThreadInput, thread_input


def partition(core: Core) -> set[frozenset[str]]:
    with core.engine.connect() as conn:
        rows = conn.execute(
            select(Message.thread_id, Message.message_id).where(Message.placeholder.is_(False))
        ).all()
    groups: dict[int, set[str]] = {}
    for tid, mid in rows:
        groups.setdefault(tid, set()).add(mid)
    return {frozenset(g) for g in groups.values()}


def oracle_input(raw: bytes) -> ThreadInput:
    """What the pure algorithm is given for `raw`, parsed as the pipeline parses it."""
    p = parse_message(raw)
    recipients = [a.address.lower() for a in (*p.to, *p.cc)]
    return thread_input(
        message_id=p.message_id or "",
        in_reply_to=" ".join(f"<{i}>" for i in p.in_reply_to) or None,
        references=" ".join(f"<{i}>" for i in p.references) or None,
        thread_index=p.thread_index,
        subject=p.subject,
        date=p.date,
        sender=p.from_.address.lower() if p.from_ else "",
        recipients=recipients,
    )
