"""Consent: route policies and cc thresholds, candidates, withdrawn messages, thread reads.

Existing routes and IMAP folders keep today's behaviour (open, no threshold);
folders connected from now on default to consent in code.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the name autogenerate writes: sqlmodel.sql.sqltypes.AutoString
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    for table in ("route", "imap_folder"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("policy", sa.String(length=16), nullable=False, server_default="open")
            )
            batch_op.add_column(
                sa.Column("cc_threshold", sa.Integer(), nullable=False, server_default="0")
            )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "consent_candidate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("starter", _str(length=320), nullable=False),
        sa.Column("starter_name", _str(), nullable=False),
        sa.Column("subject", _str(), nullable=False),
        sa.Column("excerpt", _str(), nullable=False),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("org_recipients", sa.Integer(), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("nudged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", _str(length=320), nullable=False),
        sa.Column("decided_via", _str(length=16), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.ForeignKeyConstraint(["thread_id"], ["thread.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_consent_candidate_community_created",
        "consent_candidate",
        ["community_id", "created_at"],
    )
    op.create_index("ix_consent_candidate_starter", "consent_candidate", ["starter"])
    op.create_index("ix_consent_candidate_state", "consent_candidate", ["state"])
    op.create_table(
        "consent_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("raw_id", sa.Integer(), nullable=False),
        sa.Column("message_id", _str(length=998), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["consent_candidate.id"]),
        sa.ForeignKeyConstraint(["raw_id"], ["raw_message.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("raw_id"),
    )
    op.create_index("ix_consent_message_candidate_id", "consent_message", ["candidate_id"])
    op.create_index("ix_consent_message_message_id", "consent_message", ["message_id"])
    op.create_table(
        "thread_read",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["thread_id"], ["thread.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("thread_id", "person_id"),
    )
    op.create_index("ix_thread_read_person_id", "thread_read", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_thread_read_person_id", table_name="thread_read")
    op.drop_table("thread_read")
    op.drop_index("ix_consent_message_message_id", table_name="consent_message")
    op.drop_index("ix_consent_message_candidate_id", table_name="consent_message")
    op.drop_table("consent_message")
    op.drop_index("ix_consent_candidate_state", table_name="consent_candidate")
    op.drop_index("ix_consent_candidate_starter", table_name="consent_candidate")
    op.drop_index("ix_consent_candidate_community_created", table_name="consent_candidate")
    op.drop_table("consent_candidate")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("withdrawn_at")
    for table in ("imap_folder", "route"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("cc_threshold")
            batch_op.drop_column("policy")
