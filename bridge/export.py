"""`bridge export mbox` and `bridge export json`: a whole archive or one community, out.

The mbox holds every filed message as it arrived (the raw bytes the archive
keeps), thread by thread, in mboxrd (mail/mbox.py): another archive or a
mail client reads it back unchanged. The JSON holds the same conversations
as the archive reads them: each thread's tree with every message's text,
quoted part and signature, addresses and attachments' names. Both are
streamed a thread at a time, so a large archive is never held in memory.
These are operator exports (the shell is the local admin): everything is in
them, outside addresses included; withdrawn messages are not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, select

from bridge.errors import UsageError
from mail.mbox import mboxrd
from threads import queries
from threads.models import Community, Thread

C, T = Community.__table__, Thread.__table__


def communities(conn: Connection, slug: str | None) -> list[Any]:
    """The communities to export: all of them by slug, or the one named."""
    stmt = select(C.c.id, C.c.slug, C.c.name).order_by(C.c.slug)
    if slug is not None:
        stmt = stmt.where(C.c.slug == slug)
    rows = list(conn.execute(stmt))
    if slug is not None and not rows:
        raise UsageError(f"no community '{slug}'")
    return rows


def _thread_ids(conn: Connection, community_id: int) -> list[int]:
    return list(
        conn.execute(
            select(T.c.id)
            .where(T.c.community_id == community_id, T.c.message_count > 0)
            .order_by(T.c.started_at, T.c.id)
        ).scalars()
    )


def mbox(conn: Connection, slug: str | None) -> Iterator[bytes]:
    """The raw messages of every thread, oldest thread first, as mboxrd chunks.

    A missing community is reported here, before anything is written."""
    return _mbox(conn, communities(conn, slug))


def _mbox(conn: Connection, rows: list[Any]) -> Iterator[bytes]:
    for community in rows:
        for thread_id in _thread_ids(conn, community.id):
            yield from mboxrd(queries.thread_raw(conn, thread_id))


def json_chunks(conn: Connection, slug: str | None) -> Iterator[str]:
    """One JSON document, {"communities": [{..., "threads": [...]}]}, in pieces.

    A missing community is reported here, before anything is written."""
    return _json_chunks(conn, communities(conn, slug))


def _json_chunks(conn: Connection, rows: list[Any]) -> Iterator[str]:
    yield '{"communities": ['
    for n, community in enumerate(rows):
        head = {"slug": community.slug, "name": community.name}
        yield ("," if n else "") + json.dumps(head, ensure_ascii=False)[:-1] + ', "threads": ['
        for i, thread_id in enumerate(_thread_ids(conn, community.id)):
            thread = _thread_json(conn, thread_id)
            yield ("," if i else "") + json.dumps(thread, ensure_ascii=False)
        yield "]}"
    yield "]}\n"


def _thread_json(conn: Connection, thread_id: int) -> dict[str, Any]:
    messages = queries.thread_messages(conn, thread_id)
    return {
        "id": thread_id,
        "subject": queries.thread_subject(conn, thread_id) or "",
        "messages": [
            {
                "message_id": m.message_id,
                "parent": m.parent,
                "subject": m.subject,
                "from": {"name": m.from_name, "address": m.from_addr},
                "to": m.to,
                "cc": m.cc,
                "date": m.date.isoformat() if m.date else None,
                "text": m.visible_text,
                "quoted_text": m.quoted_text,
                "signature": m.signature,
                "attachments": [
                    {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                    for a in m.attachments
                ],
            }
            for m in messages
        ],
    }
