"""Alembic environment: runs on the connection `threads.db.migrate` hands over."""

from alembic import context
from sqlmodel import SQLModel

import threads.models  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes["connection"]


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # The full-text tables are written by hand per dialect (see 0001); autogenerate skips them.
    return not (name or "").startswith(("message_fts", "ix_message_fts"))


context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
