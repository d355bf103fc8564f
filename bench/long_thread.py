"""Server time of a long thread's page: the folded first view against the whole thread.

    python bench/long_thread.py [--messages 200] [--others 5000] [-n 50]

Files one thread of --messages messages (each answering the one before) and
--others messages in other threads into a fresh SQLite store, then renders the
thread's first view, a page of 50 and the whole thread N times each in-process
(FastAPI's TestClient: routing, access, queries, templates; no socket) and
prints p50/p90 in milliseconds and the page sizes. Compare the kinds of one
run, not runs on a shared machine.
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
from sqlalchemy import text  # noqa: E402

from bridge import admin  # noqa: E402
from bridge.core import open_core  # noqa: E402
from bridge.settings import load_settings  # noqa: E402
from mail.envelope import Envelope  # noqa: E402
from threads.access import Viewer  # noqa: E402
from threads.db import writer  # noqa: E402
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


def timings(client: TestClient, path: str, n: int) -> tuple[list[float], int]:
    size = len(client.get(path).content)
    ms = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path)
        ms.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, path
    return ms, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--others", type=int, default=5000)
    parser.add_argument("-n", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        core = open_core(load_settings(data=Path(tmp), org_domains=["example.com"]))
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
        app = create_app(core)
        app.dependency_overrides[current_viewer] = lambda: Viewer(
            email="reader@example.com", org=True
        )
        client = TestClient(app)
        with core.engine.connect() as conn:
            thread_id = conn.execute(
                text("SELECT thread_id FROM message WHERE message_id = 'long0@example.com'")
            ).scalar()
        print(
            f"thread of {args.messages} messages among {args.messages + args.others}, "
            f"{args.n} requests each (ms)"
        )
        print(f"{'view':<12} {'p50':>7} {'p90':>7} {'bytes':>9}")
        for name, query in (("first view", ""), ("page of 50", "?page=1"), ("whole", "?all=1")):
            ms, size = timings(client, f"/t/{thread_id}{query}", args.n)
            p90 = statistics.quantiles(ms, n=10)[-1]
            print(f"{name:<12} {statistics.median(ms):>7.1f} {p90:>7.1f} {size:>9}")
        core.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
