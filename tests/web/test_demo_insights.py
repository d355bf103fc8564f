"""The demo's managers' page tells one story: its candidates are the demo's own threads
(opened) and a few kept private, its reads are of those threads, all within the demo's
dates; and a community quiet for the whole period shows the weeks up to its last activity."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from bridge import demo
from bridge.core import Core
from bridge.i18n import format_when
from tests.support.sessions import sign_in
from threads.insights import last_activity
from threads.models import Community, ConsentCandidate, Thread, ThreadRead, as_utc
from web.app import create_app


def demo_dates() -> tuple:
    """The earliest and latest Date of the demo's own mail."""
    dates = []
    for file in demo.DEMO_DIR.glob("*.eml"):
        header = re.search(rb"^Date: (.+)$", file.read_bytes(), re.M)
        assert header
        dates.append(parsedate_to_datetime(header[1].decode().strip()))
    return min(dates), max(dates)


def test_demo_candidates_and_reads_are_its_own_within_its_dates(core: Core) -> None:
    """Opened candidates are Engineering's threads; every moment lies within the demo's dates."""
    demo.seed(core)
    first, last = demo_dates()
    with core.engine.connect() as conn:
        eng = conn.execute(select(Community.id).where(Community.slug == "engineering")).scalar()
        threads = dict(
            conn.execute(select(Thread.id, Thread.subject).where(Thread.community_id == eng)).all()
        )
        candidates = conn.execute(select(ConsentCandidate)).all()
        reads = conn.execute(select(ThreadRead)).all()
    opened = {(c.thread_id, c.subject) for c in candidates if c.state == "opened"}
    assert opened == set(threads.items())
    assert {c.state for c in candidates} == {"opened", "private", "candidate"}
    moments = [
        as_utc(when)
        for c in candidates
        for when in (c.created_at, c.nudged_at, c.decided_at)
        if when is not None
    ] + [as_utc(r.first_at) for r in reads]
    assert reads
    assert all(first <= when <= last for when in moments), (first, last, min(moments))
    assert {r.thread_id for r in reads} <= set(threads)


def first_date():
    return demo_dates()[0]


def test_demo_insights_page_counts_them(core: Core) -> None:
    """The page, opened today, shows the weeks of the demo and counts every candidate."""
    demo.seed(core)
    with core.engine.connect() as conn:
        found = len(conn.execute(select(ConsentCandidate.id)).all())
        eng = conn.execute(select(Community.id).where(Community.slug == "engineering")).scalar()
        latest = last_activity(conn, eng)
    assert latest is not None
    client = TestClient(create_app(core))
    sign_in(client, core, "boss@example.com", is_admin=True)
    page = BeautifulSoup(client.get("/c/engineering/insights").text, "html.parser")
    text = " ".join(page.get_text(" ").split())
    _, last = demo_dates()
    assert latest <= last
    # Dates are written the reader's way (English here: "Mar 19, 2026").
    assert f"ends at the last activity, {format_when(latest, 'en', 'date')}" in text
    data = client.get("/api/communities/engineering/insights").json()
    assert data["totals"]["found"] == found
    assert data["totals"]["opened"] == 3
    assert data["totals"]["readers"] > 0
    assert data["start"] < first_date().isoformat() < data["end"]
