"""Web pages under concurrent load: p50/p99 of the thread, community and search pages.

    python bench/web.py --messages 100000       # imports once into bench/out/web-100000/
    python bench/web.py --data bench/out/web-100000 --requests 3000 --concurrency 8
    python bench/web.py --data DIR --database-url postgresql+psycopg://…  # a PostgreSQL store

The store is bench/corpus.py's synthetic archive imported with `bridge import`
(kept under bench/out/ and reused). The server is a real `bridge serve --role
web` on a free loopback port; the load is CONCURRENCY keep-alive clients in
this process, each sending a random mix of thread pages (random threads, so
long ones too), community pages (random page of the thread list) and search
pages (words, pairs and phrases drawn from the archive's own text, and
operator queries), plus the home page and person pages, signed in as an
organisation reader as a browser would be.
Each request's wall time from send to the last byte is recorded per kind;
the script prints p50/p90/p99/max per kind and the throughput. The clients
share the machine with the server, so figures include that contention; the
server's CPU time per request (its processes' user + system time, from
/proc) moves much less with the neighbours' load, and `--only KIND` sends
one kind of page so that figure is that page's own.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import ingest  # noqa: E402  (bench/ingest.py: the cached synthetic corpus)
from sqlalchemy import func, select  # noqa: E402

from bridge import admin  # noqa: E402
from bridge.core import open_core  # noqa: E402
from bridge.settings import load_settings  # noqa: E402
from threads.db import writer  # noqa: E402
from threads.models import Community, Message, Thread  # noqa: E402
from web.auth import open_session  # noqa: E402
from web.security import CookieNames, sign_session  # noqa: E402

ORG_DOMAIN = "example.com"  # BRIDGE_ORG_DOMAINS of the server under test
READER = f"bench-reader@{ORG_DOMAIN}"
KINDS = ("thread", "community", "search", "home", "person")


def ensure_store(args: argparse.Namespace) -> Path:
    data = Path(args.data) if args.data else ingest.OUT / f"web-{args.messages}"
    env = {**os.environ, "BRIDGE_DATA": str(data)}
    if args.database_url:
        env["BRIDGE_DATABASE_URL"] = args.database_url
    marker = data / "imported"
    if marker.exists() or args.data:
        return data  # an existing store (imported by an earlier run, or by hand)
    corpus = ingest.synthetic_corpus(args.messages, args.seed, False)
    data.mkdir(parents=True, exist_ok=True)
    bridge = [sys.executable, "-m", "bridge"]
    subprocess.run([*bridge, "community", "add", "bench", "--name", "Bench"], env=env, check=True)
    started = time.perf_counter()
    subprocess.run([*bridge, "import", "--community", "bench", str(corpus)], env=env, check=True)
    print(f"imported {corpus.name} in {time.perf_counter() - started:.0f} s", flush=True)
    marker.write_text(corpus.name)
    return data


def prepare(data: Path, url: str | None, seed: int) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A signed-in reader's cookie, and the paths each kind of request picks from."""
    settings = load_settings(data=data, database_url=url or None)
    core = open_core(settings)
    rng = random.Random(seed)
    try:
        with writer(core.engine).begin() as conn:
            person_id, _ = admin.ensure_person(conn, READER, "Bench Reader")
            sid = open_session(conn, person_id, hours=12)
        with core.engine.connect() as conn:
            slug, community_id = conn.execute(
                select(Community.slug, Community.id).order_by(Community.id).limit(1)
            ).one()
            threads = conn.execute(
                select(func.count()).select_from(Thread).where(Thread.community_id == community_id)
            ).scalar_one()
            top = conn.execute(select(func.max(Thread.id))).scalar_one()
            thread_ids = [rng.randint(1, top) for _ in range(2000)]
            top_msg = conn.execute(select(func.max(Message.id))).scalar_one()
            texts: list[str] = []
            senders: list[str] = []
            while len(texts) < 300:
                row = conn.execute(
                    select(Message.visible_text, Message.from_addr).where(
                        Message.id == rng.randint(1, top_msg)
                    )
                ).first()
                if row and row[0]:
                    texts.append(row[0])
                    senders.append(row[1])
    finally:
        core.close()
    queries: list[str] = []
    for n, body in enumerate(texts):
        words = [w for w in body.split() if w.isalpha() and len(w) >= 4]
        if len(words) < 3:
            continue
        i = rng.randrange(len(words) - 1)
        choice = n % 6
        if choice == 0:
            queries.append(words[i])
        elif choice == 1:
            queries.append(f"{rng.choice(words)} {rng.choice(words)}")
        elif choice == 2:
            queries.append(f'"{words[i]} {words[i + 1]}"')
        elif choice == 3:
            queries.append(f"{words[i]} from:{senders[n].split('@')[0]}")
        elif choice == 4:
            queries.append(f"{words[i]} has:attachment")
        else:
            queries.append(f"{words[i]} -{words[i + 1]} after:2024")
    pages = max(1, threads // 30)
    # Colleagues' pages: an external sender's page is "not found" to a reader.
    colleagues = [a for a in senders if a.endswith("@" + ORG_DOMAIN)] or senders
    paths = {
        "thread": [f"/t/{t}" for t in thread_ids],
        # Mostly the first pages, as people read them; some deep pages too.
        "community": [
            f"/c/{slug}?page={1 if rng.random() < 0.5 else rng.randint(1, pages)}"
            for _ in range(500)
        ],
        "search": ["/search?" + urllib.parse.urlencode({"q": q}) for q in queries],
        "home": ["/"],
        "person": [f"/p/{urllib.parse.quote(a)}" for a in colleagues],
    }
    names = CookieNames(secure=False)
    cookie = {"Cookie": f"{names.session}={sign_session(settings.secret_key, sid)}"}
    return cookie, paths


def start_server(
    data: Path, url: str | None, processes: int = 1, threads: int = 0
) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {
        **os.environ,
        "BRIDGE_DATA": str(data),
        "BRIDGE_ORG_DOMAINS": ORG_DOMAIN,
        "BRIDGE_WEB_PROCESSES": str(processes),
    }
    if threads:
        env["BRIDGE_WEB_THREADS"] = str(threads)
    if url:
        env["BRIDGE_DATABASE_URL"] = url
    cmd = [sys.executable, "-m", "bridge", "serve", "--role", "web", "--web-port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("bridge serve exited") from None
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("bridge serve did not start")


def load(
    port: int,
    headers: dict[str, str],
    paths: dict[str, list[str]],
    requests: int,
    concurrency: int,
    seed: int,
    kinds: tuple[str, ...] = KINDS,
) -> tuple[dict[str, list[float]], float, list[str]]:
    """Send `requests` requests from `concurrency` clients; latencies (ms) per kind."""
    plan = []
    rng = random.Random(seed)
    for _ in range(requests):
        kind = rng.choice(kinds)
        plan.append((kind, rng.choice(paths[kind])))
    lock = threading.Lock()
    timings: dict[str, list[float]] = {k: [] for k in kinds}
    errors: list[str] = []
    cursor = iter(plan)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                item = next(cursor, None)
            if item is None:
                break
            kind, path = item
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            ms = (time.perf_counter() - started) * 1000
            with lock:
                timings[kind].append(ms)
                if response.status not in (200, 404):
                    errors.append(f"{response.status} {path}")
        conn.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(concurrency)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return timings, time.perf_counter() - started, errors


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` and its live descendants.

    The web processes beyond the first are forked children (BRIDGE_WEB_PROCESSES);
    a child's time reaches its parent's cutime only once it has been waited for.
    Children are found by their parent id in /proc/N/stat (the kernel's
    /proc/N/task/N/children is an optional feature, absent here).
    """
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The fields after the command's closing parenthesis: state, ppid, ...
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue  # ended in between
    tree, todo = set(), [pid]
    while todo:
        current = todo.pop()
        tree.add(current)
        todo += [p for p, fields in stats.items() if int(fields[1]) == current and p not in tree]
    tick = os.sysconf("SC_CLK_TCK")
    # utime and stime are the 14th and 15th fields of stat, the 12th and 13th after ")".
    return sum(int(stats[p][11]) + int(stats[p][12]) for p in tree if p in stats) / tick


def read_through(path: Path) -> None:
    """Read the SQLite file once, so the run starts with it in the page cache.

    After other work (a test run) has pushed the 2.3 GB file out, the 300-request
    warm-up touched too little of it: a run then measured search p99 at 1.1 s.
    """
    with path.open("rb") as f:
        while f.read(1 << 20):
            pass


def summary(ms: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "n": len(ms),
        "p50": round(cuts[49], 1),
        "p90": round(cuts[89], 1),
        "p99": round(cuts[98], 1),
        "max": round(max(ms), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=0, help="import this synthetic corpus")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", help="an existing data directory (skips the import)")
    parser.add_argument("--database-url", default="", help="the store's PostgreSQL URL, if any")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--web-processes", type=int, default=1, help="BRIDGE_WEB_PROCESSES for the server"
    )
    parser.add_argument(
        "--web-threads", type=int, default=0, help="BRIDGE_WEB_THREADS (default: the server's)"
    )
    parser.add_argument(
        "--only", choices=KINDS, help="send only this kind of page (its server CPU per request)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.data and not args.messages:
        parser.error("give --messages N (import) or --data DIR")
    data = ensure_store(args)
    if not args.database_url:
        read_through(data / "bridge.sqlite3")
    headers, paths = prepare(data, args.database_url, args.seed)
    kinds = (args.only,) if args.only else KINDS
    proc, port = start_server(data, args.database_url, args.web_processes, args.web_threads)
    try:
        warm = min(300, args.requests)
        load(port, headers, paths, warm, args.concurrency, args.seed + 1, kinds)
        cpu = server_cpu(proc.pid)
        timings, wall, errors = load(
            port, headers, paths, args.requests, args.concurrency, args.seed, kinds
        )
        cpu = server_cpu(proc.pid) - cpu
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    report = {
        "store": str(data),
        "backend": "postgresql" if args.database_url else "sqlite",
        "requests": args.requests,
        "concurrency": args.concurrency,
        "web_processes": args.web_processes,
        "web_threads": args.web_threads or "default",
        "throughput_rps": round(args.requests / wall, 1),
        "server_cpu_ms_per_request": round(cpu * 1000 / args.requests, 2),
        "only": args.only or "",
        "errors": errors[:10],
        "latency_ms": {k: summary(v) for k, v in timings.items() if v},
        "command": " ".join(sys.argv),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{report['requests']} requests, {args.concurrency} clients, "
            f"{args.web_processes} web process(es), threads {report['web_threads']}, "
            f"{report['throughput_rps']} req/s, errors: {len(errors)}, "
            f"server CPU {report['server_cpu_ms_per_request']} ms/request"
        )
        print(f"{'page':<10} {'n':>5} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}  (ms)")
        for kind, s in report["latency_ms"].items():
            print(f"{kind:<10} {s['n']:>5} {s['p50']:>7} {s['p90']:>7} {s['p99']:>7} {s['max']:>7}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
