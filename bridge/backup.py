"""One-file backups of a bridge, consistent while it serves, and their restore.

A backup is a tar archive (gzip-compressed when FILE ends in .gz or .tgz):

- `manifest.json`: format version, when, the database kind and schema revision;
- the database: `database.sqlite3` made with SQLite's online backup API (a
  consistent copy while writers go on: the copy is one read transaction), or
  `database.pgdump` from `pg_dump --format=custom` (a single snapshot);
- `data/…`: every other file of the data directory: attachments
  (content-addressed), the outbox Maildir and the key files (`secret_key`,
  which signs sessions, reply and unsubscribe tokens; any other key kept there).

The database is copied first, then the files: attachment files are written
before the transaction that refers to them commits, so every file the copied
database names is already on disk when the files are read. Files added
later are harmless extras. Not handled: an attachment whose message is
withdrawn and erased between the two steps is missing from the copy.

Restore goes into an empty data directory (and, for a PostgreSQL backup, an
empty database named by BRIDGE_DATABASE_URL); a bridge started on it then
migrates the schema forward if the backup came from an older version.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, make_url, text

from bridge.errors import UsageError
from bridge.settings import Settings
from threads.models import utcnow

FORMAT = 1
SQLITE_FILES = (
    "bridge.sqlite3",
    "bridge.sqlite3-wal",
    "bridge.sqlite3-shm",
    "bridge.sqlite3-journal",
)
SKIPPED_PREFIXES = (".readyz-",)  # readiness probes' scratch files


def backup(settings: Settings, target: Path) -> dict[str, Any]:
    """Write the backup archive to `target` (atomically: a partial file is never left)."""
    url = make_url(settings.effective_database_url)
    target = target.resolve()
    with tempfile.TemporaryDirectory(prefix="bridge-backup-", dir=target.parent) as scratch:
        work = Path(scratch)
        if url.get_backend_name() == "sqlite":
            db_name = "database.sqlite3"
            _sqlite_copy(Path(url.database or ""), work / db_name)
            revision = _sqlite_revision(work / db_name)
        else:
            db_name = "database.pgdump"
            revision = _pg_dump(settings.effective_database_url, work / db_name)
        manifest = {
            "format": FORMAT,
            "created_at": utcnow().isoformat(),
            "database": url.get_backend_name(),
            "revision": revision,
        }
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
        partial = work / "archive.partial"
        with _open_for_writing(partial, target) as tar:
            tar.add(work / "manifest.json", "manifest.json")
            tar.add(work / db_name, db_name)
            files = _add_data_files(tar, settings.data, exclude=target)
        os.replace(partial, target)
    return {**manifest, "files": files, "path": str(target)}


def restore(archive: Path, settings: Settings) -> dict[str, Any]:
    """Unpack `archive` into `settings.data` (empty) and its database."""
    data = settings.data
    if data.exists() and any(data.iterdir()):
        raise UsageError(f"{data} is not empty: restore into a new data directory")
    try:
        tar = tarfile.open(archive)  # noqa: SIM115 (closed by the `with` below)
    except (OSError, tarfile.TarError) as exc:
        raise UsageError(f"{archive}: not a bridge backup ({exc})") from exc
    with tar, tempfile.TemporaryDirectory(prefix="bridge-restore-") as scratch:
        work = Path(scratch)
        try:
            manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        except (KeyError, AttributeError, ValueError) as exc:
            raise UsageError(f"{archive}: not a bridge backup (no manifest)") from exc
        if manifest.get("format") != FORMAT:
            raise UsageError(f"{archive}: backup format {manifest.get('format')} is not known")
        url = make_url(settings.effective_database_url)
        kind = url.get_backend_name()
        if manifest["database"] != kind:
            raise UsageError(
                f"{archive} holds a {manifest['database']} database and the target is {kind}: "
                "set BRIDGE_DATABASE_URL to match (or unset it for SQLite)"
            )
        tar.extractall(work, filter="data")
        data.mkdir(parents=True, exist_ok=True)
        if kind == "sqlite":
            shutil.copyfile(work / "database.sqlite3", Path(url.database or ""))
        else:
            _pg_restore(settings.effective_database_url, work / "database.pgdump")
        files = 0
        source = work / "data"
        if source.exists():
            for path in sorted(source.rglob("*")):
                dest = data / path.relative_to(source)
                if path.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                else:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, dest)
                    files += 1
        if (data / "secret_key").exists():
            (data / "secret_key").chmod(0o600)
    return {**manifest, "files": files, "data": str(data)}


def _open_for_writing(partial: Path, target: Path) -> tarfile.TarFile:
    if target.name.endswith((".gz", ".tgz")):
        return tarfile.open(partial, "w:gz")
    return tarfile.open(partial, "w")


def _sqlite_copy(source: Path, dest: Path) -> None:
    if not source.exists():
        raise UsageError(f"no database at {source}")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    out = sqlite3.connect(dest)
    try:
        src.backup(out)  # all pages in one step: one read transaction, one snapshot
    finally:
        out.close()
        src.close()


def _sqlite_revision(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])
    finally:
        conn.close()


def _add_data_files(tar: tarfile.TarFile, data: Path, *, exclude: Path) -> int:
    count = 0
    for path in sorted(data.rglob("*")):
        rel = path.relative_to(data)
        if (
            path.is_dir()
            or path.resolve() == exclude
            or (len(rel.parts) == 1 and rel.name in SQLITE_FILES)
            or rel.name.startswith(SKIPPED_PREFIXES)
            or rel.suffix == ".tmp"  # a file being written (renamed into place when whole)
            or rel.parts[0].startswith("bridge-backup-")
        ):
            continue
        try:
            tar.add(path, f"data/{rel.as_posix()}", recursive=False)
        except FileNotFoundError:  # removed while we walked (a finished temporary file)
            continue
        count += 1
    return count


def _pg_tool(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)),
        None,
    )
    if found is None:
        raise UsageError(f"{name} not found: install the PostgreSQL client (postgresql-client)")
    return found


def _libpq(url_text: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password (which goes in PGPASSWORD, not the process list)."""
    url = make_url(url_text)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_dump(url_text: str, dest: Path) -> str:
    revision = _scalar(url_text, "SELECT version_num FROM alembic_version")
    _pg_run(
        "pg_dump",
        url_text,
        lambda conninfo: [
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={dest}",
            conninfo,
        ],
    )
    return str(revision)


def _pg_restore(url_text: str, dump: Path) -> None:
    engine = create_engine(url_text)
    try:
        with engine.connect() as conn:
            if inspect(conn).get_table_names():
                raise UsageError("the database in BRIDGE_DATABASE_URL is not empty")
    finally:
        engine.dispose()
    _pg_run(
        "pg_restore",
        url_text,
        lambda conninfo: [
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            f"--dbname={conninfo}",
            str(dump),
        ],
    )


def _pg_run(tool: str, url_text: str, arguments: Callable[[str], list[str]]) -> None:
    conninfo, env = _libpq(url_text)
    # The program is PostgreSQL's own tool; the arguments are ours (no shell).
    done = subprocess.run(  # noqa: S603
        [_pg_tool(tool), *arguments(conninfo)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise UsageError(f"{tool} failed: {_last_line(done.stderr)}")


def _scalar(url_text: str, sql: str) -> object:
    engine = create_engine(url_text)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def _last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
