"""`bridge import` run as an admin runs it: bad archives get one true line, the count adds up.

Damaged archives are made here from a real mbox: cut short, misnamed,
empty. The expected counts are worked out from the archive bytes
themselves (how many whole messages a decompressor can recover), never
written in.
"""

from __future__ import annotations

import gzip
import lzma
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from bridge.cli import main
from bridge.core import Core, open_core
from bridge.settings import load_settings
from mail.envelope import Envelope
from tests.support.cli import run_bridge
from tests.support.env import bridge_env
from tests.support.messages import make_mail
from threads.models import RawMessage, RawState

SEPARATOR = b"From archive@example.com Mon Mar  2 09:00:00 2026\n"


def mbox_bytes(count: int, prefix: str = "m") -> bytes:
    """An mbox of `count` distinct messages with bodies that do not compress away."""
    return b"".join(
        SEPARATOR
        + make_mail(
            f"Archive note {i}", msgid=f"{prefix}{i}@example.com", body=os.urandom(600).hex()
        ).replace(b"\r\n", b"\n")
        + b"\n"
        for i in range(count)
    )


def whole_messages(recovered: bytes) -> int:
    """Messages in a recovered prefix of an mbox that the next separator closed."""
    return max(recovered.count(b"\n" + SEPARATOR) + recovered.startswith(SEPARATOR) - 1, 0)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh store: its data directory and, on PostgreSQL, its own database."""
    return bridge_env(tmp_path / "d")


@pytest.fixture
def bridge(env: dict[str, str]) -> Callable[..., Result]:
    """The `bridge` command on the fresh store, run in-process with CliRunner."""

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=env)

    assert run("community", "add", "eng", "--name", "Engineering").exit_code == 0
    return run


def open_store(env: dict[str, str]) -> Core:
    """The store `env` names, opened in this process."""
    return open_core(
        load_settings(data=Path(env["BRIDGE_DATA"]), database_url=env.get("BRIDGE_DATABASE_URL"))
    )


def stored(env: dict[str, str]) -> int:
    core = open_store(env)
    try:
        with core.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(RawMessage)).scalar_one()
    finally:
        core.close()


def one_error(result: Result, path: Path, problem: str) -> None:
    """Exit status 1 and exactly one line on stderr: the file and what is wrong with it."""
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"Error: {path}: {problem}"], result.stderr


def test_a_plain_mbox_named_gz_is_called_what_it_is(bridge, tmp_path: Path) -> None:
    """An uncompressed mbox named .gz: one line saying so and how to fix it, nothing stored."""
    path = tmp_path / "list.mbox.gz"
    path.write_bytes(mbox_bytes(3))
    result = bridge("import", "--community", "eng", str(path))
    one_error(result, path, "not a gzip file: it is a plain mbox, rename it without .gz")
    assert result.stdout == ""


def test_random_bytes_named_xz_are_not_an_xz_file(bridge, tmp_path: Path) -> None:
    """Bytes that are neither xz nor mail named .xz: one line, nothing stored."""
    path = tmp_path / "list.mbox.xz"
    path.write_bytes(os.urandom(64))
    one_error(bridge("import", "--community", "eng", str(path)), path, "not an xz file")


@pytest.mark.parametrize(
    ("suffix", "compress", "recover"),
    [
        (".gz", gzip.compress, lambda data: zlib.decompressobj(31).decompress(data)),
        (".xz", lzma.compress, lambda data: lzma.LZMADecompressor().decompress(data)),
    ],
    ids=["gzip", "xz"],
)
def test_a_truncated_archive_imports_what_came_before_the_cut(
    bridge, env: dict[str, str], tmp_path: Path, suffix: str, compress: Callable, recover: Callable
) -> None:
    """A download cut short: the whole messages before the cut are imported and counted."""
    data = compress(mbox_bytes(60))
    cut = data[: len(data) * 2 // 3]
    path = tmp_path / f"list.mbox{suffix}"
    path.write_bytes(cut)
    before = whole_messages(recover(cut))
    assert 0 < before < 60

    result = bridge("import", "--community", "eng", str(path))
    kind = "gzip" if suffix == ".gz" else "xz"
    one_error(
        result,
        path,
        f"cut short in message {before + 1}, after {before} whole messages: the {kind} data"
        " ends before its end marker (an unfinished download or copy?)",
    )
    assert result.stdout.strip() == f"imported {before}, duplicates 0, held 0, failed 0"
    assert stored(env) == before


def test_an_empty_file_is_an_error_not_a_message(
    bridge, env: dict[str, str], tmp_path: Path
) -> None:
    """An empty file is said to be empty; no empty message is stored and held."""
    path = tmp_path / "list.mbox"
    path.write_bytes(b"")
    result = bridge("import", "--community", "eng", str(path))
    one_error(result, path, "empty file, no messages in it")
    assert stored(env) == 0


def test_a_folder_without_mail_says_what_it_looked_for(bridge, tmp_path: Path) -> None:
    """A folder that is no Maildir and holds no .eml files: one line saying what was looked for."""
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "readme.txt").write_text("the archive is elsewhere\n")
    result = bridge("import", "--community", "eng", str(folder))
    one_error(
        result, folder, "no mail found: not a Maildir (no cur/ or new/) and no .eml files in it"
    )


def test_good_files_are_imported_beside_a_bad_one(bridge, tmp_path: Path) -> None:
    """One bad archive among several: the others are imported, the summary and one error line."""
    good = tmp_path / "good.mbox"
    good.write_bytes(mbox_bytes(4, "g"))
    bad = tmp_path / "bad.mbox.gz"
    bad.write_bytes(b"not gzip at all")
    result = bridge("import", "--community", "eng", str(bad), str(good))
    one_error(result, bad, "not a gzip file")
    assert result.stdout.strip() == "imported 4, duplicates 0, held 0, failed 0"


BRIDGE = [sys.executable, "-m", "bridge"]


def subprocess_store(tmp_path: Path, messages: int) -> tuple[dict[str, str], list[str]]:
    """Environment of a fresh store with community eng, and the import command of an mbox."""
    env = {**os.environ, **bridge_env(tmp_path / "d")}
    assert run_bridge(["community", "add", "eng", "--name", "E"], env).returncode == 0
    path = tmp_path / "a.mbox"
    path.write_bytes(mbox_bytes(messages))
    return env, [*BRIDGE, "import", "--community", "eng", str(path)]


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    """Scripts and logs get the summary only; the bar is drawn on a terminal alone."""
    env, command = subprocess_store(tmp_path, 5)
    result = subprocess.run(command, env=env, capture_output=True)
    assert result.returncode == 0
    assert result.stderr == b""
    assert result.stdout == b"imported 5, duplicates 0, held 0, failed 0\n"


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal the import draws a progress bar with the message rate."""
    import fcntl
    import pty
    import struct
    import termios

    env, command = subprocess_store(tmp_path, 5)
    parent, child = pty.openpty()
    # A real terminal has a size; tqdm draws nothing into one of 0 columns.
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=child) as proc:
        os.close(child)
        out, _ = proc.communicate(timeout=120)
    drawn = b""
    while True:
        try:
            chunk = os.read(parent, 4096)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(parent)
    assert out == b"imported 5, duplicates 0, held 0, failed 0\n"
    assert b"100%" in drawn
    assert b"msg/s" in drawn


