"""Several processes on one database: two SMTP listeners and three workers, and a killed worker."""

from __future__ import annotations

import os
import random
import signal
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bridge.core import Core, open_core
from bridge.settings import load_settings
from mail.envelope import Envelope
from tests.support.env import bridge_env
from tests.support.factories import create_community
from tests.support.messages import make_mail
from tests.support.net import free_port, wait_for
from tests.support.oracle import oracle_input, partition
from threads.models import Message, RawMessage, RawState
from threads.threading import group_threads

BRIDGE = [sys.executable, "-m", "bridge"]


def corpus(conversations: int, length: int) -> list[bytes]:
    """Conversations whose replies reference the root and their parent, dated in order."""
    base = datetime(2026, 3, 2, 9, tzinfo=UTC)
    out = []
    for c in range(conversations):
        for i in range(length):
            parent = f"c{c}m{i - 1}@example.com" if i else None
            out.append(
                make_mail(
                    ("Re: " if i else "") + f"Topic {c}",
                    sender=f"Person {i % 5} <p{i % 5}@example.com>",
                    cc="x@example.com, y@example.com",
                    msgid=f"c{c}m{i}@example.com",
                    in_reply_to=parent,
                    references=f"<c{c}m0@example.com> <{parent}>" if i > 1 else None,
                    body=f"Message {i} of conversation {c}.\n",
                    date=base + timedelta(hours=c, minutes=i),
                )
            )
    return out


class Cluster:
    """`bridge serve` processes with given roles on one shared store."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [*BRIDGE, "serve", *args],
            env={**self.env, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[tuple[Core, Cluster]]:
    env = {**os.environ, **bridge_env(tmp_path / "d")}
    settings = load_settings(data=tmp_path / "d", database_url=env.get("BRIDGE_DATABASE_URL"))
    core = open_core(settings)
    create_community(core)
    cluster = Cluster(env)
    try:
        yield core, cluster
    finally:
        cluster.stop()
        core.close()


def states(core: Core) -> dict[str, int]:
    raw = RawMessage.__table__
    with core.engine.connect() as conn:
        return dict(conn.execute(select(raw.c.state, func.count()).group_by(raw.c.state)).all())


def real_messages(core: Core) -> int:
    with core.engine.connect() as conn:
        stmt = select(func.count()).select_from(Message).where(Message.placeholder.is_(False))
        return conn.execute(stmt).scalar_one()


@pytest.mark.slow
def test_two_listeners_three_workers_file_everything_once(shared) -> None:
    """Fed concurrently through two listeners, three workers store and thread each message once."""
    core, cluster = shared
    ports = [free_port(), free_port()]
    for port in ports:
        cluster.start("--role", "smtp", "--smtp-port", str(port))
    for _ in range(3):
        # Small batches, so the workers file messages of one conversation at the same time.
        cluster.start("--role", "worker", BRIDGE_WORKER_BATCH="2")
    for port in ports:
        # Generous: five processes importing at once start slowly on a loaded machine.
        wait_for(lambda p=port: smtplib.SMTP("127.0.0.1", p).quit(), timeout=120)
    mails = corpus(conversations=12, length=8)
    # Every message once through each listener (same bytes: one raw row), plus a
    # relayed copy with an extra header (same Message-ID: filed once), in any order.
    jobs = [(m, 0) for m in mails] + [(m, 1) for m in mails]
    jobs += [(m.replace(b"Subject:", b"X-Relay: b\nSubject:", 1), 1) for m in mails[::7]]
    random.Random(7).shuffle(jobs)

    def send(job: tuple[bytes, int]) -> None:
        raw, which = job
        with smtplib.SMTP("127.0.0.1", ports[which]) as smtp:
            # SMTP lines end in CRLF; the listener refuses bare LF (make_mail writes LF).
            crlf = raw.replace(b"\n", b"\r\n")
            smtp.sendmail("p@example.com", ["eng@lists.example.com"], crlf)

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(send, jobs))
    wait_for(lambda: states(core).get("pending", 0) == 0, timeout=120)
    assert states(core) == {"done": len(mails), "duplicate": len(mails[::7])}
    assert real_messages(core) == len(mails)
    assert partition(core) == set(group_threads(oracle_input(m) for m in mails))


@pytest.mark.slow
def test_a_killed_worker_loses_nothing(shared) -> None:
    """SIGKILL a worker mid-queue: its claims expire and another worker files the rest once."""
    core, cluster = shared
    mails = corpus(conversations=60, length=25)
    for raw in mails:
        core.inbox.accept(raw, Envelope(source="smtp", rcpt_to=("eng@lists.example.com",)))
    victim = cluster.start("--role", "worker", BRIDGE_CLAIM_SECONDS="3")
    wait_for(lambda: states(core).get("done", 0) > 0, timeout=60)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    left = states(core).get("pending", 0)
    assert left > 0, "the worker finished before it could be killed; feed it more mail"
    raw = RawMessage.__table__
    with core.engine.connect() as conn:
        held_by_dead = conn.execute(
            select(func.count()).where(raw.c.state == RawState.pending, raw.c.claimed_by != "")
        ).scalar_one()
    cluster.start("--role", "worker")
    wait_for(lambda: states(core).get("pending", 0) == 0, timeout=120)
    assert states(core) == {"done": len(mails)}
    assert real_messages(core) == len(mails)
    assert partition(core) == set(group_threads(oracle_input(m) for m in mails))
    print(f"killed with {left} pending, {held_by_dead} of them under the dead worker's lease")
