"""A crash costs seconds: leases are renewed while their holder lives, freed when it died.

The unit tests put claims in the database under holder names of processes
that are gone, replaced (pid reused), alive, or on another host, and check
which ones a starting process frees. The load test kills `bridge serve`
(SMTP and worker) with SIGKILL while ten clients send and its worker holds a
batch, restarts it, and checks that every message that got 250 is filed
within seconds of the restart (the time is printed), and none twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bridge import liveness
from bridge.core import Core, open_core
from bridge.heartbeat import release_dead, renewing
from bridge.settings import load_settings
from mail.envelope import Envelope
from tests.support import net
from tests.support import smtp_load as load
from tests.support.env import bridge_env
from tests.support.messages import make_mail
from threads import leases, outbound, queue
from threads.db import writer
from threads.models import Message, RawMessage, RawState, utcnow

RAW = RawMessage.__table__
# Seconds from restart until every acknowledged message is filed. Measured 2-8 s on a
# quiet machine (docs/deploy.md); the bound leaves room for a loaded shared machine
# (17 s seen beside five other test runs) while a lease of 300 s makes sure only the
# release at start, never the lease running out, can pass it.
RECOVERY_BOUND = 30.0


def gone_pid() -> tuple[int, str]:
    """The pid and start of a process that ran on this host and has exited."""
    child = subprocess.Popen(["sleep", "30"])
    start = liveness.process_start(child.pid)
    child.kill()
    child.wait()
    assert start is not None
    return child.pid, start


def here(pid: int, start: str, tail: str = "1") -> str:
    return f"{liveness.host_tag()}:{pid}:{start}:{tail}"


def pending(core: Core, count: int) -> list[int]:
    envelope = Envelope(source="smtp", mail_from="", rcpt_to=["eng@lists.example.com"])
    return [
        core.inbox.accept(make_mail(msgid=f"lease{n}@example.com"), envelope).raw_id
        for n in range(count)
    ]


def hold(core: Core, raw_id: int, holder: str, seconds: float) -> None:
    with writer(core.engine).begin() as conn:
        conn.execute(
            update(RAW)
            .where(RAW.c.id == raw_id)
            .values(claimed_by=holder, claimed_until=utcnow() + timedelta(seconds=seconds))
        )


def holders(core: Core) -> dict[int, str]:
    with core.engine.connect() as conn:
        return dict(conn.execute(select(RAW.c.id, RAW.c.claimed_by)).all())


def test_holder_names_carry_host_pid_and_start() -> None:
    """This process's lease name parses back to this host, pid and start, and is alive."""
    name = liveness.holder_name("7")
    start = liveness.process_start(os.getpid())
    assert liveness.parse_holder(name) == liveness.Holder(liveness.host_tag(), os.getpid(), start)
    assert len(name) <= 64
    assert not liveness.is_dead(name)
    assert liveness.parse_holder("oldhost:123:456") is None, "names of older versions are not ours"


def test_a_starting_process_frees_the_claims_of_dead_processes_on_its_host(core: Core) -> None:
    """Gone or replaced pid: freed at once; live process, other host, old name: kept."""
    gone, replaced, live_claim, elsewhere, legacy = pending(core, 5)
    dead_pid, dead_start = gone_pid()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        sleeper_start = liveness.process_start(sleeper.pid)
        assert sleeper_start
        hold(core, gone, here(dead_pid, dead_start), 300)
        # Our own pid, but started at another time: the pid was reused, its holder is dead.
        hold(core, replaced, here(os.getpid(), str(int(dead_start) - 1)), 300)
        hold(core, live_claim, here(sleeper.pid, sleeper_start), 300)
        hold(core, elsewhere, f"otherhost~abcdef:{dead_pid}:{dead_start}:1", 300)
        hold(core, legacy, f"oldhost:{dead_pid}:1", 300)
        before = holders(core)

        assert release_dead(core.engine) == {"raw_message": 2}
        after = holders(core)
        assert after[gone] == after[replaced] == ""
        assert {i: after[i] for i in (live_claim, elsewhere, legacy)} == {
            i: before[i] for i in (live_claim, elsewhere, legacy)
        }
        with writer(core.engine).begin() as conn:
            taken = queue.claim(conn, "me~000000:1:1:1", limit=10, lease=timedelta(seconds=30))
        assert taken == sorted([gone, replaced])
    finally:
        sleeper.kill()
        sleeper.wait()
    # The sleeper is gone now, so its claim goes too.
    assert release_dead(core.engine) == {"raw_message": 1}


