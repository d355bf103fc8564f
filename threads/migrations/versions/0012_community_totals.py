"""Each community keeps its thread and message totals, maintained by the database.

The home page showed them by aggregating every thread of every community on
each view (15 ms at 100,000 messages, ten times that at a million). Triggers
on `thread` keep `community.thread_total` (threads with at least one real
message) and `community.message_total` exact: every way a thread's count or
community changes (filing, merging, withdrawing, reprocessing) goes through
a row of `thread`, so no code path can forget them.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# What one thread row adds to its community's totals (SQLite: a comparison is 0 or 1).
_SQLITE_ADD = """
    UPDATE community SET thread_total = thread_total + (NEW.message_count > 0),
                         message_total = message_total + NEW.message_count
    WHERE id = NEW.community_id;"""
_SQLITE_TAKE = """
    UPDATE community SET thread_total = thread_total - (OLD.message_count > 0),
                         message_total = message_total - OLD.message_count
    WHERE id = OLD.community_id;"""

_SQLITE_TRIGGERS = (
    f"CREATE TRIGGER thread_totals_insert AFTER INSERT ON thread BEGIN {_SQLITE_ADD} END",
    f"CREATE TRIGGER thread_totals_delete AFTER DELETE ON thread BEGIN {_SQLITE_TAKE} END",
    "CREATE TRIGGER thread_totals_update AFTER UPDATE OF message_count, community_id ON thread"
    f" BEGIN {_SQLITE_TAKE} {_SQLITE_ADD} END",
)

_PG_FUNCTION = """
CREATE FUNCTION thread_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE community SET thread_total = thread_total - (OLD.message_count > 0)::int,
                             message_total = message_total - OLD.message_count
        WHERE id = OLD.community_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        UPDATE community SET thread_total = thread_total + (NEW.message_count > 0)::int,
                             message_total = message_total + NEW.message_count
        WHERE id = NEW.community_id;
    END IF;
    RETURN NULL;
END $$"""
_PG_TRIGGER = """
CREATE TRIGGER thread_totals AFTER INSERT OR DELETE OR UPDATE OF message_count, community_id
ON thread FOR EACH ROW EXECUTE FUNCTION thread_totals()"""


def upgrade() -> None:
    for column in ("thread_total", "message_total"):
        op.add_column(
            "community",
            sa.Column(column, sa.Integer(), nullable=False, server_default="0"),
        )
    op.execute(
        """
        UPDATE community SET
            thread_total = (SELECT count(*) FROM thread
                            WHERE thread.community_id = community.id
                              AND thread.message_count > 0),
            message_total = (SELECT coalesce(sum(message_count), 0) FROM thread
                             WHERE thread.community_id = community.id)
        """
    )
    # The community page counted threads from indexes less this one's; it reads the total now.
    op.drop_index("ix_thread_community_empty", table_name="thread")
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    else:
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)


def downgrade() -> None:
    op.create_index(
        "ix_thread_community_empty",
        "thread",
        ["community_id"],
        sqlite_where=sa.text("message_count = 0"),
        postgresql_where=sa.text("message_count = 0"),
    )
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER thread_totals_{name}")
    else:
        op.execute("DROP TRIGGER thread_totals ON thread")
        op.execute("DROP FUNCTION thread_totals()")
    with op.batch_alter_table("community", schema=None) as batch_op:
        batch_op.drop_column("thread_total")
        batch_op.drop_column("message_total")
