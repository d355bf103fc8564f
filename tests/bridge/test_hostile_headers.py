"""Hostile header encodings: subjects and names decoding to line breaks or controls break nothing.

An RFC 2047 encoded-word can carry any byte: "=?utf-8?q?Hello=0D=0ABcc:_x?="
decodes to a subject with CR/LF in it. Each case runs the reported routes
end to end (the real SMTP listener, the pipeline, the web app, the sender
writing the outbox) twice: with the mail as it is parsed now, and with the
rows as they were stored before the parser cleaned them (written back in
by hand), which the composer must survive on its own.
"""

from __future__ import annotations

import base64
import mailbox
import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from bridge.core import Core, open_core
from bridge.outbound.sender import Sender
from mail.compose import Addressing, ListInfo, Post, compose_notice, compose_post
from mail.headers import Address
from mail.parse import parse_message
from tests.support.env import settings_for
from tests.support.factories import bridge_listener, create_community
from tests.support.sessions import sign_in
from threads.db import writer
from threads.models import Message, Notification, Person, RawMessage, RawState, Thread
from web.app import create_app

DOMAIN = "bridge.example"
UNSAFE = [chr(c) for c in range(0x20)] + [chr(c) for c in range(0x7F, 0xA0)]
UNSAFE += ["\u061c", "\u200e", "\u200f", "\u2028", "\u2029", "\u202a", "\u202e", "\u2066", "\u2069"]
# What a row stored before the fix could hold (PostgreSQL never stored NUL: its insert failed).
STORED_SUBJECT = "Hello\r\nBcc: victim@example.com\x1b[31m\u2028\u202eod"
STORED_NAME = "Eve\r\nBcc: x@example.net\t\u2029"


def encoded(text: str, how: str = "b") -> str:
    if how == "b":
        return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="
    data = "".join(
        c if c.isascii() and c.isalnum() else "".join(f"={b:02X}" for b in c.encode()) for c in text
    )
    return f"=?utf-8?q?{data}?="


HOSTILE_SUBJECT = "=?utf-8?q?Hello=0D=0ABcc:_victim@example.com?="
HOSTILE_NAME = encoded("Eve\r\nBcc: x@example.net\t\x00\x1b[31m\u2028\u202eexe.pdf")
CLEAN_SUBJECT = "Hello Bcc: victim@example.com"


def raw_mail(
    msgid: str, *, sender: str, cc: str = "", subject: str = HOSTILE_SUBJECT, **h: str
) -> bytes:
    """Bytes written by hand: the email package would refuse to write these headers."""
    lines = [
        f"From: {HOSTILE_NAME} <{sender}>",
        "To: eng@lists.example.com",
        *([f"Cc: {cc}"] if cc else []),
        f"Subject: {subject}",
        f"Date: {format_datetime(datetime(2026, 3, 2, 9, len(msgid), tzinfo=UTC))}",
        f"Message-ID: <{msgid}>",
        *(f"{k.replace('_', '-')}: {v}" for k, v in h.items()),
        "Content-Type: text/plain; charset=utf-8",
    ]
    return ("\r\n".join(lines) + f"\r\n\r\nBody of {msgid}.\r\n").encode()


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    c = open_core(settings_for(tmp_path / "data", mail_domain=DOMAIN, org_domains=["example.com"]))
    yield c
    c.close()


def smtp_in(core: Core, *raws: bytes) -> list[Any]:
    """Send through the real listener, then run the pipeline on what it accepted."""
    with bridge_listener(core, DOMAIN) as port, smtplib.SMTP("127.0.0.1", port) as client:
        for raw in raws:
            client.sendmail("sender@example.com", ["eng@lists.example.com"], raw)
    with core.engine.connect() as conn:
        raw = RawMessage.__table__
        pending = conn.execute(
            select(raw.c.id).where(raw.c.state == RawState.pending).order_by(raw.c.id)
        ).scalars()
        return core.pipeline.run(list(pending))


def as_stored_before_the_fix(core: Core) -> None:
    """Write hostile text back into every row the parser now cleans, as old rows hold it."""
    reply = f"Re: {STORED_SUBJECT}"
    with writer(core.engine).begin() as conn:
        conn.execute(update(Thread).values(subject=STORED_SUBJECT))
        conn.execute(update(Message).values(subject=reply, from_name=STORED_NAME))
        conn.execute(update(RawMessage).values(subject=STORED_SUBJECT))
        conn.execute(update(Person).values(name=STORED_NAME))


