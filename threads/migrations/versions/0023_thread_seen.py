"""What each logged-in reader has seen of each thread, for unread counts.

Revision ID: 0023
Revises: 0022

`thread_seen` keeps one row per person and thread: the highest raw mail id
(arrival order) of the messages on a page they opened. A thread's unread
count is its messages that arrived after that; (person_id, thread_id) is
unique and leads a community page's lookup for its fifty threads; thread_id
serves merging threads.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "thread_seen",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("thread_id", sa.Integer(), sa.ForeignKey("thread.id"), nullable=False),
        sa.Column("seen_up_to", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("person_id", "thread_id"),
    )
    op.create_index("ix_thread_seen_thread_id", "thread_seen", ["thread_id"])


def downgrade() -> None:
    op.drop_index("ix_thread_seen_thread_id", table_name="thread_seen")
    op.drop_table("thread_seen")
