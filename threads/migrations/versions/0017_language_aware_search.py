"""Search understands language: stems beside exact words, CJK pairs, folded width.

Revision ID: 0017
Revises: 0016

The index is fed the words threads/search/analysis.py makes of each message
(NFKC and accent folding, CJK text as overlapping character pairs, Snowball
stems of the message's language beside the exact words). On SQLite the FTS5
table gains two stem columns and takes its words pre-analysed (tokenizer
`ascii`), so it is built anew beside the old one from the messages the old
one held, then takes its name; its vocabulary (`message_fts_vocab`, FTS5's
own view of the words it holds) answers "did you mean". On PostgreSQL the table keeps its shape and
every vector is written again. Both run here, in batches; an archive of a
million messages takes a while (see docs/benchmarks.md), and
`bridge reprocess --reindex` does the same later, resumably, when the analysis
changes again.
"""

import sqlalchemy as sa
from alembic import op

from threads.search.index import CREATE_SQLITE, CREATE_VOCABULARY
from threads.search.reindex import CREATE_PROGRESS, optimize, rewrite_batch

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    source = "message_fts"
    if sqlite:
        conn.execute(sa.text("ALTER TABLE message_fts RENAME TO message_fts_old"))
        conn.execute(sa.text(CREATE_SQLITE))
        source = "message_fts_old"
    last, n = 0, 1
    while n:
        last, n = rewrite_batch(conn, last, source=source)
    if sqlite:
        conn.execute(sa.text("DROP TABLE message_fts_old"))
        optimize(conn)
        conn.execute(sa.text(CREATE_VOCABULARY))
    conn.execute(sa.text(CREATE_PROGRESS))


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("DROP TABLE IF EXISTS message_fts_progress"))
    if conn.dialect.name == "sqlite":
        conn.execute(sa.text("DROP TABLE IF EXISTS message_fts_vocab"))
        # Older code writes three columns of text it tokenizes itself; the index is
        # emptied, to be filled by that code's own rebuild.
        conn.execute(sa.text("DROP TABLE message_fts"))
        conn.execute(
            sa.text(
                "CREATE VIRTUAL TABLE message_fts USING fts5("
                "subject, body, sender, tokenize = 'unicode61 remove_diacritics 2')"
            )
        )
