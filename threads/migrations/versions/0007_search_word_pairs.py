"""PostgreSQL search: index adjacent word pairs so phrases are found through the index.

Revision ID: 0007
Revises: 0006

Rewrites every message's search vector with its word pairs
(threads/search/analysis.py, `word_pairs`), in batches. SQLite's FTS5 keeps
positions in its index and needs nothing.
"""

import sqlalchemy as sa
from alembic import op

from threads.search import IndexEntry, index_messages

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 2000


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    last = 0
    rows = sa.text(
        "SELECT m.id, m.subject, m.from_name, m.from_addr, m.visible_text FROM message m "
        "JOIN message_fts f ON f.rowid = m.id WHERE m.id > :last ORDER BY m.id LIMIT :n"
    )
    while batch := conn.execute(rows, {"last": last, "n": BATCH}).all():
        index_messages(
            conn,
            [
                IndexEntry(r.id, r.subject, r.visible_text, f"{r.from_name} {r.from_addr}".strip())
                for r in batch
            ],
        )
        last = batch[-1].id


def downgrade() -> None:
    # The pairs are extra lexemes that older code never asks for: nothing to undo.
    pass
