"""Word starts (`migrat*`) from an index of their own on SQLite.

Revision ID: 0027
Revises: 0026

FTS5 takes its `prefix` option only when a table is created, so the table is
built anew with it (threads/search/index.py, CREATE_SQLITE) and filled from the
old one's own columns: the words are already analysed, nothing is read from
the messages again. Its vocabulary view is made again over the new table. A
table that already has the option (created by 0017 with this code) is left as
it is. PostgreSQL's GIN index answers word starts without an option.
"""

import sqlalchemy as sa
from alembic import op

from threads.search.index import COLUMNS_SQLITE, CREATE_SQLITE, CREATE_VOCABULARY
from threads.search.reindex import optimize

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# The table as 0017 made it, for the way back.
_CREATE_WITHOUT_PREFIXES = (
    "CREATE VIRTUAL TABLE message_fts USING fts5("
    "subject, body, sender, subject_stems, body_stems, tokenize = 'ascii')"
)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite" and _created_with(conn) != _sql(CREATE_SQLITE):
        _rebuild(conn, CREATE_SQLITE)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite" and _created_with(conn) != _sql(_CREATE_WITHOUT_PREFIXES):
        _rebuild(conn, _CREATE_WITHOUT_PREFIXES)


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


def _created_with(conn: sa.Connection) -> str:
    sql = conn.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'message_fts'")
    ).scalar_one()
    return _sql(sql)


def _sql(create: str) -> str:
    return " ".join(create.split()).lower()
