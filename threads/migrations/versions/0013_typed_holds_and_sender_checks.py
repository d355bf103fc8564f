"""Holds get a kind, raw mail its sender-authentication verdict, messages their sender check.

Code branched on the wording of a hold's reason ("bounce:", "confidential: "…);
`raw_message.hold_kind` now says what a hold is, and the reason stays text
for people. Held rows of earlier versions get their kind from that wording,
here, once. `message.sender_check` records whether the From was proven:
earlier messages are `unchecked`. `copy_review` lists addresses an
unverified message put on a thread, which get no copies until a moderator
approves them.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The wording earlier versions gave each kind of hold, first match wins.
_KINDS = (
    ("loop:", "loop"),
    ("bounce:", "bounce"),
    ("auto-reply:", "auto_reply"),
    ("confidential: ", "confidential"),
    ("sensitivity label", "sensitivity"),
    ("no sender:", "no_sender"),
    ("no route", "no_route"),
    ("community archived:", "archived"),
    ("reply command: ", "command"),
    ("reply token belongs to someone else", "misused_reply"),
    ("authentication failed", "auth_failed"),
    ("reply token", "invalid_reply"),
    ("parse time limit", "parse_timeout"),
    ("message larger than", "too_large"),
    ("header section larger", "too_large"),
    ("MIME nesting deeper", "too_large"),
    ("more than", "too_large"),
)


def upgrade() -> None:
    # Plain ADD COLUMN: a batch (copy-and-rename) of raw_message on SQLite would
    # trip the foreign keys that message rows hold on it.
    op.add_column("raw_message", sa.Column("hold_kind", sa.String(16), nullable=True))
    op.add_column("raw_message", sa.Column("auth", sa.JSON(), nullable=True))
    op.add_column(
        "message",
        sa.Column("sender_check", sa.String(16), nullable=False, server_default="unchecked"),
    )
    op.create_table(
        "copy_review",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("thread_id", sa.Integer(), sa.ForeignKey("thread.id"), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("message_pk", sa.Integer(), sa.ForeignKey("message.id"), nullable=True),
        sa.Column("added_by", sa.String(320), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("thread_id", "address"),
    )
    op.create_index("ix_copy_review_thread_id", "copy_review", ["thread_id"])
    raw = sa.table(
        "raw_message",
        sa.column("id", sa.Integer),
        sa.column("state", sa.String),
        sa.column("reason", sa.String),
        sa.column("hold_kind", sa.String),
    )
    conn = op.get_bind()
    # Reasons of posting holds name the policy ("not a member …"): whatever is left is one.
    for raw_id, reason in conn.execute(
        sa.select(raw.c.id, raw.c.reason).where(raw.c.state == "held")
    ):
        kind = next((k for prefix, k in _KINDS if (reason or "").startswith(prefix)), "posting")
        if "reply token belongs to someone else" in (reason or ""):
            kind = "misused_reply"
        conn.execute(sa.update(raw).where(raw.c.id == raw_id).values(hold_kind=kind))


def downgrade() -> None:
    op.drop_index("ix_copy_review_thread_id", table_name="copy_review")
    op.drop_table("copy_review")
    # SQLite 3.35+ drops columns in place (no table copy, so no foreign-key trouble).
    op.drop_column("message", "sender_check")
    op.drop_column("raw_message", "auth")
    op.drop_column("raw_message", "hold_kind")
