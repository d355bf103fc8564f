"""A connected mailbox, polled from a real Dovecot, under the consent policy it gets by default.

Someone's inbox holds conversations nobody agreed to publish: a cc-heavy
thread becomes a candidate, a thinly copied one is ignored, a confidential
one is held; none of them shows on any page. Fictional people at example.com.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bridge import route_admin
from bridge.core import Core, open_core
from bridge.outbound.sender import Sender
from tests.support.dovecot import PASSWORD, Dovecot
from tests.support.env import settings_for
from tests.support.factories import create_community
from tests.support.imap import ENV, crlf, raw_count, running, wait_for
from tests.support.messages import make_mail
from tests.support.nudges import click, client_for, links_of, nudges_in
from tests.support.sessions import sign_in
from threads.db import writer
from threads.models import ConsentCandidate, ImapFolder, Message, RawMessage
from web.app import create_app

RAW = RawMessage.__table__
TEAM = [
    f"{name.title()} Example <{name}@example.com>" for name in ("ana", "ben", "chen", "dara", "eli")
]


@pytest.fixture
def core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Core]:
    monkeypatch.setenv(ENV, PASSWORD)
    c = open_core(
        settings_for(
            tmp_path / "data", org_domains=["example.com"], public_url="https://bridge.example.com"
        )
    )
    create_community(c, addresses=[])
    yield c
    c.close()


def cc_mail(msgid: str, subject: str, people: list[str], **headers: str) -> bytes:
    """A reply-all style message from the first person to the others, as a mailbox holds it."""
    return crlf(
        make_mail(
            subject,
            sender=people[0],
            to=people[1],
            cc=", ".join(people[2:]),
            msgid=msgid,
            body=f"Notes on {subject.lower()} for the whole group.\n",
            headers=headers,
        )
    )


def test_a_connected_mailbox_keeps_its_threads_from_every_page(
    core: Core, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Default consent folder: cc-heavy -> candidate, thin -> ignored, confidential -> held;
    the candidate's starter finds one nudge in the outbox, and its open link publishes."""
    with writer(core.engine).begin() as conn:
        route_admin.add_imap_route(conn, "eng", dovecot.url(), password_env=ENV, cc_threshold=3)
    with core.engine.connect() as conn:
        assert conn.execute(select(ImapFolder.policy)).scalar_one() == "consent"
    dovecot.append(
        "INBOX",
        cc_mail("heavy@example.com", "Vendor shortlist", TEAM),
        cc_mail("thin@example.com", "Lunch on Friday", TEAM[:2]),
        cc_mail(
            "secret@example.com",
            "Reorganisation draft",
            TEAM,
            Sensitivity="Company-Confidential",
        ),
    )
    with running(core):
        wait_for(lambda: raw_count(core) == 3, "three polled messages")
    with core.engine.connect() as conn:
        pending = list(conn.execute(select(RAW.c.id).order_by(RAW.c.id)).scalars())
    core.pipeline.run(pending)
    with core.engine.connect() as conn:
        states = dict(conn.execute(select(RAW.c.message_id, RAW.c.state)).all())
        reasons = dict(conn.execute(select(RAW.c.message_id, RAW.c.reason)).all())
        candidate: Any = conn.execute(select(ConsentCandidate.__table__)).one()
        messages = conn.execute(select(Message.id)).all()
    assert states == {
        "heavy@example.com": "candidate",
        "thin@example.com": "ignored",
        "secret@example.com": "held",
    }
    assert reasons["thin@example.com"].startswith("below the cc threshold: 1 organisation address")
    assert reasons["secret@example.com"].startswith("confidential: ")
    assert (candidate.subject, candidate.starter, candidate.live) == (
        "Vendor shortlist",
        "ana@example.com",
        True,
    )
    assert messages == []
    client = TestClient(create_app(core), follow_redirects=False)
    sign_in(client, core, "root@example.com", is_admin=True)
    for subject in ("Vendor shortlist", "Lunch on Friday", "Reorganisation draft"):
        assert subject not in client.get("/c/eng").text
        word = subject.split()[-1]
        assert subject not in client.get(f"/search?q={word}").text
    Sender(core.engine, core.settings).run_once()
    (nudge,) = nudges_in(core)  # live mail, and only the candidate's
    assert nudge["To"].addresses[0].addr_spec == "ana@example.com"
    assert "Vendor shortlist" in str(nudge["Subject"])
    open_link, _ = links_of(nudge)
    assert click(client_for(core), open_link, "open").status_code == 200
    with core.engine.connect() as conn:
        pending = list(conn.execute(select(RAW.c.id).where(RAW.c.state == "pending")).scalars())
    core.pipeline.run(pending)
    assert "Vendor shortlist" in client.get("/c/eng").text
    assert "Notes on vendor <mark>shortlist</mark>" in client.get("/search?q=shortlist").text
    for subject in ("Lunch on Friday", "Reorganisation draft"):
        assert subject not in client.get("/c/eng").text