def test_import_while_serve_runs_counts_what_its_worker_filed(tmp_path: Path) -> None:
    """With `bridge serve` working the same data, the summary still adds up to the archive."""
    env, command = subprocess_store(tmp_path, 1200)
    # A message waiting before serve starts: once it is filed, serve's worker is running.
    core = open_store(env)
    probe = core.inbox.accept(make_mail(msgid="probe@example.com"), Envelope("smtp"))
    with subprocess.Popen(
        [*BRIDGE, "serve", "--role", "worker"], env=env, stderr=subprocess.DEVNULL
    ) as serve:
        try:
            deadline = time.monotonic() + 60
            while _state(core, probe.raw_id) == RawState.pending:
                assert time.monotonic() < deadline, "serve's worker never started"
                time.sleep(0.2)
            result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        finally:
            serve.terminate()
            serve.wait(timeout=30)
    with core.engine.connect() as conn:
        raw = RawMessage.__table__
        by_serve = conn.execute(
            select(func.count()).where(raw.c.source == "import", raw.c.claimed_by != "")
        ).scalar_one()
    core.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported 1200, duplicates 0, held 0, failed 0"
    # How much serve's worker takes depends on when its polls (every 2 s) meet the
    # import's pending batches: often some, sometimes none on a fast or a busy
    # machine. The summary must add up either way; the share is printed.
    print(f"serve's worker filed {by_serve} of the 1200")


def _state(core: Core, raw_id: int) -> str:
    with core.engine.connect() as conn:
        return conn.execute(select(RawMessage.state).where(RawMessage.id == raw_id)).scalar_one()
