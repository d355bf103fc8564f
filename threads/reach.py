"""Reach: who read a thread on the web, for the managers' page (web/insights.py).

Only a logged-in reader's first visit to a thread is recorded, once per
person and thread; the figure that matters is how many readers were not on
the conversation's original To/Cc.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select

from threads.db import insert_ignoring_conflict, writer
from threads.models import ThreadRead, utcnow

READ = ThreadRead.__table__


def has_read(conn: Connection, thread_id: int, person_id: int) -> bool:
    return (
        conn.execute(
            select(READ.c.id).where(READ.c.thread_id == thread_id, READ.c.person_id == person_id)
        ).first()
        is not None
    )


def record_read(engine: Engine, thread_id: int, person_id: int) -> None:
    """Remember a first read; a write only the first time (SQLite has one writer)."""
    with engine.connect() as conn:
        if has_read(conn, thread_id, person_id):
            return
    with writer(engine).begin() as conn:
        stmt = insert_ignoring_conflict(conn, READ, ["thread_id", "person_id"])
        conn.execute(stmt.values(thread_id=thread_id, person_id=person_id, first_at=utcnow()))
