"""`bridge backup` while an import runs, `bridge restore` into a new place, exports compared.

Everything runs as an operator would: `bridge` commands (tests/support/cli.py)
on the suite's backend (SQLite, or PostgreSQL with pg_dump/pg_restore from
Debian's packages), an mbox with attachments imported by a `bridge` subprocess
while the backup is taken.
"""

from __future__ import annotations

import hashlib
import json
import mailbox
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.support.cli import run_bridge
from tests.support.env import bridge_env

MESSAGES = 2000
PER_THREAD = 5


def _mbox(path: Path) -> None:
    """MESSAGES messages in threads of PER_THREAD; every tenth carries its own attachment."""
    box = mailbox.mbox(str(path))
    base = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    for n in range(MESSAGES):
        thread, i = divmod(n, PER_THREAD)
        m = EmailMessage()
        m["From"] = f"Person {i} <p{i}@example.com>"
        m["To"] = "eng@lists.example.com"
        m["Subject"] = ("Re: " if i else "") + f"Topic {thread}"
        m["Date"] = format_datetime(base + timedelta(minutes=n))
        m["Message-ID"] = f"<t{thread}m{i}@example.com>"
        if i:
            m["In-Reply-To"] = f"<t{thread}m{i - 1}@example.com>"
        m.set_content(f"Message {i} of topic {thread}: the numbers are {n * 7919 % 10007}.\n")
        if n % 10 == 0:
            m.add_attachment(
                f"report {n}\n".encode() * 50,
                "application",
                "octet-stream",
                filename=f"report-{n}.bin",
            )
        box.add(m)
    box.close()


@pytest.fixture
def run(tmp_path: Path):
    def bridge(
        env: dict[str, str], *args: str, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = run_bridge(args, env, cwd=tmp_path)
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    return bridge


def _url(env: dict[str, str]) -> str:
    return env.get("BRIDGE_DATABASE_URL") or f"sqlite:///{env['BRIDGE_DATA']}/bridge.sqlite3"


def _rows(env: dict[str, str]) -> dict[str, Any]:
    """What must survive: raw bytes' hashes and states, messages' texts, attachments' hashes."""
    engine = create_engine(_url(env))
    try:
        with engine.connect() as conn:
            q = lambda sql: sorted(tuple(r) for r in conn.execute(text(sql)))  # noqa: E731
            return {
                "raw": q("SELECT sha256, state FROM raw_message"),
                "messages": q("SELECT message_id, visible_text, thread_id FROM message"),
                "attachments": q("SELECT sha256 FROM attachment"),
                "people": q("SELECT email FROM person"),
            }
    finally:
        engine.dispose()


def _files(data: Path) -> dict[str, str]:
    root = data / "attachments"
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def _count(env: dict[str, str]) -> int:
    engine = create_engine(_url(env))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM message")).scalar() or 0)
    except Exception:  # the store is still being created
        return 0
    finally:
        engine.dispose()


def test_backup_during_import_restores_to_the_same_archive(run, tmp_path: Path) -> None:
    """A backup taken mid-import restores to a consistent part; one taken after, to all of it."""
    source = bridge_env(tmp_path / "src")
    run(source, "community", "add", "eng", "--name", "Engineering")
    box = tmp_path / "big.mbox"
    _mbox(box)
    importing = subprocess.Popen(
        [sys.executable, "-m", "bridge", "import", "--community", "eng", str(box)],
        env=source,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while _count(source) < PER_THREAD * 20 and time.monotonic() < deadline:
            assert importing.poll() is None, importing.stderr.read() if importing.stderr else ""
            time.sleep(0.05)
        # Frozen where it stands (most likely inside a write transaction), so the backup
        # is certainly taken mid-import however fast this machine is today: it must hold
        # only what was committed, and every file that names.
        importing.send_signal(signal.SIGSTOP)
        try:
            during = tmp_path / "during.tar.gz"
            said = run(source, "backup", str(during)).stdout
        finally:
            importing.send_signal(signal.SIGCONT)
        racing = tmp_path / "racing.tar"
        run(source, "backup", str(racing))
    finally:
        _, err = importing.communicate(timeout=600)
    assert importing.returncode == 0, err
    assert "files" in said
    final = _rows(source)
    assert len(final["messages"]) == MESSAGES

    # Mid-import: a consistent prefix of the final archive, with every file it names.
    part = _restored_part(run, tmp_path / "mid", during, final)
    assert 0 < len(part["messages"]) < MESSAGES
    assert part["attachments"]
    # Taken while the import ran on (how far it got depends on the machine's speed).
    _restored_part(run, tmp_path / "racing", racing, final)

    # After the import: the restored store exports exactly what the source does.
    after = tmp_path / "after.tar"
    run(source, "backup", str(after))
    twin = bridge_env(tmp_path / "twin")
    run(twin, "restore", str(after), "--data", twin["BRIDGE_DATA"])
    assert _rows(twin) == final
    export = ("export", "threads", "--community", "eng", "--json")
    assert run(twin, *export).stdout == run(source, *export).stdout
    assert _files(Path(twin["BRIDGE_DATA"])) == _files(Path(source["BRIDGE_DATA"]))
    key = "secret_key"
    assert (Path(twin["BRIDGE_DATA"]) / key).read_text() == (
        Path(source["BRIDGE_DATA"]) / key
    ).read_text()


def _restored_part(run, data: Path, archive: Path, final: dict[str, Any]) -> dict[str, Any]:
    """Restore `archive` into `data`: a subset of `final` whose every attachment is on disk."""
    env = bridge_env(data)
    run(env, "restore", str(archive), "--data", env["BRIDGE_DATA"])
    part = _rows(env)
    assert set(part["messages"]) <= set(final["messages"])
    assert set(part["raw"]) <= set(final["raw"]) | {(h, "pending") for h, _ in final["raw"]}
    files = _files(Path(env["BRIDGE_DATA"]))
    assert all(files.get(f"{sha[:2]}/{sha}") == sha for (sha,) in part["attachments"])
    exported = json.loads(run(env, "export", "threads", "--community", "eng", "--json").stdout)
    assert sum(len(t["messages"]) for t in exported["threads"]) == len(part["messages"])
    return part


def test_restore_refuses_a_used_directory_and_a_stranger_file(run, tmp_path: Path) -> None:
    """Restoring over existing data, or from a file that is no backup: one line, non-zero."""
    source = bridge_env(tmp_path / "src")
    run(source, "community", "add", "eng", "--name", "Engineering")
    archive = tmp_path / "b.tar"
    run(source, "backup", str(archive))
    used = run(source, "restore", str(archive), "--data", source["BRIDGE_DATA"], ok=False)
    assert used.returncode != 0
    assert "not empty" in used.stderr
    assert used.stderr.strip().count("\n") == 0
    stranger = tmp_path / "notes.txt"
    stranger.write_text("hello")
    fresh = bridge_env(tmp_path / "fresh")
    bad = run(fresh, "restore", str(stranger), "--data", fresh["BRIDGE_DATA"], ok=False)
    assert bad.returncode != 0
    assert "not a bridge backup" in bad.stderr
    assert "Traceback" not in bad.stderr + used.stderr
