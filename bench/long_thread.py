"""Server time of a long thread's page: the folded first view against the whole thread.

    python bench/long_thread.py [--messages 200] [--others 5000] [-n 50]
    python bench/long_thread.py --others 2000 --store-size 100000 [--backend postgres]

Files one thread of --messages messages (each answering the one before) and
--others messages in other threads into a fresh store (SQLite, or PostgreSQL
in a private cluster), then renders the thread's first view, a page of 50 and
the whole thread N times each in-process (FastAPI's TestClient: routing,
access, queries, templates; no socket) and prints p50/p95 in milliseconds (wall
and CPU) and the page sizes. Compare the kinds of one run, not runs on a shared machine.

--store-size grows the store to that many messages without filing each one:
the other threads (thread and message rows, the raw rows they point to
shared) are copied by SQL under new ids and Message-IDs until the message
table holds that many rows. The thread page reads by thread id, so what the
copies add is the size of the tables and indexes it reads through; they are
not in the search index (no page measured here searches).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from email.message import EmailMessage  # noqa: E402
from email.utils import format_datetime  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Connection, func, insert, literal, select, text  # noqa: E402

from bridge import admin  # noqa: E402
from bridge.core import open_core  # noqa: E402
from bridge.settings import load_settings  # noqa: E402
from mail.envelope import Envelope  # noqa: E402
from tests.support.backend import PostgresCluster  # noqa: E402
from threads.access import Viewer  # noqa: E402
from threads.db import writer  # noqa: E402
from threads.models import Message, Thread  # noqa: E402
from web.app import create_app  # noqa: E402
from web.viewer import current_viewer  # noqa: E402

BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def mail(subject: str, msgid: str, parent: str | None, when: datetime, body: str) -> bytes:
    m = EmailMessage()
    m["From"] = "Ana Lima <ana@example.com>"
    m["To"] = "eng@lists.example.com"
    m["Subject"] = subject
    m["Date"] = format_datetime(when)
    m["Message-ID"] = f"<{msgid}>"
    if parent:
        m["In-Reply-To"] = f"<{parent}>"
    m.set_content(body)
    return bytes(m)


def grow(conn: Connection, keep_thread: int, target: int) -> int:
    """Copy every thread but `keep_thread` (and its messages) under new ids until the
    message table holds at least `target` rows; returns the rows it holds."""
    M, T = Message.__table__, Thread.__table__
    step_t = conn.execute(select(func.max(T.c.id))).scalar_one()
    others = select(T.c.id).where(T.c.id != keep_thread, T.c.id <= step_t)
    step_m = conn.execute(select(func.max(M.c.id))).scalar_one()
    per_copy = conn.execute(select(func.count()).where(M.c.thread_id.in_(others))).scalar_one()
    total = conn.execute(select(func.count()).select_from(M)).scalar_one()
    copy = 0
    while total < target:
        copy += 1
        t_cols = [c for c in T.c if c.name != "id"]
        conn.execute(
            insert(T).from_select(
                ["id", *[c.name for c in t_cols]],
                select(T.c.id + copy * step_t, *t_cols).where(T.c.id.in_(others)),
            )
        )
        m_cols = [c for c in M.c if c.name not in {"id", "thread_id", "message_id"}]
        conn.execute(
            insert(M).from_select(
                ["id", "thread_id", "message_id", *[c.name for c in m_cols]],
                select(
                    M.c.id + copy * step_m,
                    M.c.thread_id + copy * step_t,
                    literal(f"copy{copy}.") + M.c.message_id,
                    *m_cols,
                ).where(M.c.thread_id.in_(others), M.c.id <= step_m),
            )
        )
        total += per_copy
    return int(total)


def timings(client: TestClient, path: str, n: int) -> tuple[list[float], list[float], int]:
    """Wall and CPU milliseconds of each of n requests (CPU: this process's, client and
    server alike, which moves much less than wall time with the neighbours' load)."""
    size = len(client.get(path).content)
    wall, cpu = [], []
    for _ in range(n):
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200, path
    return wall, cpu, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--others", type=int, default=5000)
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--store-size", type=int, default=0)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    cluster = PostgresCluster() if args.backend == "postgres" else None
    try:
        return run(args, cluster.admin_url if cluster else None)
    finally:
        if cluster is not None:
            cluster.stop()


def run(args: argparse.Namespace, database_url: str | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            data=Path(tmp), org_domains=["example.com"], database_url=database_url
        )
        core = open_core(settings)
        with writer(core.engine).begin() as conn:
            admin.add_community(conn, "eng", "Engineering", "org", "", ["eng@lists.example.com"])
        raws = [
            mail(
                ("Re: " if i else "") + "Long one",
                f"long{i}@example.com",
                f"long{i - 1}@example.com" if i else None,
                BASE + timedelta(minutes=i),
                f"Message {i}: the replica is behind again.\n\n> quoted line\n",
            )
            for i in range(args.messages)
        ]
        raws += [
            mail(f"Other {i}", f"other{i}@example.com", None, BASE, "Something else.\n")
            for i in range(args.others)
        ]
        envelope = Envelope(source="import", mail_from="", rcpt_to=())
        for start in range(0, len(raws), 500):
            ids = [core.inbox.accept(r, envelope).raw_id for r in raws[start : start + 500]]
            core.pipeline.run(ids)
        with core.engine.connect() as conn:
            thread_id = conn.execute(
                text("SELECT thread_id FROM message WHERE message_id = 'long0@example.com'")
            ).scalar_one()
        stored = args.messages + args.others
        if args.store_size:
            started = time.perf_counter()
            with writer(core.engine).begin() as conn:
                stored = grow(conn, thread_id, args.store_size)
            if core.engine.dialect.name == "postgresql":
                with core.engine.connect() as conn:
                    conn.execute(text("ANALYZE"))
            print(f"copied to {stored} messages in {time.perf_counter() - started:.0f} s")
        app = create_app(core)
        app.dependency_overrides[current_viewer] = lambda: Viewer(
            email="reader@example.com", org=True
        )
        client = TestClient(app)
        print(
            f"{core.engine.dialect.name}: thread of {args.messages} messages among {stored}, "
            f"{args.n} requests each (ms)"
        )
        print(f"{'view':<12} {'p50':>7} {'p95':>7} {'cpu p50':>8} {'cpu p95':>8} {'bytes':>9}")
        for name, query in (("first view", ""), ("page of 50", "?page=1"), ("whole", "?all=1")):
            wall, cpu, size = timings(client, f"/t/{thread_id}{query}", args.n)
            p50, p95 = statistics.median(wall), statistics.quantiles(wall, n=20)[-1]
            c50, c95 = statistics.median(cpu), statistics.quantiles(cpu, n=20)[-1]
            print(f"{name:<12} {p50:>7.1f} {p95:>7.1f} {c50:>8.1f} {c95:>8.1f} {size:>9}")
        core.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
