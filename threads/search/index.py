"""The full-text index's table: writing and removing its rows, on either backend.

`message_fts` has one row per indexed message, keyed by the message's id
(its rowid). On SQLite it is an FTS5 table with three columns (subject, body,
sender), ranked by bm25 with those columns weighted; on PostgreSQL it holds one
tsvector per message with the subject weighted A and the sender B, built from
the words threads/search/analysis.py gives (the same words FTS5 sees) plus
the adjacent word pairs phrases are found by. The readers in this package
name the table through `FTS`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ARRAY, Connection, Integer, String, bindparam, column, table, text

from threads.search.analysis import IndexEntry, pg_words, word_pairs

FTS = table("message_fts", column("rowid", Integer), column("tsv"))

_INDEX_SQLITE = text(
    "INSERT INTO message_fts(rowid, subject, body, sender) VALUES (:id, :s, :b, :f)"
)
_INDEX_POSTGRES = text(
    "INSERT INTO message_fts(rowid, tsv) VALUES (:id, "
    "setweight(to_tsvector('simple', :s), 'A') || "
    "setweight(to_tsvector('simple', :f), 'B') || to_tsvector('simple', :b) || "
    "array_to_tsvector(CAST(:p AS text[]))) "
    "ON CONFLICT (rowid) DO UPDATE SET tsv = EXCLUDED.tsv"
).bindparams(bindparam("p", type_=ARRAY(String)))


def index_messages(conn: Connection, entries: Sequence[IndexEntry]) -> None:
    """Add messages to the full-text index (one statement for the whole batch)."""
    if not entries:
        return
    if conn.dialect.name == "sqlite":
        rows = [{"id": e.message_pk, "s": e.subject, "b": e.body, "f": e.sender} for e in entries]
        conn.execute(_INDEX_SQLITE, rows)
        return
    rows = [
        {
            "id": e.message_pk,
            "s": pg_words(e.subject),
            "b": pg_words(e.body),
            "f": pg_words(e.sender),
            "p": word_pairs(e.subject, e.sender, e.body),
        }
        for e in entries
    ]
    conn.execute(_INDEX_POSTGRES, rows)


def unindex_message(conn: Connection, message_pk: int) -> None:
    conn.execute(text("DELETE FROM message_fts WHERE rowid = :id"), {"id": message_pk})
