"""Stems as words of their own in the SQLite index.

Revision ID: 0028
Revises: 0027

Stems were stored in their own columns but as the bare word ("budget"), so in
FTS5 they shared the exact word's list of messages, and bm25, which reads the
whole list of every word of a query for its weight, read each word's list
twice. Stems are now stored marked ("~budget", threads/search/index.py), which
the table's tokenizer keeps (`tokenchars`); the tokenizer option is only taken
when a table is created, so the table is built anew from its own columns, the
stems marked on the way: no message is analysed again. A column already marked
(a table this code filled) is copied as it is. PostgreSQL has marked its stems
from the start.
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from threads.search.analysis import STEM_MARK
from threads.search.index import CREATE_VOCABULARY, normal_sql, sqlite_table_sql
from threads.search.reindex import optimize

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

# The table as this revision makes it (a later one may change the live statement).
CREATE_SQLITE = (
    "CREATE VIRTUAL TABLE message_fts USING fts5("
    "subject, body, sender, subject_stems, body_stems, "
    f"tokenize = \"ascii tokenchars '{STEM_MARK}'\", prefix = '2 3 4')"
)
_BEFORE = (
    "CREATE VIRTUAL TABLE message_fts USING fts5("
    "subject, body, sender, subject_stems, body_stems, tokenize = 'ascii', "
    "prefix = '2 3 4')"
)


def _marked(column: str) -> str:
    # A stems column is its stems joined by spaces, all marked or none.
    return (
        f"CASE WHEN {column} = '' OR substr({column}, 1, 1) = '{STEM_MARK}' THEN {column} "
        f"ELSE '{STEM_MARK}' || replace({column}, ' ', ' {STEM_MARK}') END"
    )


def _unmarked(column: str) -> str:
    return f"replace({column}, '{STEM_MARK}', '')"


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite" and sqlite_table_sql(conn) != normal_sql(CREATE_SQLITE):
        _rebuild(conn, CREATE_SQLITE, _marked)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite" and sqlite_table_sql(conn) != normal_sql(_BEFORE):
        _rebuild(conn, _BEFORE, _unmarked)


def _rebuild(conn: sa.Connection, create: str, stems: Callable[[str], str]) -> None:
    conn.execute(sa.text("DROP TABLE IF EXISTS message_fts_vocab"))
    conn.execute(sa.text("ALTER TABLE message_fts RENAME TO message_fts_old"))
    conn.execute(sa.text(create))
    conn.execute(
        sa.text(
            "INSERT INTO message_fts(rowid, subject, body, sender, subject_stems, body_stems) "
            f"SELECT rowid, subject, body, sender, {stems('subject_stems')}, "
            f"{stems('body_stems')} FROM message_fts_old"
        )
    )
    conn.execute(sa.text("DROP TABLE message_fts_old"))
    optimize(conn)
    conn.execute(sa.text(CREATE_VOCABULARY))
