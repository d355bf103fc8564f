"""Signatures learnt from each sender's own messages.

Revision ID: 0026
Revises: 0024

`learned_signature` keeps one row per sender address: the line keys (hashes,
never text) of the tails of their latest messages and the block those share,
which filing moves from a message's visible text to its signature.
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learned_signature",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("tails", sa.JSON(), nullable=False),
        sa.Column("block", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("address"),
    )


def downgrade() -> None:
    op.drop_table("learned_signature")
