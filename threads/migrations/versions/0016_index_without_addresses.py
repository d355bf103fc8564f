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

Revision 0017 writes every indexed message again with the language-aware
analysis (which also leaves addresses out) into a table of a new shape, so
this revision now leaves that work to it: the index writer of today no longer
fits the table as it is at this revision.
"""

from alembic import op  # noqa: F401  (every revision module imports it)

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing: 0017 rewrites the whole index (see above)."""


def downgrade() -> None:
    """Nothing: older code reads the same index; it only finds fewer words in it."""