def test_another_hosts_claim_is_taken_over_only_when_its_lease_expires(core: Core) -> None:
    """No pid check across hosts: the claim waits out its lease, then the next claim takes it."""
    (raw_id,) = pending(core, 1)
    hold(core, raw_id, "otherhost~abcdef:1:1:1", 2)
    assert release_dead(core.engine) == {}

    def claim() -> list[int]:
        with writer(core.engine).begin() as conn:
            return queue.claim(conn, "me~000000:1:1:1", limit=10, lease=timedelta(seconds=30))

    assert claim() == []
    assert net.wait_for(claim, timeout=60) == [raw_id]


def test_a_holder_renews_only_its_own_claims_while_it_works(core: Core) -> None:
    """`renewing` pushes our lease forward while the block runs; another holder's stays put."""
    ours, theirs = pending(core, 2)
    me = liveness.holder_name("renew")
    hold(core, ours, me, 3)
    hold(core, theirs, "otherhost~abcdef:1:1:1", 3)

    def until() -> dict[int, object]:
        with core.engine.connect() as conn:
            return dict(conn.execute(select(RAW.c.id, RAW.c.claimed_until)).all())

    first = until()
    with renewing(core.engine, leases.RAW_CLAIMS, me, timedelta(seconds=3)):
        net.wait_for(lambda: until()[ours] > first[ours], timeout=60)
    assert until()[theirs] == first[theirs]


def test_dead_senders_and_pollers_leases_are_freed_too(core: Core) -> None:
    """Outbound mail a dead sender claimed and a folder a dead poller held are freed at start."""
    from bridge import route_admin
    from bridge.pollers import DatabaseFolder
    from tests.support.factories import create_community

    create_community(core, slug="eng")
    dead = here(*gone_pid())
    with writer(core.engine).begin() as conn:
        mail_ids = outbound.enqueue(
            conn,
            [
                {"kind": "notice", "recipient": f"r{n}@example.com", "message_id": f"n{n}@x"}
                | {"data": b"Subject: hi\r\n\r\nhi\r\n"}
                for n in range(2)
            ],
        )
        outbound.claim_due(conn, dead, limit=1, lease=timedelta(seconds=300))
        outbound.claim_due(conn, liveness.holder_name("s"), limit=1, lease=timedelta(seconds=300))
    with writer(core.engine).begin() as conn:
        url = route_admin.add_imap_route(
            conn, "eng", "imap://u@imap.example.com/INBOX", password_env="X"
        )
    with core.engine.connect() as conn:
        folder_id = conn.execute(
            select(leases.FOLDERS.c.id).where(leases.FOLDERS.c.url == url)
        ).scalar_one()
    assert DatabaseFolder(core.engine, folder_id, dead, timedelta(seconds=300)).acquire()

    assert release_dead(core.engine) == {"outbound_mail": 1, "imap_folder": 1}
    with core.engine.connect() as conn:
        claimed = dict(
            conn.execute(
                select(leases.OUT.c.id, leases.OUT.c.claimed_by).where(
                    leases.OUT.c.id.in_(mail_ids)
                )
            ).all()
        )
    assert claimed == {mail_ids[0]: "", mail_ids[1]: liveness.holder_name("s")}
    other = DatabaseFolder(core.engine, folder_id, liveness.holder_name("p"), timedelta(seconds=60))
    assert other.acquire(), "the folder is free for the next poller at once"


# --- the load test ----------------------------------------------------------------


def orphaned_claims(core: Core, pid: int) -> int:
    """Pending messages whose lease, held by process `pid`, is still in force."""
    with core.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(RAW)
                .where(
                    RAW.c.state == RawState.pending,
                    RAW.c.claimed_by.contains(f":{pid}:"),
                    RAW.c.claimed_until > utcnow(),
                )
            ).scalar_one()
        )


def filed(core: Core) -> Counter[str]:
    """How many raw rows of each Message-ID have been filed (left the pending state)."""
    with core.engine.connect() as conn:
        rows = conn.execute(select(RAW.c.message_id).where(RAW.c.state != RawState.pending))
        return Counter(rows.scalars())


