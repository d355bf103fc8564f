"""Every core a test opens starts from a schema the real migrations built once per test process.

`open_core` brings its database to the newest revision. On a new, empty
database that means running every Alembic migration, about a second each
time on the suite's 2-core machines, and the suite opens well over a
thousand cores per backend. So the first empty database is migrated for
real into a template, and each later empty one becomes a copy of it
(SQLite: the file, before anything opened it; PostgreSQL: the template's
pg_dump, run as one script, which costs the server about half of what the
migrations do); `migrate` then runs as ever and finds it at head.

Only `bridge.core`'s name for `migrate` is wrapped, and only an empty
database takes the copy: a database a test left at an older revision, or a
restored backup, is migrated for real, and tests/threads/test_migrations.py
calls `threads.db.migrate` itself. `bridge` subprocesses migrate for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, make_url, text

import bridge.core
from tests.support.backend import DATABASES, pg_bin
from threads.db import make_engine, migrate


class _Template:
    """The migrated schema, built on first use: a SQLite file, a PostgreSQL database."""

    def __init__(self) -> None:
        self._sqlite: Path | None = None
        self._pg_script: str | None = None

    def sqlite_file(self) -> Path:
        if self._sqlite is None:
            path = Path(tempfile.mkdtemp(prefix="bridge-schema-")) / "bridge.sqlite3"
            engine = make_engine(f"sqlite:///{path}")
            try:
                migrate(engine)
                with engine.connect() as conn:  # everything in the main file, none in -wal
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                engine.dispose()
            self._sqlite = path
        return self._sqlite

    def pg_script(self, admin_url: str) -> str:
        """pg_dump's SQL for a database the real migrations built (which is then dropped)."""
        if self._pg_script is None:
            name = f"template_{os.getpid()}"
            url = admin_url.rsplit("/", 1)[0] + "/" + name
            _pg_admin(admin_url, f'CREATE DATABASE "{name}"')
            engine = make_engine(url)
            try:
                migrate(engine)
            finally:
                engine.dispose()
            dsn = url.replace("postgresql+psycopg", "postgresql")
            dump = subprocess.run(
                [str(pg_bin() / "pg_dump"), "--no-owner", "--no-privileges", "--inserts", dsn],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            _pg_admin(admin_url, f'DROP DATABASE "{name}"')
            # psql's meta-commands (\restrict) are for psql: the SQL runs without them.
            self._pg_script = "\n".join(
                line for line in dump.splitlines() if not line.startswith("\\")
            )
        return self._pg_script

    def close(self) -> None:
        if self._sqlite is not None:
            shutil.rmtree(self._sqlite.parent, ignore_errors=True)


TEMPLATE = _Template()


def _pg_admin(admin_url: str, *statements: str) -> None:
    import psycopg

    dsn = admin_url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _pg_is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        tables = conn.execute(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public'"
            )
        )
        return tables.scalar_one() == 0


def _copy_template_into(engine: Engine) -> None:
    """Make `engine`'s database, if new and empty, a copy of the template."""
    url = engine.url
    if engine.dialect.name == "sqlite":
        path = Path(url.database or "")
        if url.database in (None, "", ":memory:") or (path.exists() and path.stat().st_size):
            return
        engine.dispose()
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(TEMPLATE.sqlite_file(), path)
        return
    admin = make_url(DATABASES.admin_url) if DATABASES.admin_url else None
    if admin is None or (admin.host, admin.port) != (url.host, url.port):
        return  # a database the suite did not create
    if not _pg_is_empty(engine):
        return
    script = TEMPLATE.pg_script(DATABASES.admin_url)
    import psycopg

    dsn = url.render_as_string(hide_password=False).replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn) as conn:  # one transaction; its session settings end with it
        conn.execute(script)


def migrate_from_template(engine: Engine, revision: str = "head") -> None:
    """`threads.db.migrate`, with an empty database first made a copy of the template."""
    if revision == "head":
        _copy_template_into(engine)
    migrate(engine, revision)


@contextmanager
def templates_for_cores() -> Iterator[None]:
    """While it lasts, `open_core` starts empty databases from the template."""
    bridge.core.migrate = migrate_from_template  # type: ignore[attr-defined]
    try:
        yield
    finally:
        bridge.core.migrate = migrate  # type: ignore[attr-defined]
        TEMPLATE.close()
