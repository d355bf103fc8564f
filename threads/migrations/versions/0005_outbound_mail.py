"""Outbound mail: the delivery queue, subscriptions, delivery preferences, address bounce state.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the name autogenerate writes: sqlmodel.sql.sqltypes.AutoString
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

S = sqlmodel.sql.sqltypes.AutoString


def _ts(name: str, *, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "outbound_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", S(length=16), nullable=False),
        sa.Column("recipient", S(length=320), nullable=False),
        sa.Column("message_id", S(length=998), nullable=False),
        sa.Column("subject", S(), nullable=False, server_default=""),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False, server_default="queued"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        _ts("next_attempt_at", nullable=False),
        sa.Column("last_error", S(), nullable=False, server_default=""),
        _ts("created_at", nullable=False),
        _ts("sent_at", nullable=True),
        sa.Column("claimed_by", S(length=64), nullable=False, server_default=""),
        _ts("claimed_until", nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.ForeignKeyConstraint(["thread_id"], ["thread.id"]),
        sa.ForeignKeyConstraint(["notification_id"], ["notification.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbound_mail", schema=None) as batch_op:
        batch_op.create_index("ix_outbound_mail_state_due", ["state", "next_attempt_at"])
        batch_op.create_index(batch_op.f("ix_outbound_mail_recipient"), ["recipient"])
        batch_op.create_index(batch_op.f("ix_outbound_mail_notification_id"), ["notification_id"])

    op.create_table(
        "mail_address",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", S(length=320), nullable=False),
        sa.Column("hard_bounces", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("soft_bounces", sa.Integer(), nullable=False, server_default="0"),
        _ts("last_bounce_at", nullable=True),
        sa.Column("last_reason", S(), nullable=False, server_default=""),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        _ts("disabled_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address"),
    )

    op.create_table(
        "thread_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("address", S(length=320), nullable=False),
        sa.Column("state", S(length=16), nullable=False),
        _ts("updated_at", nullable=False),
        sa.ForeignKeyConstraint(["thread_id"], ["thread.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("thread_id", "address"),
    )
    with op.batch_alter_table("thread_subscription", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_thread_subscription_thread_id"), ["thread_id"])
        batch_op.create_index(batch_op.f("ix_thread_subscription_address"), ["address"])

    op.create_table(
        "delivery_preference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("address", S(length=320), nullable=False),
        sa.Column("mode", S(length=16), nullable=False, server_default="each"),
        _ts("last_digest_at", nullable=True),
        _ts("updated_at", nullable=False),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("community_id", "address"),
    )
    with op.batch_alter_table("delivery_preference", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_preference_community_id"), ["community_id"])

    op.create_table(
        "mail_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("raw_id", sa.Integer(), nullable=False),
        sa.Column("kind", S(length=16), nullable=False),
        sa.Column("address", S(length=320), nullable=False, server_default=""),
        sa.Column("detail", S(), nullable=False, server_default=""),
        _ts("created_at", nullable=False),
        sa.ForeignKeyConstraint(["raw_id"], ["raw_message.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("raw_id"),
    )


def downgrade() -> None:
    op.drop_table("mail_event")
    with op.batch_alter_table("delivery_preference", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_preference_community_id"))
    op.drop_table("delivery_preference")
    with op.batch_alter_table("thread_subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_thread_subscription_address"))
        batch_op.drop_index(batch_op.f("ix_thread_subscription_thread_id"))
    op.drop_table("thread_subscription")
    op.drop_table("mail_address")
    with op.batch_alter_table("outbound_mail", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_mail_notification_id"))
        batch_op.drop_index(batch_op.f("ix_outbound_mail_recipient"))
        batch_op.drop_index("ix_outbound_mail_state_due")
    op.drop_table("outbound_mail")
