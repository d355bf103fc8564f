"""SMTP intake: accepted messages/s and transaction times of the bridge's listener vs a bare one.

    python bench/smtp.py                      # 1, 10 and 50 clients; 3 rounds of 2,000 messages
    python bench/smtp.py --levels 10 --rounds 5 --json

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
the server's CPU time per message (all its threads, from /proc) is shown too.
Target: the bridge sustains at least half the ceiling's rate at 10 clients.
Exit status: 0 when every message got 250, 1 when some did not, 2 when a server
did not start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RECIPIENT = "bench@lists.example.com"
TARGET_RATIO = 0.5


@dataclass
class Round:
    """One level's run against one server: every transaction's time, and totals."""

    times: list[float]
    failed: int
    seconds: float
    cpu: float  # the server process's CPU seconds (all threads) during the round


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
    server_cpu_ms: float  # the server process's CPU time per message, all threads

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
    # utime and stime of all the process's threads, fields 14 and 15 of /proc/PID/stat.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def message(tag: str, n: int, size: int) -> bytes:
    """A plausible list message of about `size` bytes, unique by Message-ID and subject."""
    head = (
        f"From: Ana Lima <ana@example.com>\r\nTo: {RECIPIENT}\r\n"
        f"Cc: Bo Chen <bo@example.com>, Cy Diaz <cy@example.com>\r\n"
        f"Subject: Rollout plan, part {n}\r\nDate: Mon, 2 Mar 2026 09:00:00 +0000\r\n"
        f"Message-ID: <{tag}.{n}@bench.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    line = "Thanks for the numbers; the rollout can start on Monday as planned.\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return (head + body).encode()


def run_round(server: str, port: int, pid: int, clients: int, total: int, size: int) -> Round:
    """`clients` connections each send total/clients messages; times each transaction."""
    per_client = max(1, total // clients)
    tag = f"{server}-{clients}-{time.time_ns()}"
    times: list[list[float]] = [[] for _ in range(clients)]
    failed = [0] * clients
    connected = threading.Barrier(clients + 1)
    go = threading.Event()

    def client(i: int) -> None:
        mails = [message(f"{tag}-{i}", n, size) for n in range(per_client)]
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            smtp.ehlo(f"client{i}.bench.example")
            connected.wait()
            go.wait()
            for raw in mails:
                start = time.perf_counter()
                smtp.mail("ana@example.com")
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
    parser.add_argument("--serve-ceiling", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_ceiling:
        serve_ceiling(args.serve_ceiling)
        return 0
    levels = [int(n) for n in args.levels.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-smtp-") as tmp:
        env = {
            **os.environ,
            "BRIDGE_DATA": str(Path(tmp) / "data"),
            "BRIDGE_SMTP_RATE_LIMIT": "0",
            "BRIDGE_SMTP_MAX_CONNECTIONS": str(max(levels) + 10),
            "BRIDGE_CONFIG": str(Path(tmp) / "none.toml"),
        }
        if args.database_url:
            env["BRIDGE_DATABASE_URL"] = args.database_url
        bridge = [sys.executable, "-m", "bridge"]
        subprocess.run(
            [*bridge, "community", "add", "bench", "--name", "Bench", "--address", RECIPIENT],
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        ceiling_port, bridge_port = _free_port(), _free_port()
        ceiling = [sys.executable, str(Path(__file__).resolve()), "--serve-ceiling"]
        results: list[Level] = []
        with (
            _server([*ceiling, str(ceiling_port)], ceiling_port, env) as ceiling_pid,
            _server(
                [*bridge, "serve", "--role", "smtp", "--smtp-port", str(bridge_port)],
                bridge_port,
                env,
            ) as bridge_pid,
        ):
            servers = (("ceiling", ceiling_port, ceiling_pid), ("bridge", bridge_port, bridge_pid))
            for clients in levels:
                for _, port, pid in servers:
                    # A few messages first, so connection set-up and caches are not measured.
                    run_round("warmup", port, pid, 1, 20, args.size)
                rounds: dict[str, list[Round]] = {name: [] for name, _, _ in servers}
                for _ in range(args.rounds):
                    # Alternate, so a burst of load from elsewhere hits both servers alike.
                    for name, port, pid in servers:
                        rounds[name].append(
                            run_round(name, port, pid, clients, args.messages, args.size)
                        )
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
