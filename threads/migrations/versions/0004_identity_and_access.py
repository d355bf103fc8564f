"""Identity and access: admin and disabled people, posting policy, memberships,
login tokens, web sessions, moderation decisions, audit log.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the name autogenerate writes: sqlmodel.sql.sqltypes.AutoString
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    # Existing rows get the defaults: nobody is an admin or disabled, and every
    # community keeps accepting posts from the organisation.
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("community", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("posting", sa.String(length=16), nullable=False, server_default="org")
        )
    op.create_table(
        "membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("community_id", "person_id"),
    )
    op.create_index("ix_membership_community_id", "membership", ["community_id"])
    op.create_index("ix_membership_person_id", "membership", ["person_id"])
    op.create_table(
        "login_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", _str(length=64), nullable=False),
        sa.Column("email", _str(length=320), nullable=False),
        sa.Column("browser_hash", _str(length=64), nullable=False),
        sa.Column("client", _str(length=64), nullable=False),
        sa.Column("next_path", _str(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_login_token_email", "login_token", ["email"])
    op.create_index("ix_login_token_client", "login_token", ["client"])
    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_hash", _str(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("id_hash"),
    )
    op.create_index("ix_web_session_person_id", "web_session", ["person_id"])
    op.create_table(
        "moderation_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("raw_id", sa.Integer(), nullable=False),
        sa.Column("decision", _str(length=16), nullable=False),
        sa.Column("actor", _str(length=320), nullable=False),
        sa.Column("reason", _str(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["raw_id"], ["raw_message.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_moderation_decision_raw_id", "moderation_decision", ["raw_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", _str(length=320), nullable=False),
        sa.Column("action", _str(length=64), nullable=False),
        sa.Column("target", _str(length=400), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_action", "audit_log", ["action"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_action", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_moderation_decision_raw_id", table_name="moderation_decision")
    op.drop_table("moderation_decision")
    op.drop_index("ix_web_session_person_id", table_name="web_session")
    op.drop_table("web_session")
    op.drop_index("ix_login_token_client", table_name="login_token")
    op.drop_index("ix_login_token_email", table_name="login_token")
    op.drop_table("login_token")
    op.drop_index("ix_membership_person_id", table_name="membership")
    op.drop_index("ix_membership_community_id", table_name="membership")
    op.drop_table("membership")
    with op.batch_alter_table("community", schema=None) as batch_op:
        batch_op.drop_column("posting")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("disabled")
        batch_op.drop_column("is_admin")
