"""Moderation by mail and bounce state for people.

Revision ID: 0019
Revises: 0016

`moderation_notice` records which held messages were mailed to which
community's moderators (each is announced once; the latest notice paces the
hourly digest); `moderation_digest` keeps a digest's numbered entries, which
an answer to it names. `mail_address.first_bounce_at` keeps when an address started
bouncing, for the "mail to you is bouncing since" line on /me; addresses that
bounce already take their last bounce as the best date known.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "moderation_notice",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("raw_id", sa.Integer(), sa.ForeignKey("raw_message.id"), nullable=False),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("raw_id", "community_id"),
    )
    op.create_index("ix_moderation_notice_raw_id", "moderation_notice", ["raw_id"])
    op.create_index("ix_moderation_notice_community_id", "moderation_notice", ["community_id"])
    op.create_table(
        "moderation_digest",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("raw_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_moderation_digest_community_id", "moderation_digest", ["community_id"])
    op.create_index("ix_moderation_digest_person_id", "moderation_digest", ["person_id"])
    with op.batch_alter_table("mail_address") as batch:
        batch.add_column(sa.Column("first_bounce_at", sa.DateTime(timezone=True), nullable=True))
    mail_address = sa.table(
        "mail_address",
        sa.column("first_bounce_at", sa.DateTime(timezone=True)),
        sa.column("last_bounce_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        mail_address.update()
        .where(mail_address.c.last_bounce_at.is_not(None))
        .values(first_bounce_at=mail_address.c.last_bounce_at)
    )


def downgrade() -> None:
    with op.batch_alter_table("mail_address") as batch:
        batch.drop_column("first_bounce_at")
    op.drop_index("ix_moderation_digest_person_id", "moderation_digest")
    op.drop_index("ix_moderation_digest_community_id", "moderation_digest")
    op.drop_table("moderation_digest")
    op.drop_index("ix_moderation_notice_community_id", "moderation_notice")
    op.drop_index("ix_moderation_notice_raw_id", "moderation_notice")
    op.drop_table("moderation_notice")
