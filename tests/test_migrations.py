"""Schema: migrations are the only source of the schema and match the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from threads.db import make_engine, migrate


def test_migrations_match_models(tmp_path: Path) -> None:
    """After upgrading, autogenerate finds nothing to change (no forgotten migration)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    # The FTS5 shadow tables are created by the migration on purpose and have no model.
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name.startswith("message_fts"))]
    assert diff == []


def test_upgrade_twice_keeps_data(tmp_path: Path) -> None:
    """Starting again on an existing database changes nothing and keeps the rows."""
    from bridge import admin

    engine = make_engine(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    migrate(engine)
    admin.add_community(engine, "eng", "Engineering")
    migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT slug FROM community").scalars().all() == ["eng"]
