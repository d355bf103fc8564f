"""IMAP folders polled into communities: checkpoint (UIDVALIDITY, last UID) and poller lease.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the name autogenerate writes: sqlmodel.sql.sqltypes.AutoString
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new table: no existing rows to fill, but server defaults keep hand-written
    # inserts (and later column copies) working the same as the model's defaults.
    op.create_table(
        "imap_folder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column(
            "password_env",
            sqlmodel.sql.sqltypes.AutoString(length=128),
            nullable=False,
            server_default="",
        ),
        sa.Column(
            "secret_file",
            sqlmodel.sql.sqltypes.AutoString(length=1024),
            nullable=False,
            server_default="",
        ),
        sa.Column(
            "after_action",
            sqlmodel.sql.sqltypes.AutoString(length=256),
            nullable=False,
            server_default="leave",
        ),
        sa.Column(
            "origin",
            sqlmodel.sql.sqltypes.AutoString(length=16),
            nullable=False,
            server_default="cli",
        ),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column(
            "lease_holder",
            sqlmodel.sql.sqltypes.AutoString(length=64),
            nullable=False,
            server_default="",
        ),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    with op.batch_alter_table("imap_folder", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_imap_folder_community_id"), ["community_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("imap_folder", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imap_folder_community_id"))
    op.drop_table("imap_folder")
