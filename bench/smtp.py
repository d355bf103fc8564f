"""SMTP intake: accepted messages/s and transaction times of the bridge's listener vs a bare one.

    python bench/smtp.py                      # 1, 10 and 50 clients; 3 rounds of 2,000 messages
    python bench/smtp.py --levels 10 --rounds 5 --json
    python bench/smtp.py --verify --levels 10 --rounds 3 --messages 1000

One run measures, on the same machine and with the same clients:

a) the ceiling: a bare aiosmtpd Controller whose handler answers "250 OK" to DATA
   and throws the message away (no recipient check, no storage);
b) the product: `bridge serve --role smtp` on a fresh data directory with one
   community mapped to the recipient, durability on (SQLite in WAL with
   synchronous=FULL, or the PostgreSQL named by --database-url), the rate limit
   off (every client is 127.0.0.1) and the connection cap above the largest level.

Each server runs in its own process. The clients are threads of this process,
one smtplib connection each, sending their share of --messages in turn (MAIL,
RCPT, DATA; unique messages of about --size bytes with CRLF line ends). A
transaction is timed from MAIL to the reply to the final dot; a round's rate
is its accepted messages divided by the wall time from the first MAIL to the
last reply. Each level runs --rounds rounds per server, alternating between the
two servers so that load from elsewhere on a shared machine hits both alike;
the rate reported is the median round, p50/p99 are over all transactions, and
the server's CPU time per message (all its threads and descendant processes, from
/proc) is shown too.
Target: the bridge sustains at least half the ceiling's rate at 10 clients.

`--verify` measures instead what sender verification costs intake (see
`verify_main`): two bridges, both `--role smtp --role worker`, one taking
unsigned mail with BRIDGE_VERIFY_SENDERS=off, the other DKIM-signed mail with
BRIDGE_VERIFY_SENDERS=auto against a DNS stub; target: the signed rate at 10
clients is at least 0.8 of the unsigned one.

Exit status: 0 when every message got 250 (and, with --verify, every message
was filed as expected), 1 when some did not, 2 when a server did not start.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import signal
import smtplib
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RECIPIENT = "bench@lists.example.com"
BRIDGE = [sys.executable, "-m", "bridge"]
SENDER = "ana@example.com"
TARGET_RATIO = 0.5


@dataclass
class Round:
    """One level's run against one server: every transaction's time, and totals."""

    times: list[float]
    failed: int
    seconds: float
    cpu: float  # the server's CPU seconds (all threads and descendants) during the round


@dataclass
class Level:
    server: str
    clients: int
    messages: int
    failed: int
    rate: float  # accepted messages/s, the median of the rounds
    round_rates: list[float]
    p50_ms: float  # over the transactions of all rounds
    p99_ms: float
    server_cpu_ms: float  # the server's CPU time per message, threads and descendants

    @classmethod
    def of(cls, server: str, clients: int, rounds: list[Round]) -> Level:
        flat = sorted(t for r in rounds for t in r.times)
        sent, failed = len(flat), sum(r.failed for r in rounds)
        rates = [round((len(r.times) - r.failed) / r.seconds, 1) for r in rounds]
        return cls(
            server=server,
            clients=clients,
            messages=sent,
            failed=failed,
            rate=statistics.median(rates),
            round_rates=rates,
            p50_ms=round(statistics.median(flat) * 1000, 2),
            p99_ms=round(flat[min(sent - 1, int(sent * 0.99))] * 1000, 2),
            server_cpu_ms=round(sum(r.cpu for r in rounds) / sent * 1000, 3),
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with status {proc.returncode}")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
                smtp.noop()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(2)


def _cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid` and its descendants (the bridge's parse children are forked by
    a forkserver, so they are its grandchildren): utime and stime of all threads, fields
    14 and 15 of /proc/PID/stat. A descendant that exited during a round is not counted."""
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, CPU seconds)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        ticks = int(fields[11]) + int(fields[12])
        stats[int(entry.name)] = (int(fields[1]), ticks / os.sysconf("SC_CLK_TCK"))
    tree, total = {pid}, 0.0
    for _ in range(4):  # the bridge, the forkserver, its children: three levels deep
        tree |= {child for child, (parent, _) in stats.items() if parent in tree}
    for member in tree:
        total += stats.get(member, (0, 0.0))[1]
    return total


