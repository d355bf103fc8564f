"""Word starts (`migrat*`) from an index of their own on SQLite.

Revision ID: 0027
Revises: 0026

FTS5 takes its `prefix` option only when a table is created, so the table is
built anew with it and filled from the
old one's own columns: the words are already analysed, nothing is read from
the messages again. Its vocabulary view is made again over the new table. A
table that already has the option is left as it is. PostgreSQL's GIN index
answers word starts without an option.
"""

import sqlalchemy as sa
from alembic import op

from threads.search.index import (
    COLUMNS_SQLITE,
    CREATE_VOCABULARY,
    normal_sql,
    sqlite_table_sql,
)
from threads.search.reindex import optimize

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# The table as this revision makes it (0028 marks the stems).
CREATE_SQLITE = (
    "CREATE VIRTUAL TABLE message_fts USING fts5("
    "subject, body, sender, subject_stems, body_stems, tokenize = 'ascii', "
    "prefix = '2 3 4')"
)
# The table as 0017 made it, for the way back.
_BEFORE = (
    "CREATE VIRTUAL TABLE message_fts USING fts5("
    "subject, body, sender, subject_stems, body_stems, tokenize = 'ascii')"
)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite" and sqlite_table_sql(conn) != normal_sql(CREATE_SQLITE):
        _rebuild(conn, CREATE_SQLITE)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite" and sqlite_table_sql(conn) != normal_sql(_BEFORE):
        _rebuild(conn, _BEFORE)


def _rebuild(conn: sa.Connection, create: str) -> None:
    """The FTS5 table made again by `create`, holding the same rows."""
    conn.execute(sa.text("DROP TABLE IF EXISTS message_fts_vocab"))
    conn.execute(sa.text("ALTER TABLE message_fts RENAME TO message_fts_old"))
    conn.execute(sa.text(create))
    conn.execute(
        sa.text(
            f"INSERT INTO message_fts(rowid, {COLUMNS_SQLITE}) "
            f"SELECT rowid, {COLUMNS_SQLITE} FROM message_fts_old"
        )
    )
    conn.execute(sa.text("DROP TABLE message_fts_old"))
    optimize(conn)
    conn.execute(sa.text(CREATE_VOCABULARY))
