"""Demo content for `bridge serve --demo`: a fictional organisation's cc-heavy threads.

Seeded only into an empty installation, through the same pipeline as real
mail (routed by their list addresses), so the demo shows the product as it is.
The managers' page gets a few weeks of consent candidates and web reads,
written directly (`seed_insights`): there is no mailbox or reader to make them.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlmodel import col

from bridge import admin, route_admin
from bridge.core import Core
from bridge.worker import drain
from mail.envelope import Envelope
from threads.db import insert_ignoring_conflict, writer
from threads.models import Community, ConsentCandidate, Message, Thread, ThreadRead, as_utc

DEMO_DIR = Path(__file__).with_name("demo")
COMMUNITIES = [
    (
        "engineering",
        "Engineering",
        "Architecture, releases, incidents and tooling.",
        "engineering@lists.example.com",
        "engineering.lists.example.com",
    ),
    (
        "workplace",
        "Workplace & Facilities",
        "Offices, moves, events and everyday logistics.",
        "workplace@lists.example.com",
        "workplace.lists.example.com",
    ),
]


def seed(core: Core) -> int:
    """Create the demo communities and file the demo mail; does nothing if any community exists."""
    with core.engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(Community)).scalar_one():
            return 0
    for slug, name, description, address, list_id in COMMUNITIES:
        with writer(core.engine).begin() as conn:
            admin.add_community(conn, slug, name, "org", description, [address])
            route_admin.add_route(conn, slug, "list_id", list_id)
    files = sorted(DEMO_DIR.glob("*.eml"))
    for file in files:
        core.inbox.accept(file.read_bytes(), Envelope(source="demo", source_ref=file.name))
    drain(core)
    seed_insights(core)
    return len(files)


# --- The managers' page (web/insights.py) ---------------------------------------
# Written directly: the demo has no consent route, mailbox or readers. The story it
# tells stays inside the demo's own dates: each Engineering thread was found as a
# candidate when its first message arrived, nudged, and opened by its starter (so
# the archive shows it); a few other conversations were kept private (so it does
# not); one still waits; and colleagues beyond the cc lists read the opened
# threads between their start and the demo's last message. The readers are
# made-up addresses nobody logs in as, and the waiting candidate is already
# nudged, so the running demo sends no nudges.

PRIVATE_SUBJECTS = [
    "Laptop refresh for the support team",
    "Q3 hiring plan for the data team",
    "Vendor security questionnaire",
    "On-site visit from the auditors",
]
DEMO_STARTERS = ["ines.okafor", "tomas.lindqvist", "hana.sato", "rafael.moreau"]
DEMO_READERS = 30


def seed_insights(core: Core, slug: str = "engineering", *, seed: int = 9) -> None:
    """Candidates and reads for `slug`'s insights page, all within the demo's dates."""
    rng = random.Random(seed)
    t, m = Thread.__table__, Message.__table__
    with writer(core.engine).begin() as conn:
        community_id = conn.execute(
            select(col(Community.id)).where(col(Community.slug) == slug)
        ).scalar()
        if community_id is None:
            return
        first, last = (
            as_utc(when)
            for when in conn.execute(
                select(func.min(t.c.started_at), func.max(t.c.last_activity_at))
            ).one()
        )
        if first is None or last is None:
            return
        threads = conn.execute(
            select(t.c.id, t.c.subject, t.c.started_at)
            .where(t.c.community_id == community_id, t.c.message_count > 0)
            .order_by(t.c.started_at)
        ).all()
        for thread in threads:
            opener = conn.execute(
                select(m.c.from_addr, m.c.from_name, m.c.to_addrs, m.c.cc_addrs, m.c.visible_text)
                .where(m.c.thread_id == thread.id, m.c.placeholder.is_(False))
                .order_by(m.c.date, m.c.id)
                .limit(1)
            ).one()
            row = _opened(rng, community_id, thread, opener, as_utc(thread.started_at) or first)
            conn.execute(insert(ConsentCandidate.__table__).values(row))
        for n, subject in enumerate([*PRIVATE_SUBJECTS, "Staging database snapshot schedule"]):
            created = first + (last - first) * rng.uniform(0.05, 0.9)
            waiting = n == len(PRIVATE_SUBJECTS)  # the last one still waits for its starter
            if waiting:
                created = last - timedelta(hours=rng.randint(6, 30))
            row = _kept(rng, community_id, subject, created, last, waiting=waiting)
            conn.execute(insert(ConsentCandidate.__table__).values(row))
        for n in range(1, DEMO_READERS + 1):
            person_id, _ = admin.ensure_person(conn, f"colleague{n:02d}@example.com")
            for thread in rng.sample(threads, k=rng.randint(1, len(threads))):
                start = as_utc(thread.started_at) or first
                when = start + (last - start) * rng.uniform(0.02, 1.0)
                conn.execute(
                    insert_ignoring_conflict(
                        conn, ThreadRead.__table__, ["thread_id", "person_id"]
                    ).values(thread_id=thread.id, person_id=person_id, first_at=when)
                )


def _opened(
    rng: random.Random, community_id: int, thread: Any, opener: Any, started: datetime
) -> dict[str, object]:
    """A published thread as the candidate it was: found, nudged, opened by its starter."""
    people = [
        {"name": opener.from_name, "address": opener.from_addr},
        *(opener.to_addrs or []),
        *(opener.cc_addrs or []),
    ]
    created = started + timedelta(minutes=rng.randint(1, 3))
    nudged = created + timedelta(minutes=rng.randint(5, 40))
    return {
        "community_id": community_id,
        "starter": opener.from_addr,
        "starter_name": opener.from_name,
        "subject": thread.subject,
        "excerpt": " ".join((opener.visible_text or "").split()[:30]),
        "participants": people,
        "org_recipients": sum(
            1
            for p in [*(opener.to_addrs or []), *(opener.cc_addrs or [])]
            if str(p.get("address", "")).endswith("@example.com")
        ),
        "live": True,
        "state": "opened",
        "created_at": created,
        "nudged_at": nudged,
        "decided_at": nudged + timedelta(minutes=rng.randint(20, 300)),
        "decided_by": opener.from_addr,
        "decided_via": rng.choice(["web", "mail"]),
        "thread_id": thread.id,
        "announced_at": nudged + timedelta(minutes=rng.randint(301, 320)),
    }


def _kept(
    rng: random.Random,
    community_id: int,
    subject: str,
    created: datetime,
    last: datetime,
    *,
    waiting: bool,
) -> dict[str, object]:
    """A conversation that never reached the archive: kept private, or still waiting."""
    starter = rng.choice(DEMO_STARTERS)
    name = starter.replace(".", " ").title()
    address = f"{starter}@example.com"
    nudged = created + timedelta(minutes=rng.randint(5, 60))
    decided = min(last, nudged + timedelta(hours=rng.randint(1, 30)))
    return {
        "community_id": community_id,
        "starter": address,
        "starter_name": name,
        "subject": subject,
        "excerpt": "Hi all, a quick summary before Thursday.",
        "participants": [{"name": name, "address": address}],
        "org_recipients": rng.randint(4, 9),
        "live": True,
        "state": "candidate" if waiting else "private",
        "created_at": created,
        "nudged_at": nudged,
        "decided_at": None if waiting else decided,
        "decided_by": "" if waiting else address,
        "decided_via": "" if waiting else rng.choice(["web", "mail"]),
    }
