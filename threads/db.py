"""Engine creation and every difference between SQLite and PostgreSQL that is not search.

SQLite is the embedded default: WAL so readers never block the writer,
`synchronous=FULL` so a commit is on disk before SMTP says 250, a busy timeout,
foreign keys on, and `BEGIN IMMEDIATE` for every transaction so two writers
queue up instead of failing on a lock upgrade. Schema changes go through
Alembic, applied at start by `migrate` (skipped when the database is already at
the newest revision).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, case, create_engine, event, make_url, text

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine for `url` with the per-dialect settings this module owns."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kw)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    # One `options=` in the URL (libpq takes one); several would arrive as a tuple.
    given = cast("str | None", make_url(url).query.get("options"))
    options = " ".join(filter(None, [given, _PG_KEEPALIVES]))
    connect_args = {**kw.pop("connect_args", {}), "options": options}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kw)


# A bridge host that vanishes (power, network) leaves its sessions open on the server,
# holding row locks and serialize_on's advisory locks, which other workers then wait on.
# The kernel's default keepalive finds such a peer dead after two hours; these per-session
# settings make the server drop it within about a minute (30 s idle, 3 probes 10 s apart).
# A process that is merely killed needs none of this: its kernel closes the connection.
_PG_KEEPALIVES = "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Autocommit at the driver level: transactions are begun by `_sqlite_on_begin`.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        "foreign_keys=ON",
        "busy_timeout=30000",
        "cache_size=-65536",
    ):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    # Writers take the lock up front (no deadlock on a read-to-write upgrade);
    # readers use a deferred BEGIN so they never wait for a writer under WAL.
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writer(engine: Engine) -> Engine:
    """The engine to open write transactions with (same pool, writer semantics)."""
    return engine.execution_options(sqlite_immediate=True)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the newest revision (tests: to an older one); no data is dropped.

    A database already at the newest revision is left alone without loading Alembic
    (threads/schema_head.py): most opens find nothing to do, and Alembic's imports
    and scripts cost a short command more than its own work."""
    from threads.schema_head import at_head

    if revision == "head" and at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def insert_ignoring_conflict(engine_or_conn: Any, table: Any, conflict: list[str]) -> Any:
    """INSERT ... ON CONFLICT (cols) DO NOTHING for the connection's dialect."""
    if engine_or_conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing(index_elements=conflict)
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert(table).on_conflict_do_nothing(index_elements=conflict)


def upsert(engine_or_conn: Any, table: Any, conflict: list[str], touched: Iterable[str]) -> Any:
    """INSERT ... ON CONFLICT (cols) DO UPDATE: the `touched` columns take the new values."""
    if engine_or_conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        from sqlalchemy.dialects.postgresql import insert as dialect_insert  # type: ignore[assignment]
    stmt = dialect_insert(table)
    return stmt.on_conflict_do_update(
        index_elements=conflict, set_={c: stmt.excluded[c] for c in touched}
    )


def insert_keeping_highest(
    engine_or_conn: Any, table: Any, conflict: list[str], column: str, touched: Iterable[str] = ()
) -> Any:
    """INSERT ... ON CONFLICT (cols) DO UPDATE, keeping the higher of the stored and new
    `column` (a mark that only moves forward, whichever of two writers commits last);
    the `touched` columns take the new values."""
    if engine_or_conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        from sqlalchemy.dialects.postgresql import insert as dialect_insert  # type: ignore[assignment]
    stmt = dialect_insert(table)
    new, old = stmt.excluded[column], table.c[column]
    return stmt.on_conflict_do_update(
        index_elements=conflict,
        set_={column: case((new > old, new), else_=old), **{c: stmt.excluded[c] for c in touched}},
    )


def serialize_on(conn: Any, keys: Iterable[str]) -> None:
    """Hold PostgreSQL advisory locks on `keys` until the transaction ends.

    Two processes filing messages of one conversation at once would each miss
    the other's uncommitted rows and start two threads. Locking every key a
    message can link through (its ids, its references, its Thread-Index and
    subject) makes them take turns; taking the keys of a whole batch in
    sorted order means two batches can never deadlock. SQLite needs nothing:
    its writers already take turns.
    """
    if conn.dialect.name == "sqlite":
        return
    ids = sorted({_lock_id(key) for key in keys})
    if ids:
        conn.execute(
            text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ids AS bigint[])) AS k"),
            {"ids": ids},
        )


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
