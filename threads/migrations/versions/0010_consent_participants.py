"""Candidates' participants as rows: a person's candidates by index, not by reading every list.

Existing candidates' JSON participant lists are copied in.

Revision ID: 0010
Revises: 0009
"""

import json

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the name autogenerate writes: sqlmodel.sql.sqltypes.AutoString
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "consent_participant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["consent_candidate.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("candidate_id", "address"),
    )
    op.create_index("ix_consent_participant_address", "consent_participant", ["address"])
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, participants FROM consent_candidate")).all()
    copied: list[dict[str, object]] = []
    for candidate_id, people in rows:
        if isinstance(people, str):  # SQLite hands JSON back as text here
            people = json.loads(people)
        addresses = {p.get("address", "") for p in people or [] if p.get("address")}
        copied.extend({"candidate_id": candidate_id, "address": a} for a in sorted(addresses))
    if copied:
        op.bulk_insert(table, copied)


def downgrade() -> None:
    op.drop_index("ix_consent_participant_address", table_name="consent_participant")
    op.drop_table("consent_participant")
