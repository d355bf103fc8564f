"""IMAP folders: an OAuth2 client per folder, and the poller's last status.

Revision ID: 0020
Revises: 0016

The bridge fetches its own access tokens (mail/oauth.py): the folder row names
the client (token URL, client id, the secret's variable or key file), never a
secret. The status columns let `bridge route list` and the admin pages, which
run in other processes than the poller, say how the folder is doing.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # the name autogenerate writes: sqlmodel.sql.sqltypes.AutoString
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_TEXT = (("oauth", 2048), ("status", 32), ("status_error", 512))
_TIMES = ("status_at", "token_expires_at")


def upgrade() -> None:
    with op.batch_alter_table("imap_folder") as table:
        for name, length in _TEXT:
            # Existing folders keep working as before: no OAuth client, no status yet.
            table.add_column(
                sa.Column(
                    name,
                    sqlmodel.sql.sqltypes.AutoString(length=length),
                    nullable=False,
                    server_default="",
                )
            )
        for name in _TIMES:
            table.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("imap_folder") as table:
        for name in (*_TIMES, *(n for n, _ in reversed(_TEXT))):
            table.drop_column(name)
