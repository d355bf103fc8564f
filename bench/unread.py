"""Server time of a community page with unread counts against the same page without.

    python bench/unread.py [--threads 200] [--per-thread 50] [-n 50]

Files --threads threads of --per-thread messages each into a fresh SQLite store,
marks every other thread read up to its middle message for one reader, then
renders the community's first page (50 threads) N times each in-process
(FastAPI's TestClient: routing, access, queries, templates; no socket): as that
reader (counts on every row) and as the same reader without a person id (no
counts: the page as it was before). Also times the count query alone and a
thread page opened by the reader (its mark goes to the background writer).
Prints p50/p90 in milliseconds. Compare the rows of one run, not runs on a
shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from email.message import EmailMessage  # noqa: E402
from email.utils import format_datetime  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bridge import admin  # noqa: E402
from bridge.core import open_core  # noqa: E402
from bridge.settings import load_settings  # noqa: E402
from mail.envelope import Envelope  # noqa: E402
from threads import unread  # noqa: E402
from threads.access import Viewer  # noqa: E402
from threads.db import writer  # noqa: E402
from threads.models import Message, utcnow  # noqa: E402
from web.app import create_app  # noqa: E402
from web.viewer import current_viewer  # noqa: E402

BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
READER = "reader@example.com"


def mail(t: int, i: int) -> bytes:
    m = EmailMessage()
    m["From"] = f"Person {i % 7} <p{i % 7}@example.com>"
    m["To"] = "eng@lists.example.com"
    m["Subject"] = ("Re: " if i else "") + f"Topic {t}"
    m["Date"] = format_datetime(BASE + timedelta(minutes=t * 100 + i))
    m["Message-ID"] = f"<t{t}m{i}@example.com>"
    if i:
        m["In-Reply-To"] = f"<t{t}m{i - 1}@example.com>"
    m.set_content(f"Message {i} of topic {t}.\n")
    return bytes(m)


def timed(call: Callable[[], object], n: int) -> list[float]:
    call()
    ms = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        ms.append((time.perf_counter() - start) * 1000)
    return ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=200)
    parser.add_argument("--per-thread", type=int, default=50)
    parser.add_argument("-n", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        core = open_core(load_settings(data=Path(tmp), org_domains=["example.com"]))
        with writer(core.engine).begin() as conn:
            community = admin.add_community(
                conn, "eng", "Engineering", "org", "", ["eng@lists.example.com"]
            )
            person, _ = admin.ensure_person(conn, READER)
        raws = [mail(t, i) for t in range(args.threads) for i in range(args.per_thread)]
        envelope = Envelope(source="import", mail_from="", rcpt_to=())
        for start in range(0, len(raws), 500):
            ids = [core.inbox.accept(r, envelope).raw_id for r in raws[start : start + 500]]
            core.pipeline.run(ids)
        with writer(core.engine).begin() as conn:
            middles = conn.execute(
                select(Message.thread_id, func.min(Message.id) + args.per_thread // 2)
                .group_by(Message.thread_id)
                .order_by(Message.thread_id)
            ).all()
            conn.execute(
                unread.SEEN.insert(),
                [
                    {"person_id": person, "thread_id": t, "seen_up_to": pk, "seen_at": utcnow()}
                    for t, pk in middles[::2]
                ],
            )
        thread_ids = [t for t, _ in middles]
        counting = Viewer(email=READER, person_id=person, org=True)
        plain = Viewer(email=READER, person_id=None, org=True)
        app = create_app(core)
        client = TestClient(app)
        as_viewer: list[Viewer] = [counting]
        app.dependency_overrides[current_viewer] = lambda: as_viewer[0]

        def page() -> None:
            response = client.get("/c/eng")
            assert response.status_code == 200

        def count() -> None:
            with core.engine.connect() as conn:
                unread.unread_counts(conn, person, thread_ids[-50:], communities=[community])

        rows = []
        for name, viewer, call in (
            ("community page, no counts", plain, page),
            ("community page, with counts", counting, page),
            ("community page, no counts", plain, page),
            ("count query alone (50 threads)", counting, count),
        ):
            as_viewer[0] = viewer
            rows.append((name, timed(call, args.n)))
        as_viewer[0] = counting
        thread = f"/t/{thread_ids[0]}"
        rows.append(("thread page, reader", timed(lambda: client.get(thread), args.n)))
        assert 'data-unread="' in client.get("/c/eng").text
        print(f"{args.threads} threads of {args.per_thread} messages, {args.n} requests each (ms)")
        print(f"{'what':<32} {'p50':>7} {'p90':>7}")
        for name, ms in rows:
            p90 = statistics.quantiles(ms, n=10)[-1]
            print(f"{name:<32} {statistics.median(ms):>7.1f} {p90:>7.1f}")
        app.state.seen.close()
        core.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
