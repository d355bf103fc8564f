"""Demo content for `bridge serve --demo`: a fictional organisation's cc-heavy threads.

Seeded only into an empty installation, through the same pipeline as real
mail (routed by their list addresses), so the demo shows the product as it is.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from bridge import admin
from bridge.core import Core
from bridge.worker import drain
from mail.envelope import Envelope
from threads.models import Community

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
        admin.add_community(core.engine, slug, name, "org", description, [address])
        admin.add_route(core.engine, slug, "list_id", list_id)
    files = sorted(DEMO_DIR.glob("*.eml"))
    for file in files:
        core.inbox.accept(file.read_bytes(), Envelope(source="demo", source_ref=file.name))
    drain(core)
    return len(files)
