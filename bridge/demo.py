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

from sqlalchemy import func, insert, select
from sqlmodel import col

from bridge import admin, route_admin
from bridge.core import Core
from bridge.worker import drain
from mail.envelope import Envelope
from threads.db import insert_ignoring_conflict, writer
from threads.models import Community, ConsentCandidate, Thread, ThreadRead, utcnow

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
# Consent candidates and web reads are written directly: the demo has no consent
# route or mailbox, and the readers are invented colleagues who never log in. The
# starters and readers are made-up addresses nobody logs in as, and every live
# candidate still waiting is already nudged, so the running demo sends no nudges.

DEMO_SUBJECTS = [
    "Load balancer certificates renewal",
    "Q3 hiring plan for the data team",
    "Staging database snapshot schedule",
    "Vendor security questionnaire",
    "Incident review: queue backlog",
    "Laptop refresh for the support team",
    "API rate limits for partners",
    "On-site visit from the auditors",
]
DEMO_STARTERS = ["ines.okafor", "tomas.lindqvist", "hana.sato", "rafael.moreau", "amira.haddad"]
DEMO_READERS = 30
DEMO_WEEKS = 11


def seed_insights(core: Core, slug: str = "engineering", *, seed: int = 9) -> None:
    """Candidates over the last weeks, and colleagues beyond the cc lists reading threads."""
    rng = random.Random(seed)
    now = utcnow()
    with writer(core.engine).begin() as conn:
        community_id = conn.execute(
            select(col(Community.id)).where(col(Community.slug) == slug)
        ).scalar()
        if community_id is None:
            return
        thread_ids = list(
            conn.execute(
                select(col(Thread.id)).where(col(Thread.community_id) == community_id)
            ).scalars()
        )
        for week in range(DEMO_WEEKS):
            for _ in range(rng.randint(2, 3 + week // 3)):
                created = now - timedelta(weeks=DEMO_WEEKS - 1 - week, hours=rng.randint(0, 160))
                if created < now:
                    conn.execute(
                        insert(ConsentCandidate.__table__).values(
                            _demo_candidate(rng, community_id, created, now)
                        )
                    )
        for n in range(1, DEMO_READERS + 1):
            person_id, _ = admin.ensure_person(conn, f"colleague{n:02d}@example.com")
            # Later readers join later: reach grows over the weeks.
            start = now - timedelta(weeks=DEMO_WEEKS - 1) * (1 - n / (DEMO_READERS + 4))
            for thread_id in rng.sample(thread_ids, k=min(len(thread_ids), rng.randint(1, 3))):
                when = min(now, start + timedelta(days=rng.uniform(0, 20)))
                conn.execute(
                    insert_ignoring_conflict(
                        conn, ThreadRead.__table__, ["thread_id", "person_id"]
                    ).values(thread_id=thread_id, person_id=person_id, first_at=when)
                )


def _demo_candidate(
    rng: random.Random, community_id: int, created: datetime, now: datetime
) -> dict[str, object]:
    """One candidate: nudged an hour or so after it was found, most decided within days."""
    starter = rng.choice(DEMO_STARTERS)
    name = starter.replace(".", " ").title()
    nudged = created + timedelta(minutes=rng.randint(5, 90))
    decided = nudged + timedelta(hours=rng.randint(2, 72))
    roll = rng.random()
    state = "opened" if roll < 0.55 else "private" if roll < 0.75 else "candidate"
    if decided > now:
        state = "candidate"
    address = f"{starter}@example.com"
    return {
        "community_id": community_id,
        "starter": address,
        "starter_name": name,
        "subject": rng.choice(DEMO_SUBJECTS),
        "excerpt": "Hi all, a quick summary before Thursday.",
        "participants": [{"name": name, "address": address}],
        "org_recipients": rng.randint(4, 9),
        "live": True,
        "state": state,
        "created_at": created,
        "nudged_at": min(nudged, now),
        "decided_at": decided if state != "candidate" else None,
        "decided_by": address if state != "candidate" else "",
        "decided_via": rng.choice(["web", "mail"]) if state != "candidate" else "",
    }
