"""Index the threads left without a real message, so the community page counts from indexes.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_thread_community_empty",
        "thread",
        ["community_id"],
        sqlite_where=sa.text("message_count = 0"),
        postgresql_where=sa.text("message_count = 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_thread_community_empty", table_name="thread")
