"""Index same-subject mail by date: the subject fallback reads one subject within a window.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_message_subject_date", "message", ["community_id", "norm_subject", "date"])
    # The new index starts with the old one's columns, so it serves its queries too.
    op.drop_index("ix_message_norm_subject", table_name="message")


def downgrade() -> None:
    op.create_index("ix_message_norm_subject", "message", ["community_id", "norm_subject"])
    op.drop_index("ix_message_subject_date", table_name="message")
