"""A long thread's page reads only the bodies it shows, and hides the same things in every view.

World: a 40-message thread (folded on first view) in an org community. Behind
the fold an outside vendor writes one message (his address in its text too),
another cc's an outside address, and one message was withdrawn by its author.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from bridge import admin
from bridge.core import Core, open_core
from tests.support.env import settings_for
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from tests.support.sessions import sign_in
from threads.db import writer
from threads.models import Message
from threads.withdraw import withdraw
from web.app import create_app
from web.conversation import FOLD_OVER, NEWEST_SHOWN

TOTAL = 40
VIC = "vic@vendor.example"
QUINN = "quinn@partner.example"
SECRET = "withdrawn-words-nobody-may-read"
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
VIEWS = ("", "?page=1", "?page=2", "?all=1", "?view=flat", "?view=flat&page=1", "?view=flat&all=1")


def _mail(i: int) -> bytes:
    sender = "Ana Lima <ana@example.com>" if i % 2 else "Ben Ortiz <ben@example.com>"
    body = f"Message number {i}.\n"
    cc = ""
    if i == 5:
        sender, body = f"Vic Vendor <{VIC}>", f"Write to {VIC} for the terms.\n"
    if i == 9:
        cc = QUINN
    if i == 12:
        body = f"{SECRET}\n"
    return make_mail(
        ("Re: " if i else "") + "Vendor terms",
        sender=sender,
        cc=cc,
        msgid=f"v{i}@example.com",
        in_reply_to=f"v{i - 1}@example.com" if i else None,
        date=BASE + timedelta(minutes=i),
        body=body,
    )


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Core]:
    c = open_core(
        settings_for(tmp_path_factory.mktemp("reads") / "data", org_domains=["example.com"])
    )
    create_community(c)
    with writer(c.engine).begin() as conn:
        admin.set_member(conn, "eng", VIC, "member")  # so his message is filed, not held
    deliver(c, *[_mail(i) for i in range(TOTAL)])
    with c.engine.connect() as conn:
        pk = conn.execute(
            select(Message.id).where(Message.message_id == "v12@example.com")
        ).scalar()
    assert pk is not None
    assert withdraw(c.engine, c.settings.data / "attachments", pk, "ben@example.com")
    yield c
    c.close()


def _client(core: Core, email: str, *, is_admin: bool = False) -> TestClient:
    client = TestClient(create_app(core))
    sign_in(client, core, email, is_admin=is_admin)
    return client


def _thread_id(core: Core) -> int:
    with core.engine.connect() as conn:
        found = conn.execute(
            select(Message.thread_id).where(Message.message_id == "v0@example.com")
        )
        return int(found.scalar_one())


def _summary(html: str) -> tuple[str, str]:
    """(the counts line, the participants line) as shown, spaces normalised."""
    page = BeautifulSoup(html, "html.parser")
    counts, people = page.select_one("p.meta"), page.select_one("section.participants p")
    assert counts is not None
    assert people is not None
    return (" ".join(counts.get_text().split()), " ".join(people.get_text().split()))


def test_every_view_hides_outside_addresses_and_withdrawn_text(core: Core) -> None:
    """Folded, paged and whole, tree and flat: no outside address, no withdrawn text,
    and the same counts and participants."""
    client = _client(core, "reader@example.com")
    tid = _thread_id(core)
    summaries = set()
    for query in VIEWS:
        html = client.get(f"/t/{tid}{query}").text
        lowered = html.lower()
        assert VIC not in lowered, query
        assert QUINN not in lowered, query
        assert SECRET not in html, query
        summaries.add(_summary(html))
    assert len(summaries) == 1, summaries
    ((counts, people),) = summaries
    assert counts.startswith(f"{TOTAL - 1} messages")
    assert "Vic Vendor" in people
    assert "Ana Lima" in people
    assert "Ben Ortiz" in people


def test_an_admin_sees_the_addresses_the_reader_does_not(core: Core) -> None:
    """The same views show the vendor's address to an admin (so the check above can fail)."""
    client = _client(core, "root@example.com", is_admin=True)
    html = client.get(f"/t/{_thread_id(core)}?all=1").text.lower()
    assert VIC in html
    assert QUINN in html
    assert SECRET not in html  # withdrawn is withdrawn for everyone


def test_the_first_view_reads_only_the_bodies_it_shows(core: Core) -> None:
    """The folded view reads the text of its dozen messages; the whole view reads all."""
    client = _client(core, "reader@example.com")
    tid = _thread_id(core)
    read: list[int] = []

    def count(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "visible_text" in statement and "FROM message" in statement:
            read.append(len(params) if isinstance(params, (tuple, list, dict)) else 0)

    event.listen(core.engine, "before_cursor_execute", count)
    try:
        client.get(f"/t/{tid}")
        folded = sum(read)
        read.clear()
        client.get(f"/t/{tid}?all=1")
        whole = sum(read)
    finally:
        event.remove(core.engine, "before_cursor_execute", count)
    assert TOTAL > FOLD_OVER
    assert 0 < folded <= 1 + NEWEST_SHOWN
    assert whole >= TOTAL - 1
