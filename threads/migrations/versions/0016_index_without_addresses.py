"""Search: the full-text index stops holding addresses.

Revision ID: 0016
Revises: 0015

The index held each sender's address and every address written in subjects
and texts, so a word search for an outsider's mailbox name found their mail
even where every page hid it. Each indexed message is written again the way
threads/search/analysis.py `index_entry` now builds it (texts with addresses
scrubbed, the sender's name without the address), in batches, on both backends.
On SQLite the rewritten index is then merged into one segment (FTS5
`optimize`), so search reads no more of it than before.
"""

import sqlalchemy as sa
from alembic import op

from threads.search import index_entry, index_messages

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BATCH = 2000


def upgrade() -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    rows = sa.text(
        "SELECT m.id, m.subject, m.from_name, m.visible_text FROM message m "
        "JOIN message_fts f ON f.rowid = m.id WHERE m.id > :last ORDER BY m.id LIMIT :n"
    )
    last = 0
    while batch := conn.execute(rows, {"last": last, "n": BATCH}).all():
        entries = [index_entry(r.id, r.subject, r.visible_text, r.from_name) for r in batch]
        if sqlite:
            # An FTS5 row is replaced by deleting it first (PostgreSQL's insert updates).
            conn.execute(
                sa.text("DELETE FROM message_fts WHERE rowid = :id"),
                [{"id": r.id} for r in batch],
            )
        index_messages(conn, entries)
        last = batch[-1].id
    if sqlite:
        # FTS5 replaces a row by recording its deletion in a new segment beside the
        # new entry; after every row is rewritten the index holds each word twice
        # until background merges catch up. Measured on the 100,000-message bench
        # store: 51 MB in 7,554 index rows against 32 MB before, and each search ran
        # 29 % more of SQLite's instructions. `optimize` merges all segments into one
        # and drops the deleted entries: 30 MB, 3.7 s at that size.
        conn.execute(sa.text("INSERT INTO message_fts(message_fts) VALUES ('optimize')"))


def downgrade() -> None:
    # Older code reads the same index; it only finds fewer words in it.
    pass