@contextmanager
def _server(argv: list[str], port: int, env: dict[str, str]) -> Iterator[int]:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_ready(port, proc)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _env(tmp: Path, data: Path, levels: list[int]) -> dict[str, str]:
    return {
        **os.environ,
        "BRIDGE_DATA": str(data),
        "BRIDGE_SMTP_RATE_LIMIT": "0",
        "BRIDGE_SMTP_MAX_CONNECTIONS": str(max(levels) + 10),
        # Every client is 127.0.0.1: the per-client cap would turn the load away.
        "BRIDGE_SMTP_MAX_PER_CLIENT": "0",
        "BRIDGE_CONFIG": str(tmp / "none.toml"),
    }


def _add_community(env: dict[str, str]) -> None:
    subprocess.run(
        [*BRIDGE, "community", "add", "bench", "--name", "Bench", "--address", RECIPIENT],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
    )


def message(tag: str, n: int, size: int, sender: str = SENDER) -> bytes:
    """A plausible list message of about `size` bytes, unique by Message-ID and subject."""
    head = (
        f"From: Ana Lima <{sender}>\r\nTo: {RECIPIENT}\r\n"
        f"Cc: Bo Chen <bo@example.com>, Cy Diaz <cy@example.com>\r\n"
        f"Subject: Rollout plan, part {n}\r\nDate: Mon, 2 Mar 2026 09:00:00 +0000\r\n"
        f"Message-ID: <{tag}.{n}@bench.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    line = "Thanks for the numbers; the rollout can start on Monday as planned.\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return (head + body).encode()


def batches(
    server: str, clients: int, total: int, size: int, sender: str = SENDER
) -> list[list[bytes]]:
    """Each client's share of `total` unique messages."""
    tag = f"{server}-{clients}-{time.time_ns()}"
    per_client = max(1, total // clients)
    return [
        [message(f"{tag}-{i}", n, size, sender) for n in range(per_client)] for i in range(clients)
    ]


def run_round(port: int, pid: int, mail: list[list[bytes]], sender: str = SENDER) -> Round:
    """One connection per list in `mail`, each sending its messages; times each transaction."""
    clients = len(mail)
    times: list[list[float]] = [[] for _ in range(clients)]
    failed = [0] * clients
    connected = threading.Barrier(clients + 1)
    go = threading.Event()

    def client(i: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            smtp.ehlo(f"client{i}.bench.example")
            connected.wait()
            go.wait()
            for raw in mail[i]:
                start = time.perf_counter()
                smtp.mail(sender)
                smtp.rcpt(RECIPIENT)
                code, _ = smtp.data(raw)
                times[i].append(time.perf_counter() - start)
                if code != 250:
                    failed[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    connected.wait()
    cpu = _cpu_seconds(pid)
    start = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds(pid) - cpu
    return Round([t for per in times for t in per], sum(failed), seconds, cpu)


def serve_ceiling(port: int) -> None:
    """The bare aiosmtpd listener: every message is answered 250 and discarded."""
    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "250 OK"

    controller = Controller(Discard(), hostname="127.0.0.1", port=port)
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    controller.stop()


# --verify: what sender verification costs. The signing domain is fictional
# (RFC 2606 reserves .example); the DNS stub is its only name server.
ORG = "org.example"
SELECTOR = "bench"
VERIFY_TARGET = 0.8
DRAIN_PATIENCE = 120.0  # seconds without one message filed before a drain is given up


@dataclass
class Config:
    """One of the bridges --verify alternates between."""

    name: str
    verify: str  # BRIDGE_VERIFY_SENDERS
    signed: bool
    worker: bool  # runs the pipeline worker beside the listener
    data: Path
    port: int = 0
    pid: int = 0

    @property
    def db(self) -> Path:
        return self.data / "bridge.sqlite3"


@dataclass
class Drain:
    """What the worker did with one round's messages, during the round and after it."""

    accepted: int
    round_seconds: float
    filed_in_round: int  # reached a final state before the round's last reply
    seconds: float  # from the round's last reply until nothing was pending
    cpu: float  # the server's CPU seconds (all its processes) during the drain

    @property
    def rate_in_round(self) -> float:
        """Messages filed per second while the clients were sending."""
        return self.filed_in_round / self.round_seconds

    @property
    def rate_after(self) -> float:
        """Messages filed per second after the round until the queue was empty (NaN when
        there was next to nothing left: a rate over a few messages means nothing)."""
        left = self.accepted - self.filed_in_round
        return left / self.seconds if left >= 20 else math.nan

    @property
    def end_to_end(self) -> float:
        """Messages filed per second from the first MAIL until the last one was filed."""
        return self.accepted / (self.round_seconds + self.seconds)


def _median(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def _counts(db: Path) -> dict[str, int]:
    """raw_message rows by state, read beside the running bridge (WAL lets readers in)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute("SELECT state, count(*) FROM raw_message GROUP BY state").fetchall()
    return {str(state): int(n) for state, n in rows}


def _filed(counts: dict[str, int]) -> int:
    return sum(counts.values()) - counts.get("pending", 0)


def _drain(cfg: Config, before: dict[str, int], done: Round) -> Drain:
    """Wait until the round's messages have left `pending`; how long that took."""
    started, cpu = time.perf_counter(), _cpu_seconds(cfg.pid)
    counts = _counts(cfg.db)
    filed_in_round = filed = _filed(counts) - _filed(before)
    progress = started
    while counts.get("pending", 0):
        if time.perf_counter() - progress > DRAIN_PATIENCE:
            print(f"{cfg.name}: the worker filed nothing for {DRAIN_PATIENCE:.0f} s; giving up")
            break
        time.sleep(0.05)
        counts = _counts(cfg.db)
        if _filed(counts) - _filed(before) > filed:
            filed, progress = _filed(counts) - _filed(before), time.perf_counter()
    seconds = time.perf_counter() - started
    accepted = len(done.times) - done.failed
    return Drain(accepted, done.seconds, filed_in_round, seconds, _cpu_seconds(cfg.pid) - cpu)


def _check_filed(cfg: Config) -> tuple[str, bool]:
    """Every message `done` (`pending` without a worker); the signed ones with the
    bridge's own verdict dkim=pass spf=pass dmarc=pass, proven."""
    with sqlite3.connect(f"file:{cfg.db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT state, auth, reason FROM raw_message").fetchall()
    kinds: dict[str, int] = {}
    reasons: list[str] = []
    for state, auth, reason in rows:
        verdict = json.loads(auth) if auth else {}
        kind = state
        if cfg.signed:
            proven = "proven" if verdict.get("proven") else "not proven"
            kind += (
                f" dkim={verdict.get('dkim')} spf={verdict.get('spf')} "
                f"dmarc={verdict.get('dmarc')} {proven} (by {verdict.get('by')})"
            )
        kinds[kind] = kinds.get(kind, 0) + 1
        if state not in ("done", "pending") and reason and len(reasons) < 3:
            reasons.append(reason)
    want = "pending" if not cfg.worker else "done"
    if cfg.signed:
        want += " dkim=pass spf=pass dmarc=pass proven (by bridge)"
    ok = set(kinds) == {want}
    text = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return text + "".join(f"\n    e.g. {r}" for r in reasons), ok


def verify_main(args: argparse.Namespace, levels: list[int], argv: list[str]) -> int:
    """Accepted msg/s of unsigned mail with verification off against DKIM-signed mail
    with verification on, in alternating rounds of one run, each bridge running the
    SMTP listener and the pipeline worker in one process as in production.

    The mail comes from ana@org.example (BRIDGE_ORG_DOMAINS, so an unproven From
    would be held); the signed copies carry an RSA-2048 DKIM signature made before
    the round is timed. A DNS stub in this process (tests/support/dnsstub.py) publishes
    the key, SPF `v=spf1 ip4:127.0.0.1 -all` and DMARC p=reject, and is the
    bridges' only name server (BRIDGE_DNS_SERVERS). After each round the bench
    polls raw_message until the worker has filed every message, and reports how
    fast it filed them during the round and after it. A third bridge, the listener
    alone with no worker, takes unsigned mail too: the intake-only figure the
    plain mode measures, in the same run, for scale. At the end every message
    must be `done` (`pending` without a worker), the signed ones with the
    bridge's own dkim=pass, spf=pass, dmarc=pass and proven.
    """
    sys.path[:0] = [str(REPO)]
    from tests.support.dkimkeys import DkimKey
    from tests.support.dnsstub import DNSStub

    key = DkimKey.generate("bench", bits=2048)
    sender = f"ana@{ORG}"
    results: list[tuple[Config, Level, list[Drain]]] = []
    failed = False
    with (
        tempfile.TemporaryDirectory(prefix="bench-smtp-verify-") as tmp,
        DNSStub() as stub,
        ExitStack() as servers,
    ):
        key.publish(stub, SELECTOR, ORG)
        stub.add_txt(ORG, "v=spf1 ip4:127.0.0.1 -all")
        stub.add_txt(f"_dmarc.{ORG}", "v=DMARC1; p=reject")
        configs = [
            Config("unsigned", "off", signed=False, worker=True, data=Path(tmp) / "unsigned"),
            Config("signed", "auto", signed=True, worker=True, data=Path(tmp) / "signed"),
            Config("intake", "off", signed=False, worker=False, data=Path(tmp) / "intake"),
        ]
        for cfg in configs:
            env = {
                **_env(Path(tmp), cfg.data, levels),
                "BRIDGE_VERIFY_SENDERS": cfg.verify,
                "BRIDGE_DNS_SERVERS": stub.address,
                "BRIDGE_ORG_DOMAINS": ORG,
            }
            _add_community(env)
            cfg.port = _free_port()
            roles = ["--role", "smtp", *(["--role", "worker"] if cfg.worker else [])]
            cfg.pid = servers.enter_context(
                _server([*BRIDGE, "serve", *roles, "--smtp-port", str(cfg.port)], cfg.port, env)
            )

        def mail_for(cfg: Config, clients: int, total: int) -> list[list[bytes]]:
            mail = batches(cfg.name, clients, total, args.size, sender)
            if cfg.signed:  # before the round: only verification is measured
                mail = [[key.sign(raw, SELECTOR, ORG) for raw in own] for own in mail]
            return mail

        def one_round(cfg: Config, mail: list[list[bytes]]) -> tuple[Round, Drain | None]:
            before = _counts(cfg.db)
            done = run_round(cfg.port, cfg.pid, mail, sender)
            return done, _drain(cfg, before, done) if cfg.worker else None

        for cfg in configs:
            # Warm up: connections, caches, the parse children, the worker's DNS cache.
            one_round(cfg, mail_for(cfg, 1, 20))
        for clients in levels:
            rounds: dict[str, list[Round]] = {cfg.name: [] for cfg in configs}
            drains: dict[str, list[Drain]] = {cfg.name: [] for cfg in configs}
            for n in range(args.rounds):
                # Rotate the order too, so none always runs straight after another's drain.
                for cfg in configs[n % len(configs) :] + configs[: n % len(configs)]:
                    done, drain = one_round(cfg, mail_for(cfg, clients, args.messages))
                    rounds[cfg.name].append(done)
                    drains[cfg.name] += [drain] if drain else []
            for cfg in configs:
                level = Level.of(cfg.name, clients, rounds[cfg.name])
                results.append((cfg, level, drains[cfg.name]))
                _print_verify_level(level, rounds[cfg.name], drains[cfg.name])
        for cfg in configs:
            text, ok = _check_filed(cfg)
            failed |= not ok
            print(f"{cfg.name:8} rows: {text}{'' if ok else '  <- NOT AS EXPECTED'}")
        print(f"DNS queries answered by the stub: {stub.queries}")

    ratios: dict[int, dict[str, float]] = {}
    for clients in levels:
        by = {cfg.name: (lv, ds) for cfg, lv, ds in results if lv.clients == clients}
        (plain, plain_drains), (signed, signed_drains) = by["unsigned"], by["signed"]
        ratios[clients] = {
            "accepted": round(signed.rate / plain.rate, 2),
            "end_to_end": round(
                _median([d.end_to_end for d in signed_drains])
                / _median([d.end_to_end for d in plain_drains]),
                2,
            ),
            "unsigned_vs_intake_only": round(plain.rate / by["intake"][0].rate, 2),
        }
        print(
            f"at {clients} clients: accepted signed/unsigned {ratios[clients]['accepted']:.2f}; "
            f"filed end to end signed/unsigned {ratios[clients]['end_to_end']:.2f}; "
            f"accepted unsigned (with worker)/intake only "
            f"{ratios[clients]['unsigned_vs_intake_only']:.2f}"
        )
    if 10 in ratios:
        verdict = "met" if ratios[10]["accepted"] >= VERIFY_TARGET else "MISSED"
        print(f"target accepted signed/unsigned >= {VERIFY_TARGET} at 10 clients: {verdict}")
    print(
        f"backend sqlite (WAL, synchronous=FULL); Python {platform.python_version()}; "
        f"{os.cpu_count()} CPUs"
    )
    print("command: " + shlex.join(["bench/smtp.py", *argv]))
    if args.json:
        levels_json = [
            {
                **asdict(level),
                "drains": [
                    {
                        **asdict(d),
                        "in_round": d.rate_in_round,
                        # null, not NaN: NaN is not JSON (RFC 8259 section 6).
                        "after": None if math.isnan(d.rate_after) else d.rate_after,
                    }
                    for d in drains
                ],
            }
            for _, level, drains in results
        ]
        print(json.dumps({"levels": levels_json, "ratios": ratios}))
    failed |= any(level.failed for _, level, _ in results)
    return 1 if failed else 0


def _print_verify_level(level: Level, rounds: list[Round], drains: list[Drain]) -> None:
    # Everything the server did for these messages, intake and filing, per message.
    cpu = (sum(r.cpu for r in rounds) + sum(d.cpu for d in drains)) / level.messages * 1000
    print(
        f"{level.server:8} {level.clients:3} clients: accepted {level.rate:7.1f} msg/s "
        f"(rounds {', '.join(f'{r:.0f}' for r in level.round_rates)})  "
        f"p50 {level.p50_ms:.2f} ms  p99 {level.p99_ms:.2f} ms  "
        f"server CPU {cpu:.2f} ms/msg  ({level.messages} messages, {level.failed} failed)",
        flush=True,
    )
    if drains:
        in_round = sum(d.filed_in_round for d in drains) / sum(d.accepted for d in drains)
        print(
            f"{'':8} filed: {_median([d.rate_in_round for d in drains]):.1f} msg/s during the "
            f"rounds ({in_round:.0%} of the mail), "
            f"{_median([d.rate_after for d in drains]):.1f} msg/s after them until drained "
            f"({_median([d.seconds for d in drains]):.1f} s); end to end "
            f"{_median([d.end_to_end for d in drains]):.1f} msg/s",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,10,50", help="concurrent clients, comma-separated")
    parser.add_argument("--messages", type=int, default=2000, help="messages per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per level and server")
    parser.add_argument("--size", type=int, default=3000, help="approximate message size")
    parser.add_argument(
        "--database-url", default="", help="an empty PostgreSQL database (default: SQLite)"
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="unsigned mail, verification off, against DKIM-signed mail, verification on",
    )
    parser.add_argument("--serve-ceiling", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_ceiling:
        serve_ceiling(args.serve_ceiling)
        return 0
    levels = [int(n) for n in args.levels.split(",")]
    if args.verify:
        if args.database_url:
            # Each configuration needs a database of its own (one shared queue would let
            # either worker file the other's mail); SQLite gives each its data directory.
            parser.error("--verify runs on SQLite only")
        return verify_main(args, levels, argv if argv is not None else sys.argv[1:])

    with tempfile.TemporaryDirectory(prefix="bench-smtp-") as tmp:
        env = _env(Path(tmp), Path(tmp) / "data", levels)
        if args.database_url:
            env["BRIDGE_DATABASE_URL"] = args.database_url
        _add_community(env)
        ceiling_port, bridge_port = _free_port(), _free_port()
        ceiling = [sys.executable, str(Path(__file__).resolve()), "--serve-ceiling"]
        results: list[Level] = []
        with (
            _server([*ceiling, str(ceiling_port)], ceiling_port, env) as ceiling_pid,
            _server(
                [*BRIDGE, "serve", "--role", "smtp", "--smtp-port", str(bridge_port)],
                bridge_port,
                env,
            ) as bridge_pid,
        ):
            servers = (("ceiling", ceiling_port, ceiling_pid), ("bridge", bridge_port, bridge_pid))
            for clients in levels:
                for _, port, pid in servers:
                    # A few messages first, so connection set-up and caches are not measured.
                    run_round(port, pid, batches("warmup", 1, 20, args.size))
                rounds: dict[str, list[Round]] = {name: [] for name, _, _ in servers}
                for _ in range(args.rounds):
                    # Alternate, so a burst of load from elsewhere hits both servers alike.
                    for name, port, pid in servers:
                        mail = batches(name, clients, args.messages, args.size)
                        rounds[name].append(run_round(port, pid, mail))
                for name, _, _ in servers:
                    level = Level.of(name, clients, rounds[name])
                    results.append(level)
                    print(
                        f"{name:8} {clients:3} clients: {level.rate:8.1f} msg/s "
                        f"(rounds {min(level.round_rates):.0f}-{max(level.round_rates):.0f})  "
                        f"p50 {level.p50_ms:6.2f} ms  p99 {level.p99_ms:6.2f} ms  "
                        f"server CPU {level.server_cpu_ms:.2f} ms/msg  "
                        f"({level.messages} messages, {level.failed} failed)",
                        flush=True,
                    )

    ratios = {}
    for clients in levels:
        rate = {r.server: r.rate for r in results if r.clients == clients}
        ratios[clients] = round(rate["bridge"] / rate["ceiling"], 2)
        print(f"ratio bridge/ceiling at {clients} clients: {ratios[clients]:.2f}")
    if 10 in ratios:
        verdict = "met" if ratios[10] >= TARGET_RATIO else "MISSED"
        print(f"target >= {TARGET_RATIO} at 10 clients: {verdict}")
    backend = "postgresql" if args.database_url else "sqlite (WAL, synchronous=FULL)"
    print(f"backend {backend}; Python {platform.python_version()}; {os.cpu_count()} CPUs")
    print("command: " + shlex.join(["bench/smtp.py", *(argv or sys.argv[1:])]))
    if args.json:
        print(json.dumps({"levels": [asdict(r) for r in results], "ratios": ratios}))
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
