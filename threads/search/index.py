"""The full-text index's table: writing and removing its rows, on either backend.

`message_fts` has one row per indexed message, keyed by the message's id
(its rowid), and holds what threads/search/analysis.py makes of it: folded
exact words, and the stems that differ from them. On SQLite it is an FTS5
table of five columns (subject, body, sender, subject_stems, body_stems) fed
words separated by spaces (the `ascii` tokenizer splits on spaces and on ASCII
punctuation but STEM_MARK, so a CJK pair, a folded word or a marked stem stays
one token), ranked by the column each word is found in (threads/search/relevance.py).
On PostgreSQL it holds one tsvector per message: the subject weighted A, the
sender B, the text C, every stem marked with `STEM_MARK` and the subject's also
with `SUBJECT_STEM_MARK`, plus the adjacent word pairs phrases are found by. The
readers in this package name the table through `FTS`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ARRAY, Connection, Integer, String, bindparam, column, table, text

from threads.search.analysis import (
    STEM_MARK,
    SUBJECT_STEM_MARK,
    IndexEntry,
    analyse,
    word_pairs,
)

FTS = table("message_fts", column("rowid", Integer), column("tsv"))

# FTS5 answers `mi*` by merging the entries of every word that starts so, thousands
# of them for two or three letters; with `prefix` it also keeps, for these word
# starts, one entry of its own, read like a word's (used when the start is exactly
# that long; longer starts have few words to merge).
PREFIXES = "2 3 4"
# Each stem is stored with STEM_MARK ("~budget"), which the tokenizer keeps: a stem is
# then a word of its own in the index, found in the stem columns only: unmarked, the stem
# "budget" shared the word "budget"'s list of messages, and telling one from the other
# took a column filter, which reads the positions of every row it tests.
CREATE_SQLITE = (
    "CREATE VIRTUAL TABLE message_fts USING fts5("
    "subject, body, sender, subject_stems, body_stems, "
    f"tokenize = \"ascii tokenchars '{STEM_MARK}'\", prefix = '{PREFIXES}')"
)
COLUMNS_SQLITE = "subject, body, sender, subject_stems, body_stems"
# Which words the index holds, per column (threads/search/suggest.py).
CREATE_VOCABULARY = "CREATE VIRTUAL TABLE message_fts_vocab USING fts5vocab(message_fts, 'col')"

_INDEX_SQLITE = text(
    "INSERT INTO message_fts(rowid, subject, body, sender, subject_stems, body_stems) "
    "VALUES (:id, :s, :b, :f, :ss, :bs)"
)
_INDEX_POSTGRES = text(
    "INSERT INTO message_fts(rowid, tsv) VALUES (:id, "
    "setweight(to_tsvector('simple', :s), 'A') || "
    "setweight(to_tsvector('simple', :f), 'B') || "
    "array_to_tsvector(CAST(:ss AS text[])) || "
    "setweight(to_tsvector('simple', :b), 'C') || "
    "array_to_tsvector(CAST(:bs AS text[])) || "
    "array_to_tsvector(CAST(:p AS text[]))) "
    "ON CONFLICT (rowid) DO UPDATE SET tsv = EXCLUDED.tsv"
).bindparams(
    bindparam("p", type_=ARRAY(String)),
    bindparam("ss", type_=ARRAY(String)),
    bindparam("bs", type_=ARRAY(String)),
)


def index_messages(conn: Connection, entries: Sequence[IndexEntry]) -> None:
    """Add messages to the full-text index (one statement for the whole batch).

    On SQLite a message already indexed must be removed first (`unindex_message`);
    PostgreSQL's insert replaces its row.
    """
    if not entries:
        return
    sqlite = conn.dialect.name == "sqlite"
    rows = []
    for e in entries:
        a = e.analysed if e.analysed is not None else analyse(e)
        if sqlite:
            rows.append(
                {
                    "id": e.message_pk,
                    "s": " ".join(a.subject),
                    "b": " ".join(a.body),
                    "f": " ".join(a.sender),
                    "ss": " ".join(STEM_MARK + s for s in a.subject_stems),
                    "bs": " ".join(STEM_MARK + s for s in a.body_stems),
                }
            )
        else:
            rows.append(
                {
                    "id": e.message_pk,
                    "s": " ".join(a.subject),
                    "b": " ".join(a.body),
                    "f": " ".join(a.sender),
                    "ss": sorted({SUBJECT_STEM_MARK + s for s in a.subject_stems}),
                    # Subject stems also as any stem: a word anywhere is one lexeme
                    # fewer to look up (PostgreSQL's AND of ORs grows with each).
                    "bs": sorted({STEM_MARK + s for s in (*a.body_stems, *a.subject_stems)}),
                    "p": word_pairs(a.subject, a.sender, a.body),
                }
            )
    conn.execute(_INDEX_SQLITE if sqlite else _INDEX_POSTGRES, rows)


def unindex_message(conn: Connection, message_pk: int) -> None:
    conn.execute(text("DELETE FROM message_fts WHERE rowid = :id"), {"id": message_pk})


def sqlite_table_sql(conn: Connection) -> str:
    """How the SQLite table was created, spaced and cased alike for comparison
    (migrations rebuild it when an option differs)."""
    sql = conn.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'message_fts'")
    ).scalar_one()
    return normal_sql(sql)


def normal_sql(create: str) -> str:
    return " ".join(create.split()).lower()
