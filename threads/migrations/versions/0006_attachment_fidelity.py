"""Mail fidelity: what the parser now keeps about attachments, events and senders.

Calendar invites and the impersonation flag on messages; on attachments,
whether the bytes were stored (size limits) with a note saying why not, and
the summary of a forwarded message. Existing rows were all stored and have
no summaries, which is what the server defaults say.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the name autogenerate writes: sqlmodel.sql.sqltypes.AutoString
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("events", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "from_impersonates", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True
            )
        )
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stored", sa.Boolean(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("nested", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_column("nested")
        batch_op.drop_column("note")
        batch_op.drop_column("stored")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("from_impersonates")
        batch_op.drop_column("events")