def outbox(core: Core) -> list[EmailMessage]:
    box = mailbox.Maildir(core.settings.outbox_dir, create=True)
    return [message_from_bytes(bytes(m), policy=policy.default) for m in box]  # type: ignore[misc]


def assert_headers_safe(msg: EmailMessage) -> None:
    assert "Bcc" not in msg
    for name, value in msg.items():
        assert not any(c in str(value) for c in UNSAFE), (name, str(value))


def notification_states(core: Core) -> list[str]:
    with core.engine.connect() as conn:
        return list(conn.execute(select(Notification.state).order_by(Notification.id)).scalars())


def reply_on_the_web(core: Core, thread_id: int, text: str) -> Any:
    client = TestClient(create_app(core), follow_redirects=False)
    sign_in(client, core, "lee@example.com", is_admin=True)
    page = client.get(f"/t/{thread_id}")
    assert page.status_code == 200
    form = BeautifulSoup(page.text, "html.parser").find("form", id="reply")
    token = form.find("input", attrs={"name": "csrf_token"})["value"]
    return client.post(form["action"], data={"body": text, "csrf_token": token})


@pytest.mark.parametrize("stored", [False, True], ids=["parsed-now", "stored-before-fix"])
def test_copies_and_web_replies_of_a_hostile_thread_are_mailed(core: Core, stored: bool) -> None:
    """Copies of a hostile post are composed, and a web reply to its thread posts and is mailed."""
    create_community(core)
    root = raw_mail("root@example.com", sender="eve@example.com", cc="x@example.com")
    reply = raw_mail(
        "reply@example.com",
        sender="eve@example.com",
        subject="Re: " + HOSTILE_SUBJECT,
        In_Reply_To="<root@example.com>",
    )
    assert [o.state for o in smtp_in(core, root, reply)] == ["done", "done"]
    with core.engine.connect() as conn:
        thread_id, subject = conn.execute(select(Thread.id, Thread.subject)).one()
        names = set(conn.execute(select(Message.from_name)).scalars())
    assert subject == CLEAN_SUBJECT
    assert names == {"Eve Bcc: x@example.net [31m exe.pdf"}
    if stored:
        as_stored_before_the_fix(core)

    Sender(core.engine, core.settings).run_once()  # the reply's copy to x, who was not on it
    assert notification_states(core) == ["mailed"]
    r = reply_on_the_web(core, thread_id, "Let us keep this thread tidy.")
    assert r.status_code == 303, r.text
    Sender(core.engine, core.settings).run_once()

    assert set(notification_states(core)) == {"mailed"}
    sent = outbox(core)
    assert sorted(m["To"].addresses[0].addr_spec for m in sent) == [
        "eve@example.com",
        "x@example.com",
        "x@example.com",
    ]
    for msg in sent:
        assert_headers_safe(msg)
        assert msg["Subject"].startswith("Re: Hello Bcc: victim@example.com")
    copy = next(m for m in sent if "Eve" in str(m["From"]))
    assert copy["From"].addresses[0].display_name.startswith("Eve Bcc: x@example.net")


@pytest.mark.parametrize("stored", [False, True], ids=["parsed-now", "stored-before-fix"])
def test_rejecting_hostile_held_mail_answers_and_mails_the_notice(core: Core, stored: bool) -> None:
    """A moderator's reject of held hostile mail succeeds on the web and its notice goes out."""
    create_community(core, posting="members")
    (held,) = smtp_in(core, raw_mail("held@outside.example", sender="eve@outside.example"))
    assert held.state == "held"
    if stored:
        as_stored_before_the_fix(core)
    client = TestClient(create_app(core), follow_redirects=False)
    sign_in(client, core, "boss@example.com", is_admin=True)
    page = BeautifulSoup(client.get(f"/admin/held/{held.raw_id}").text, "html.parser")
    token = page.find("input", attrs={"name": "csrf_token"})["value"]
    r = client.post(
        f"/admin/held/{held.raw_id}",
        data={"decision": "reject", "reason": "Members only.", "csrf_token": token},
    )
    assert r.status_code == 303, r.text
    with core.engine.connect() as conn:
        state = conn.execute(select(RawMessage.state).where(RawMessage.id == held.raw_id)).one()
    assert state[0] == RawState.rejected
    (notice,) = outbox(core)
    assert_headers_safe(notice)
    assert str(notice["To"]) == "eve@outside.example"
    shown = "Hello Bcc: victim@example.com [31m od" if stored else CLEAN_SUBJECT
    assert str(notice["Subject"]) == f"Not published: {shown}"
    assert "Members only." in notice.get_body(("plain",)).get_content()


