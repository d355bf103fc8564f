"""Which database the suite runs on: SQLite (default) or a real PostgreSQL it starts itself.

`BRIDGE_TEST_BACKEND=postgres pytest` starts a throw-away PostgreSQL cluster
(Debian's server binaries) in a temporary directory on a free loopback port,
or uses `BRIDGE_TEST_PG_URL` when given, and hands every test that asks a
fresh database, so the same tests prove both storage backends.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.net import free_port

BACKEND = os.environ.get("BRIDGE_TEST_BACKEND", "sqlite")
_counter = itertools.count()


def pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return found[-1].parent


class PostgresCluster:
    """A private cluster: initdb, start on a free port, drop everything at the end."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="bridge-pg-"))
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if self._as_postgres:
            shutil.chown(self.base, "postgres", "postgres")
        bin_ = pg_bin()
        data = self.base / "data"
        self._run(
            [
                str(bin_ / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "bridge",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale",
                "C",
            ]
        )
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            [
                str(bin_ / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(self.base / "log"),
                "-w",
                "start",
            ]
        )
        self._pg_ctl = [str(bin_ / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
        self.admin_url = f"postgresql+psycopg://bridge@127.0.0.1:{self.port}/postgres"

    def _run(self, cmd: list[str]) -> None:
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    def stop(self) -> None:
        self._run(self._pg_ctl)
        shutil.rmtree(self.base, ignore_errors=True)


class Databases:
    """Hands out empty databases: SQLite needs nothing (each test has its own data dir)."""

    def __init__(self) -> None:
        self._cluster: PostgresCluster | None = None
        self._admin_url = os.environ.get("BRIDGE_TEST_PG_URL", "")

    @property
    def admin_url(self) -> str:
        """The cluster's maintenance database; empty until the first new_url (or on SQLite)."""
        return self._admin_url

    def new_url(self) -> str:
        if BACKEND != "postgres":
            return ""
        if not self._admin_url:
            self._cluster = PostgresCluster()
            self._admin_url = self._cluster.admin_url
        import psycopg

        name = f"t{os.getpid()}_{next(_counter)}"
        dsn = self._admin_url.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self._admin_url.rsplit("/", 1)[0] + "/" + name

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.stop()


DATABASES = Databases()
