"""Rebuilding the search index of an existing archive, in batches, resumable.

Every message the index holds is written again the way threads/search/
analysis.py now analyses it, in id order, a batch at a time. Where the
rebuild has got to is kept in `message_fts_progress` (one row, written in the
same transaction as each batch), so a rebuild that was killed carries on from
its last batch. Messages the index does not hold (withdrawn, placeholders)
stay out of it.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, text

from threads.search.analysis import index_entry
from threads.search.index import index_messages

BATCH = 2000
CREATE_PROGRESS = (
    "CREATE TABLE IF NOT EXISTS message_fts_progress ("
    "id INTEGER PRIMARY KEY, last_id BIGINT NOT NULL, total BIGINT NOT NULL)"
)


def rewrite_batch(
    conn: Connection, after: int, source: str = "message_fts", n: int = BATCH
) -> tuple[int, int]:
    """Index again the next `n` messages after id `after` whose ids `source` holds;
    the last id written (`after` when there were none) and how many were."""
    rows = conn.execute(
        text(
            "SELECT m.id, m.subject, m.from_name, m.visible_text FROM message m "
            f"JOIN {source} f ON f.rowid = m.id WHERE m.id > :last ORDER BY m.id LIMIT :n"
        ),
        {"last": after, "n": n},
    ).all()
    if not rows:
        return after, 0
    entries = [index_entry(r.id, r.subject or "", r.visible_text or "", r.from_name) for r in rows]
    if conn.dialect.name == "sqlite" and source == "message_fts":
        # An FTS5 row is replaced by deleting it first (PostgreSQL's insert updates).
        conn.execute(
            text("DELETE FROM message_fts WHERE rowid = :id"), [{"id": r.id} for r in rows]
        )
    index_messages(conn, entries)
    return int(rows[-1].id), len(rows)


def optimize(conn: Connection) -> None:
    """Merge FTS5's segments into one, dropping the entries of rewritten rows (SQLite).

    FTS5 replaces a row by recording its deletion in a new segment beside the
    new entry, so after a rebuild the index holds each word twice until
    background merges catch up; search then reads a third more of it.
    """
    if conn.dialect.name == "sqlite":
        conn.execute(text("INSERT INTO message_fts(message_fts) VALUES ('optimize')"))


def reindex(
    engine: Engine,
    progress: Callable[[int, int], None] | None = None,
    batch: int = BATCH,
    restart: bool = False,
) -> int:
    """Rebuild the whole index, resuming an unfinished rebuild unless `restart`;
    `progress(done, total)` after each batch. Returns the messages written."""
    with engine.begin() as conn:
        conn.execute(text(CREATE_PROGRESS))
        row = conn.execute(text("SELECT last_id, total FROM message_fts_progress")).first()
        if row is None or restart:
            total = conn.execute(text("SELECT count(*) FROM message_fts")).scalar_one()
            conn.execute(text("DELETE FROM message_fts_progress"))
            conn.execute(
                text("INSERT INTO message_fts_progress VALUES (1, 0, :t)"), {"t": int(total)}
            )
            last, total = 0, int(total)
        else:
            last, total = int(row.last_id), int(row.total)
    with engine.connect() as conn:
        done = int(
            conn.execute(
                text("SELECT count(*) FROM message_fts WHERE rowid <= :l"), {"l": last}
            ).scalar_one()
        )
    written = 0
    while True:
        with engine.begin() as conn:
            end, n = rewrite_batch(conn, last, n=batch)
            if not n:
                conn.execute(text("DELETE FROM message_fts_progress"))
                optimize(conn)
                break
            conn.execute(text("UPDATE message_fts_progress SET last_id = :l"), {"l": end})
        last, done, written = end, done + n, written + n
        if progress is not None:
            progress(done, total)
    return written
