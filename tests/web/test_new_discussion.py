"""Starting a discussion on the web: the form, who may use it, what is filed and who is mailed.

World: communities `orgc` (org, posting org), `memc` (members), `pubc` (public,
posting by members only) and `quiet` (members, nobody in it). Ana is a member
of all but quiet and chose every message of each; Carl, an organisation
reader, chose nothing; Olga is outside the organisation.
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from bridge import admin
from bridge.core import Core, open_core
from bridge.outbound.sender import Sender
from tests.support.env import settings_for
from tests.support.relay import RelayHandler
from tests.support.sessions import sign_in
from threads import outbound
from threads.db import writer
from threads.models import Attachment, Message, Notification, RawMessage, Thread
from web.app import create_app
from web.security import MAX_FORM_BYTES

ANA = "ana@example.com"  # member everywhere but quiet, every message by mail
BEN = "ben@example.com"  # member of orgc, web only
CARL = "carl@example.com"  # organisation reader, no membership
OLGA = "olga@elsewhere.example"  # outside the organisation
DOMAIN = "bridge.example"
COMMUNITIES = {
    "orgc": ("org", "org"),
    "memc": ("members", "members"),
    "pubc": ("public", "members"),
    "quiet": ("members", "members"),
}


def _world(data: Path, **overrides: Any) -> Core:
    core = open_core(
        settings_for(data, org_domains=["example.com"], mail_domain=DOMAIN, **overrides)
    )
    for slug, (visibility, posting) in COMMUNITIES.items():
        with writer(core.engine).begin() as conn:
            cid = admin.add_community(
                conn,
                slug,
                f"Community {slug}",
                visibility,
                addresses=[f"{slug}@lists.example.com"],
                posting=posting,
            )
            if slug != "quiet":
                admin.set_member(conn, slug, ANA, "member")
                outbound.set_preference(conn, cid, ANA, "each")
            if slug == "orgc":
                admin.set_member(conn, slug, BEN, "member")
    return core


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    c = _world(tmp_path / "data")
    yield c
    c.close()


def client_as(core: Core, email_address: str | None) -> TestClient:
    client = TestClient(create_app(core), base_url="https://testserver", follow_redirects=False)
    if email_address is not None:
        sign_in(client, core, email_address)
    return client


def form_token(client: TestClient, slug: str) -> str:
    page = client.get(f"/c/{slug}/new")
    assert page.status_code == 200, page.text
    field = BeautifulSoup(page.text, "html.parser").find("input", attrs={"name": "csrf_token"})
    return str(field["value"])


def start(
    client: TestClient,
    slug: str,
    subject: str,
    body: str,
    files: list[tuple[str, bytes, str]] | None = None,
) -> Any:
    token = form_token(client, slug)
    parts = [("files", (name, data, kind)) for name, data, kind in files or []]
    return client.post(
        f"/c/{slug}/new",
        data={"csrf_token": token, "subject": subject, "body": body},
        files=parts or [("files", ("", b"", "application/octet-stream"))],
    )


def _thread_of(core: Core, location: str) -> tuple[int, int]:
    path, _, anchor = location.partition("#m")
    return int(path.removeprefix("/t/")), int(anchor)


def test_a_member_starts_a_discussion_and_finds_it_on_the_community_page(core: Core) -> None:
    client = client_as(core, ANA)
    community = client.get("/c/orgc")
    link = BeautifulSoup(community.text, "html.parser").find("a", string="New discussion")
    assert link is not None
    assert link["href"] == "/c/orgc/new"

    answer = start(client, "orgc", "Lunch and learn: Rust", "Who is in for Thursday?\n")
    assert answer.status_code == 303
    thread_id, pk = _thread_of(core, answer.headers["location"])
    with core.engine.connect() as conn:
        message = conn.execute(select(Message).where(Message.id == pk)).one()
        raw = conn.execute(select(RawMessage).where(RawMessage.id == message.raw_id)).one()
        thread = conn.execute(select(Thread).where(Thread.id == thread_id)).one()
    # Filed like any message: a new thread of its own, with a Message-ID of ours, no parent.
    assert thread.subject == "Lunch and learn: Rust"
    assert thread.message_count == 1
    assert message.from_addr == ANA
    assert raw.source == "web"
    parsed = email.message_from_bytes(raw.data, policy=policy.default)
    assert parsed["To"] == "orgc@lists.example.com"
    assert parsed["In-Reply-To"] is None
    assert parsed["References"] is None
    assert str(parsed["Message-ID"]).endswith(f"@{DOMAIN}>")
    page = client.get("/c/orgc")
    titles = [a.get_text() for a in BeautifulSoup(page.text, "html.parser").select(".threads h2 a")]
    assert "Lunch and learn: Rust" in titles
    assert "started on the web" in page.text
    opened = client.get(f"/t/{thread_id}")
    assert opened.status_code == 200
    assert "Who is in for Thursday?" in opened.text


@pytest.mark.parametrize(
    ("who", "slug", "status"),
    [
        (CARL, "orgc", 200),  # an organisation reader may post where posting is org-wide
        (BEN, "orgc", 200),
        (ANA, "memc", 200),
        (ANA, "pubc", 200),
        (CARL, "pubc", 403),  # reads the public community, may not post in it
        (OLGA, "pubc", 403),
        (OLGA, "orgc", 404),  # may not read: as if missing
        (CARL, "memc", 404),
        (ANA, "quiet", 404),
        (ANA, "nosuch", 404),
    ],
)
def test_who_gets_the_form(core: Core, who: str, slug: str, status: int) -> None:
    client = client_as(core, who)
    page = client.get(f"/c/{slug}/new")
    assert page.status_code == status
    has_form = BeautifulSoup(page.text, "html.parser").find("form", id="new-discussion")
    assert (has_form is not None) == (status == 200)
    listed = client.get(f"/c/{slug}")
    if listed.status_code == 200:
        assert ("New discussion" in listed.text) == (status == 200)


@pytest.mark.parametrize(("who", "slug"), [(CARL, "pubc"), (OLGA, "pubc"), (OLGA, "orgc")])
def test_who_may_not_post_files_nothing(core: Core, who: str, slug: str) -> None:
    client = client_as(core, who)
    token = str(
        BeautifulSoup(client.get("/login").text, "html.parser").find(
            "input", attrs={"name": "csrf_token"}
        )["value"]
    )
    answer = client.post(
        f"/c/{slug}/new", data={"csrf_token": token, "subject": "Sneaky", "body": "Hello"}
    )
    assert answer.status_code in (403, 404)
    with core.engine.connect() as conn:
        assert conn.execute(select(RawMessage.id)).first() is None


def test_anonymous_is_sent_to_login(core: Core) -> None:
    client = client_as(core, None)
    assert client.get("/c/pubc/new").headers["location"] == "/login?next=/c/pubc/new"
    assert "Log in</a> to start a discussion" in client.get("/c/pubc").text
    assert client.get("/c/orgc/new").status_code == 404  # not readable anonymously


@pytest.mark.parametrize(
    ("subject", "body", "says"),
    [
        ("", "Some text", "The subject is empty."),
        ("   \r\n ", "Some text", "The subject is empty."),
        ("A subject", "  \n ", "The message is empty."),
        ("x" * 201, "Some text", "The subject is longer than 200 characters."),
    ],
)
def test_a_refused_post_keeps_what_was_typed(
    core: Core, subject: str, body: str, says: str
) -> None:
    client = client_as(core, ANA)
    answer = start(client, "orgc", subject, body)
    assert answer.status_code == 400
    page = BeautifulSoup(answer.text, "html.parser")
    assert page.find(id="post-error").get_text() == says
    assert page.find("input", id="subject")["value"] == subject
    assert page.find("textarea", id="body").get_text() == body
    with core.engine.connect() as conn:
        assert conn.execute(select(RawMessage.id)).first() is None


def test_a_hostile_subject_cannot_add_headers_or_recipients(core: Core) -> None:
    client = client_as(core, ANA)
    hostile = "Hello\r\nBcc: olga@elsewhere.example\r\nX-Evil: 1\nTo: olga@elsewhere.example"
    answer = client.post(
        "/c/orgc/new",
        data={
            "csrf_token": form_token(client, "orgc"),
            "subject": hostile,
            "body": "Text",
            # Fields the form does not have are not read.
            "to": OLGA,
            "cc": OLGA,
            "bcc": OLGA,
        },
        files=[("files", ("", b"", "application/octet-stream"))],
    )
    assert answer.status_code == 303
    _, pk = _thread_of(core, answer.headers["location"])
    with core.engine.connect() as conn:
        raw = conn.execute(
            select(RawMessage.data)
            .join(Message, Message.raw_id == RawMessage.id)
            .where(Message.id == pk)
        ).scalar_one()
        owed = set(
            conn.execute(
                select(Notification.recipient).where(Notification.message_pk == pk)
            ).scalars()
        )
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None
    assert parsed["X-Evil"] is None
    assert parsed.get_all("To") == ["orgc@lists.example.com"]
    assert str(parsed["Subject"]).strip().startswith("Hello Bcc: olga@elsewhere.example")
    assert OLGA not in owed


def test_attachments_are_filed_with_safe_names_and_types(core: Core) -> None:
    client = client_as(core, ANA)
    answer = start(
        client,
        "orgc",
        "Files",
        "Two files.",
        files=[
            ("../../etc/passwd\u202egpj.exe", b"not a password file\n", "text/plain"),
            ("plan.pdf", b"%PDF-1.4 tiny\n", "multipart/mixed; boundary=zz"),
        ],
    )
    assert answer.status_code == 303, answer.text
    _, pk = _thread_of(core, answer.headers["location"])
    with core.engine.connect() as conn:
        files = conn.execute(
            select(Attachment.filename, Attachment.content_type, Attachment.size)
            .where(Attachment.message_pk == pk)
            .order_by(Attachment.id)
        ).all()
    assert [tuple(f) for f in files] == [
        ("passwdgpj.exe", "text/plain", 20),
        ("plan.pdf", "application/octet-stream", 14),
    ]


def test_files_over_the_limit_are_refused_and_the_text_kept(tmp_path: Path) -> None:
    core = _world(tmp_path / "data", attachment_max_bytes=1000, message_attachments_max_bytes=1500)
    try:
        client = client_as(core, ANA)
        big = start(client, "orgc", "Big", "Body kept", files=[("big.bin", b"x" * 1001, "")])
        assert big.status_code == 400
        page = BeautifulSoup(big.text, "html.parser")
        assert "big.bin is larger than 1,000 bytes" in page.find(id="post-error").get_text()
        assert page.find("textarea", id="body").get_text() == "Body kept"
        two = [("a.bin", b"x" * 800, ""), ("b.bin", b"y" * 800, "")]
        together = start(client, "orgc", "Two", "Body", files=two)
        assert together.status_code == 400
        assert "together are larger" in together.text
        fits = start(client, "orgc", "Fits", "Body", files=two[:1])
        assert fits.status_code == 303
    finally:
        core.close()


def test_the_sender_mails_the_new_thread_to_subscribers(
    tmp_path: Path, recording_relay: tuple[int, RelayHandler]
) -> None:
    port, relay = recording_relay
    core = _world(
        tmp_path / "data",
        smtp_relay=f"127.0.0.1:{port}",
        smtp_relay_tls="none",
        public_url="https://bridge.example.com",
    )
    try:
        client = client_as(core, BEN)
        files = [("freeze.ics", b"BEGIN:VCALENDAR\nEND:VCALENDAR\n", "text/calendar")]
        answer = start(client, "orgc", "Release freeze", "Freeze starts Monday.\n", files=files)
        assert answer.status_code == 303
        thread_id, _ = _thread_of(core, answer.headers["location"])
        Sender(core.engine, core.settings).run_once()  # composes the copies, then sends them
    finally:
        core.close()
    # Ana chose every message of orgc: she gets it; Ben wrote it; Carl chose nothing.
    assert [rcpt for _, rcpt, _ in relay.received] == [[ANA]]
    copy = email.message_from_bytes(relay.received[0][2], policy=policy.default)
    assert copy["Subject"] == "Release freeze"
    assert copy["In-Reply-To"] is None
    # From the community's address in the author's name, never the author's own (DMARC).
    assert copy["From"].addresses[0].addr_spec == "orgc@lists.example.com"
    assert "via Community orgc" in copy["From"].addresses[0].display_name
    assert copy["To"] == ANA
    assert f"https://bridge.example.com/t/{thread_id}" in copy.get_body(("plain",)).get_content()
    assert "Freeze starts Monday." in copy.get_body(("plain",)).get_content()
    # The file travels with the copy (under BRIDGE_OUTBOUND_ATTACHMENTS_MAX_BYTES).
    attached = [(a.get_filename(), a.get_content()) for a in copy.iter_attachments()]
    assert attached == [("freeze.ics", "BEGIN:VCALENDAR\nEND:VCALENDAR\n")]


def test_a_form_past_the_web_limit_gets_a_clear_413(core: Core) -> None:
    client = client_as(core, ANA)
    token = form_token(client, "orgc")
    huge = b"z" * (MAX_FORM_BYTES + 1)
    answer = client.post(
        "/c/orgc/new",
        data={"csrf_token": token, "subject": "Huge", "body": "Text"},
        files=[("files", ("huge.bin", huge, "application/octet-stream"))],
    )
    assert answer.status_code == 413
    assert "too large" in answer.text
    assert "30 MB" in answer.text
    with core.engine.connect() as conn:
        assert conn.execute(select(RawMessage.id)).first() is None


def test_the_same_subject_twice_starts_two_threads(core: Core) -> None:
    """A new discussion is a new thread even when its subject matches one just started."""
    client = client_as(core, ANA)
    first = start(client, "orgc", "Weekly sync", "Agenda, week one.")
    second = start(client, "orgc", "Weekly sync", "Agenda, week two.")
    assert first.status_code == second.status_code == 303
    one, _ = _thread_of(core, first.headers["location"])
    two, _ = _thread_of(core, second.headers["location"])
    assert one != two


def test_an_outsider_s_post_waits_for_a_moderator_and_says_so(core: Core) -> None:
    """Where anyone may post, an outsider's new thread is held, kept, and not mailed."""
    with writer(core.engine).begin() as conn:
        admin.add_community(
            conn,
            "open",
            "Open house",
            "public",
            addresses=["open@lists.example.com"],
            posting="anyone",
        )
    client = client_as(core, OLGA)
    answer = start(client, "open", "Hello from outside", "May I join?")
    assert answer.status_code == 400
    error = BeautifulSoup(answer.text, "html.parser").find(id="post-error").get_text()
    assert error.startswith("The message was kept but not published")
    with core.engine.connect() as conn:
        kept = conn.execute(select(RawMessage.state, RawMessage.source)).all()
        assert conn.execute(select(Notification.id)).first() is None
    assert [tuple(k) for k in kept] == [("held", "web")]