# --- the parser over many hostile forms -------------------------------------------------

hostile_text = st.text(
    st.one_of(st.sampled_from(UNSAFE), st.characters(codec="utf-8"), st.sampled_from('ab :<>@"')),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=hostile_text,
    name=hostile_text,
    how=st.sampled_from(["b", "q", "raw"]),
    quoted=st.booleans(),
)
def test_hostile_subjects_and_names_parse_to_one_safe_line(
    subject: str, name: str, how: str, quoted: bool
) -> None:
    """Whatever an encoded-word or raw UTF-8 decodes to, subject and names come out safe."""

    def field(text: str) -> str:
        if how == "raw":  # RFC 6532 raw UTF-8; a raw CR or LF would end the field itself
            return text.replace("\r", "\x0b").replace("\n", "\x0c")
        return encoded(text, how)

    shown = f'"{field(name)}"' if quoted else field(name)
    raw = (
        f"From: {shown} <eve@example.com>\r\nTo: {field(name)} <ana@example.com>, b@example.com\r\n"
        f"Cc: {shown} <cy@example.com>\r\nSubject: {field(subject)}\r\n\r\nbody\r\n"
    ).encode()
    parsed = parse_message(raw)
    values = [parsed.subject] + [a.name for a in [parsed.from_, *parsed.to, *parsed.cc] if a]
    values += [a.address for a in [parsed.from_, *parsed.to, *parsed.cc] if a]
    for value in values:
        assert not any(c in value for c in UNSAFE), repr(value)
    if how != "raw":  # raw text may hold quotes and brackets of its own; encoded words cannot
        assert parsed.from_ is not None
        assert parsed.from_.address == "eve@example.com"
    sender = parsed.from_ or Address("", "")

    # What was parsed composes, and reads back as the same one line.
    lst = ListInfo(name="Eng", slug="eng", address="eng@lists.example.com", mail_domain=DOMAIN)
    post = Post(
        message_id="m@example.com",
        subject=parsed.subject,
        author_name=sender.name,
        author_address=sender.address,
        text="hi",
        date=datetime(2026, 3, 2, tzinfo=UTC),
        thread_topic=parsed.subject,
        thread_index_header=b"\x01" * 22,
    )
    to = Addressing(recipient="b@example.com", reply_to=f"reply@{DOMAIN}", recipient_name=name)
    again = parse_message(bytes(compose_post(post, lst, to)))
    # Spaces aside: folding a long non-ASCII subject, the email package may put a
    # space between two encoded-words, where RFC 2047 6.2 says it is not text.
    expected = " ".join(parsed.subject.split()) or "(no subject)"
    assert again.subject.replace(" ", "") == expected.replace(" ", "")


@given(subject=hostile_text, name=hostile_text, address=hostile_text)
@settings(max_examples=150, deadline=None)
def test_the_composer_never_raises_on_stored_text(subject: str, name: str, address: str) -> None:
    """Any stored subject, name or address composes into mail whose headers are one line each."""
    lst = ListInfo(name=name, slug="eng", address="eng@lists.example.com", mail_domain=DOMAIN)
    post = Post(
        message_id=f"{subject}@example.com",
        subject=subject,
        author_name=name,
        author_address=address,
        text="hi",
        date=datetime(2026, 3, 2, tzinfo=UTC),
        references=[address, f"{name}@x"],
        thread_topic=subject,
        thread_index_header=b"\x01" * 22,
    )
    to = Addressing(recipient=f"{address}@example.com", reply_to=f"r@{DOMAIN}", recipient_name=name)
    notice = compose_notice(
        mail_domain=DOMAIN,
        to=address,
        subject=subject,
        text="x",
        message_id="n@x",
        date=datetime(2026, 3, 2, tzinfo=UTC),
        sender_name=name,
    )
    for msg in (compose_post(post, lst, to), notice):
        again = message_from_bytes(msg.as_bytes(policy=policy.SMTP), policy=policy.default)
        assert [name for name, _ in again.items()] == [name for name, _ in msg.items()]
        assert_headers_safe(again)  # type: ignore[arg-type]