class LoadRun:
    """Ten clients sending to `bridge serve` processes sharing one store, and what got stored."""

    def __init__(self, tmp_path: Path, **settings: str) -> None:
        data = tmp_path / "d"
        self.env = {
            **os.environ,
            **bridge_env(data),
            "BRIDGE_SMTP_RATE_LIMIT": "0",
            "BRIDGE_SMTP_MAX_PER_CLIENT": "0",
            **settings,
        }
        load.add_list_community(self.env)
        self.port = net.free_port()
        self.log = (tmp_path / "serve.log").open("wb")
        url = self.env.get("BRIDGE_DATABASE_URL")
        self.observer = open_core(load_settings(data=data, database_url=url))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.acked: dict[str, str] = {}
        self.clients: list[load.Client] = []

    def serve(self, *roles: str) -> subprocess.Popen[bytes]:
        port = self.port if "smtp" in roles else None
        self.procs.append(load.serve(self.env, self.log, *roles, port=port))
        return self.procs[-1]

    def send(self) -> None:
        deadline = time.monotonic() + 120
        self.clients = [
            load.Client(i, self.port, self.acked, deadline) for i in range(load.CLIENTS)
        ]
        for client in self.clients:
            client.start()

    def kill_holding_claims(self, proc: subprocess.Popen[bytes]) -> tuple[set[str], int]:
        """SIGKILL `proc` once enough mail got 250 and it holds a batch; (acked, its claims)."""
        pid = proc.pid
        net.wait_for(
            lambda: len(self.acked) >= load.KILL_AFTER and orphaned_claims(self.observer, pid), 60
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.procs.remove(proc)
        return set(self.acked), orphaned_claims(self.observer, pid)

    def seconds_until_filed(self, msgids: set[str]) -> float:
        began = time.monotonic()
        net.wait_for(lambda: msgids <= filed(self.observer).keys(), timeout=300)
        return time.monotonic() - began

    def check_each_filed_once(self) -> None:
        for client in self.clients:
            client.join(120)
        assert [c.error for c in self.clients] == [None] * len(self.clients)
        total = load.CLIENTS * load.PER_CLIENT
        assert len(self.acked) == total
        self.seconds_until_filed(set(self.acked))
        with self.observer.engine.connect() as conn:
            raw_states = Counter(conn.execute(select(RAW.c.state)).scalars())
            messages = Counter(
                conn.execute(
                    select(Message.message_id).where(Message.placeholder.is_(False))
                ).scalars()
            )
        once = Counter(dict.fromkeys(self.acked, 1))
        assert raw_states == {RawState.done: total}, "every message filed, none failed"
        assert filed(self.observer) == once, "each message filed once"
        assert messages == once, "each message in its community once"

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(20)
        self.log.close()
        self.observer.close()


@pytest.mark.slow
def test_sigkill_under_load_files_every_acknowledged_message_within_seconds(
    tmp_path: Path,
) -> None:
    """After a restart, mail the dead worker had claimed is filed within seconds, each once."""
    run = LoadRun(tmp_path, BRIDGE_CLAIM_SECONDS="300")
    try:
        server = run.serve("smtp", "worker")
        run.send()
        acked, orphans = run.kill_holding_claims(server)
        restarted = time.monotonic()
        run.serve("smtp", "worker")
        listening = time.monotonic() - restarted
        recovery = run.seconds_until_filed(acked) + listening
        run.check_each_filed_once()
    finally:
        run.close()
    print(
        f"\nrestart: {orphans} orphaned claims; SMTP answered after {listening:.2f} s, "
        f"all {len(acked)} acknowledged messages filed {recovery:.2f} s after the restart"
    )
    assert orphans > 0, "the kill left no claim behind"
    assert recovery < RECOVERY_BOUND, f"acknowledged mail filed only {recovery:.1f} s after restart"


@pytest.mark.slow
def test_a_worker_killed_beside_another_hands_its_batch_over_without_a_restart(
    tmp_path: Path,
) -> None:
    """Two workers on one host: the live one files the dead one's batch, long lease or not."""
    # A lease of 300 s: without the sweep, the dead worker's batch would wait that long.
    run = LoadRun(tmp_path, BRIDGE_CLAIM_SECONDS="300")
    try:
        run.serve("smtp")
        doomed = run.serve("worker")
        run.serve("worker")
        run.send()
        acked, orphans = run.kill_holding_claims(doomed)
        handover = run.seconds_until_filed(acked)
        run.check_each_filed_once()
    finally:
        run.close()
    print(f"\nhandover: {orphans} orphaned claims filed by the other worker {handover:.2f} s later")
    assert orphans > 0, "the kill left no claim behind"
    assert handover < 150, "the dead worker's batch waited for its lease"


def test_postgres_drops_a_vanished_hosts_sessions_within_a_minute(core: Core) -> None:
    """Server-side keepalives are on: a dead host's locks are not held for the kernel's 2 h."""
    if core.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's locks die with the process")
    with core.engine.connect() as conn:
        shown = [
            conn.exec_driver_sql(f"SHOW tcp_keepalives_{name}").scalar()
            for name in ("idle", "interval", "count")
        ]
    assert shown == ["30", "10", "3"]
