"""The two-way bridge end to end: a web reply reaches the thread's e-mail participants, and
their answers come back through the real SMTP listener into the right thread.

Outbound mail is read from the Maildir outbox the embedded default delivers
into; inbound replies are sent with smtplib to the real listener on loopback.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bridge import admin
from bridge.core import Core, open_core
from bridge.outbound.sender import Sender
from bridge.posting import post_reply
from bridge.worker import drain
from mail.envelope import Envelope
from mail.tokens import read_reply_token
from tests.support import replies
from tests.support.env import settings_for
from tests.support.replies import (
    DOMAIN,
    EDITOR,
    PUBLIC,
    archived_thread,
    mail_to,
    outbox,
    send,
    web_reply_mailed,
)
from threads.db import writer
from threads.models import Message, Notification, OutboundMail, RawMessage, ThreadSubscription

# The reply set-up's fixtures (tests/support/replies.py) in place of the plain core.
core = replies.core
smtp_port = replies.smtp_port


def reply_to(original: EmailMessage, *, sender: str, body: str, **headers: str) -> EmailMessage:
    """What a mail client writes when its user answers `original`."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = str(original["Reply-To"])
    msg["Subject"] = "Re: " + str(original["Subject"]).removeprefix("Re: ")
    msg["Message-ID"] = f"<answer-{abs(hash((sender, body))) % 10**9}@example.com>"
    msg["In-Reply-To"] = str(original["Message-ID"])
    msg["References"] = f"{original['References']} {original['Message-ID']}"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


QUOTED = (
    "Monday works for me; I will tell the on-call team.\n"
    "\n"
    "On Mon, 2 Mar 2026 at 12:00, Local Admin via Engineering <eng@lists.example.com> wrote:\n"
    "> Agreed, ship it on Monday.\n"
    ">\n"
    "> -- \n"
    "> Reply to this e-mail to answer in the thread.\n"
    "\n"
    "-- \n"
    "Person One\n"
    "Release manager, Example Corp\n"
)


def rows(core: Core, model: Any, *where: Any) -> list[Any]:
    with core.engine.connect() as conn:
        return list(conn.execute(select(model.__table__).where(*where)).all())


def test_web_reply_reaches_participants_with_threading_and_list_headers(core: Core) -> None:
    """Each e-mail participant gets one copy: our From, their own reply token, the real chain."""
    thread_id, pk = web_reply_mailed(core)
    mails = outbox(core)
    recipients = sorted(m["To"].addresses[0].addr_spec for m in mails)
    assert recipients == [
        "p0@example.com",
        "p1@example.com",
        "p2@example.com",
        "x@example.com",
        "y@example.com",
    ]
    (web,) = rows(core, Message, Message.id == pk)
    tokens = set()
    for m in mails:
        assert m["From"].addresses[0].addr_spec == "eng@lists.example.com"
        assert m["From"].addresses[0].display_name == "Local Admin via Engineering"
        assert m["Message-ID"] == f"<{web.message_id}>"
        assert web.message_id.endswith("@" + DOMAIN)
        assert m["In-Reply-To"] == "<c2@example.com>"
        assert m["References"].split() == [
            "<c0@example.com>",
            "<c1@example.com>",
            "<c2@example.com>",
        ]
        assert m["Subject"] == "Re: Rollout plan"
        assert m["Thread-Topic"] == "Rollout plan"
        assert m["Thread-Index"]
        assert m["List-Id"] == f'"Engineering" <eng.{DOMAIN}>'
        unsubscribe = [v.strip("<> ") for v in m["List-Unsubscribe"].split(",")]
        assert unsubscribe[0].startswith("mailto:reply+")
        assert unsubscribe[1].startswith(f"{PUBLIC}/unsubscribe/")
        assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert m["Precedence"] == "list"
        assert m["Auto-Submitted"] is None  # a person wrote this; notices say auto-generated
        assert m["X-Commons-Bridge-Loop"] == DOMAIN
        (reply_address,) = [a for _n, a in getaddresses([m["Reply-To"]])]
        local, _, domain = reply_address.partition("@")
        assert domain == DOMAIN
        assert local.startswith("reply+")
        claim = read_reply_token(local.removeprefix("reply+"))
        assert claim is not None
        assert claim.thread_id == thread_id
        tokens.add(local)
        assert m.get_content_type() == "multipart/alternative"
        plain = m.get_body(("plain",)).get_content()
        html = m.get_body(("html",)).get_content()
        assert plain.startswith("Agreed, ship it on Monday.")
        assert f"{PUBLIC}/t/{thread_id}" in plain
        assert "<p" in html
        assert "Agreed, ship it on Monday." in html
        assert m["Return-Path"].startswith("<bounces+")
        assert m["Return-Path"].endswith(f"@{DOMAIN}>")
    assert len(tokens) == 5  # one token per person
    states = {n.state for n in rows(core, Notification, Notification.message_pk == pk)}
    assert states == {"mailed"}


def test_answer_with_token_quotes_and_signature_files_only_the_new_text(
    core: Core, smtp_port: int
) -> None:
    """The answer lands in the thread; quoted history and signature are trimmed off."""
    thread_id, _ = web_reply_mailed(core)
    (mine,) = mail_to(core, "p1@example.com")
    answer = reply_to(mine, sender="Person One <p1@example.com>", body=QUOTED)
    rcpt = next(a for _n, a in getaddresses([mine["Reply-To"]]))
    send(smtp_port, answer, rcpt)
    drain(core)
    (filed,) = rows(core, Message, Message.from_addr == "p1@example.com", Message.id > 3)
    assert filed.thread_id == thread_id
    assert filed.visible_text == "Monday works for me; I will tell the on-call team."
    assert not any("reply+" in a["address"] for a in [*filed.to_addrs, *filed.cc_addrs])
    # Everyone else in the thread is owed the answer; its author is not.
    owed = {n.recipient for n in rows(core, Notification, Notification.message_pk == filed.id)}
    assert "p1@example.com" not in owed
    assert {"p0@example.com", "x@example.com"} <= owed


def test_answer_with_a_token_but_forged_from_is_held_and_owner_told_once(
    core: Core, smtp_port: int
) -> None:
    """Someone else's reply address: held with the reason, its owner warned once."""
    web_reply_mailed(core)
    (mine,) = mail_to(core, "p1@example.com")
    rcpt = next(a for _n, a in getaddresses([mine["Reply-To"]]))
    for n in range(2):
        forged = reply_to(mine, sender="Mallory <mallory@example.com>", body=f"Cancel it {n}.\n")
        send(smtp_port, forged, rcpt)
    drain(core)
    held = rows(core, RawMessage, RawMessage.state == "held")
    assert len(held) == 2
    assert all("belongs to someone else" in r.reason for r in held)
    assert not rows(core, Message, Message.from_addr == "mallory@example.com")
    Sender(core.engine, core.settings).run_once()
    warnings = [m for m in mail_to(core, "p1@example.com") if m["Auto-Submitted"]]
    assert len(warnings) == 1
    assert "mallory@example.com" in warnings[0].get_body(("plain",)).get_content()


def test_failed_dkim_at_trusted_server_holds_token_reply(core: Core, smtp_port: int) -> None:
    """A trusted receiving server's dkim=fail holds the reply; an untrusted one's is ignored."""
    web_reply_mailed(core)
    (mine,) = mail_to(core, "p1@example.com")
    rcpt = next(a for _n, a in getaddresses([mine["Reply-To"]]))
    send(
        smtp_port,
        reply_to(
            mine,
            sender="p1@example.com",
            body="Looks fine.\n",
            Authentication_Results="mx.example.com; dkim=fail header.d=example.com; spf=pass",
        ),
        rcpt,
    )
    send(
        smtp_port,
        reply_to(
            mine,
            sender="p1@example.com",
            body="Also fine.\n",
            Authentication_Results="elsewhere.example.net; dkim=fail; dmarc=fail",
        ),
        rcpt,
    )
    drain(core)
    (held,) = rows(core, RawMessage, RawMessage.state == "held")
    assert "dkim=fail (mx.example.com)" in held.reason
    assert [m.visible_text for m in rows(core, Message, Message.id > 4)] == ["Also fine."]


def test_reply_all_without_token_threads_by_message_id(core: Core, smtp_port: int) -> None:
    """A reply sent to the community address (no token) joins the thread through In-Reply-To."""
    thread_id, pk = web_reply_mailed(core)
    (web,) = rows(core, Message, Message.id == pk)
    msg = EmailMessage()
    msg["From"] = "Ex Wye <x@example.com>"
    msg["To"] = "eng@lists.example.com"
    msg["Cc"] = "y@example.com"
    msg["Subject"] = "Re: Rollout plan (new day)"
    msg["Message-ID"] = "<reply-all-1@example.com>"
    msg["In-Reply-To"] = f"<{web.message_id}>"
    msg.set_content("I can help on Monday.\n")
    send(smtp_port, msg, "eng@lists.example.com")
    drain(core)
    (filed,) = rows(core, Message, Message.message_id == "reply-all-1@example.com")
    assert filed.thread_id == thread_id
    assert filed.chain[-1] == web.message_id
    owed = {n.recipient for n in rows(core, Notification, Notification.message_pk == filed.id)}
    assert "y@example.com" not in owed
    assert "x@example.com" not in owed


def test_mute_by_mail_stops_further_copies(core: Core, smtp_port: int) -> None:
    """Answering "mute" mutes the thread for that person and posts nothing."""
    thread_id, _ = web_reply_mailed(core)
    (mine,) = mail_to(core, "x@example.com")
    rcpt = next(a for _n, a in getaddresses([mine["Reply-To"]]))
    send(smtp_port, reply_to(mine, sender="x@example.com", body="mute\n\n> quoted\n"), rcpt)
    drain(core)
    Sender(core.engine, core.settings).run_once()
    (choice,) = rows(core, ThreadSubscription, ThreadSubscription.thread_id == thread_id)
    assert (choice.address, choice.state) == ("x@example.com", "muted")
    (raw,) = rows(core, RawMessage, RawMessage.source == "smtp")
    assert raw.state == "done"
    assert "muted" in raw.reason
    before = len(mail_to(core, "x@example.com"))
    post_reply(core, EDITOR, thread_id, "One more thing.\n", name="Local Admin")
    Sender(core.engine, core.settings).run_once()
    assert len(mail_to(core, "x@example.com")) == before
    assert len(mail_to(core, "y@example.com")) == 2


def test_auto_reply_to_our_mail_is_never_posted_nor_answered(core: Core, smtp_port: int) -> None:
    """An out-of-office answer to a notification is held; nothing is mailed for it."""
    web_reply_mailed(core)
    (mine,) = mail_to(core, "y@example.com")
    rcpt = next(a for _n, a in getaddresses([mine["Reply-To"]]))
    ooo = reply_to(mine, sender="y@example.com", body="I am away until Friday.\n")
    ooo.replace_header("Subject", "Automatic reply: Rollout plan")
    ooo["Auto-Submitted"] = "auto-replied"
    send(smtp_port, ooo, rcpt)
    drain(core)
    (held,) = rows(core, RawMessage, RawMessage.state == "held")
    assert "auto-reply" in held.reason
    before = len(rows(core, OutboundMail))
    Sender(core.engine, core.settings).run_once()
    assert len(rows(core, OutboundMail)) == before


def test_made_up_reply_address_is_refused_at_rcpt(core: Core, smtp_port: int) -> None:
    """A token we did not sign gets 550 5.1.1 before any content is sent."""
    web_reply_mailed(core)
    (mine,) = mail_to(core, "p1@example.com")
    rcpt = next(a for _n, a in getaddresses([mine["Reply-To"]]))
    local, _, domain = rcpt.partition("@")
    # Characters 6-16 are the token's thread and person: altered, the signature fails.
    forged = local[:12] + ("a" if local[12] != "a" else "b") + local[13:] + "@" + domain
    answer = reply_to(mine, sender="p1@example.com", body="Hello.\n")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(smtp_port, answer, forged)
    assert refused.value.recipients[forged][0] == 550
    send(smtp_port, answer, rcpt)  # the genuine one is taken


def test_auto_reply_a_moderator_published_is_still_not_mailed_on(
    core: Core, smtp_port: int
) -> None:
    """Approved and filed, an out-of-office answer is owed to no one (RFC 3834)."""
    from bridge import moderation

    thread_id, pk = web_reply_mailed(core)
    (web,) = rows(core, Message, Message.id == pk)
    ooo = EmailMessage()
    ooo["From"] = "y@example.com"
    ooo["To"] = "eng@lists.example.com"
    ooo["Subject"] = "Automatic reply: Rollout plan"
    ooo["Message-ID"] = "<ooo-1@example.com>"
    ooo["In-Reply-To"] = f"<{web.message_id}>"
    ooo["Auto-Submitted"] = "auto-replied"
    ooo.set_content("I am away until Friday.\n")
    send(smtp_port, ooo, "eng@lists.example.com")
    drain(core)
    (held,) = rows(core, RawMessage, RawMessage.state == "held")
    moderation.decide(core, held.id, "approve", actor="admin@example.com", actor_is_admin=True)
    drain(core)
    (filed,) = rows(core, Message, Message.message_id == "ooo-1@example.com")
    assert filed.thread_id == thread_id
    assert rows(core, Notification, Notification.message_pk == filed.id) == []


def _reply_with_attachment(core: Core, size: int) -> None:
    """p0 answers by mail, to the community only, with a PDF: everyone else is owed it."""
    msg = EmailMessage()
    msg["From"] = "Person 0 <p0@example.com>"
    msg["To"] = "eng@lists.example.com"
    msg["Subject"] = "Re: Rollout plan"
    msg["Message-ID"] = f"<with-file-{size}@example.com>"
    msg["In-Reply-To"] = "<c2@example.com>"
    msg.set_content("The signed plan is attached.\n")
    msg.add_attachment(
        b"%PDF-1.4 " + b"x" * size, maintype="application", subtype="pdf", filename="plan.pdf"
    )
    receipt = core.inbox.accept(bytes(msg), Envelope("smtp", community_hint="eng"))
    core.pipeline.run([receipt.raw_id])
    Sender(core.engine, core.settings).run_once()


def test_small_attachments_travel_with_the_copy(core: Core) -> None:
    """Under outbound_attachments_max_bytes the file is attached; the text says so."""
    archived_thread(core)
    _reply_with_attachment(core, 1000)
    (copy,) = mail_to(core, "x@example.com")
    (attachment,) = list(copy.iter_attachments())
    assert attachment.get_filename() == "plan.pdf"
    assert attachment.get_content().startswith(b"%PDF-1.4")
    assert "Attached:" in copy.get_body(("plain",)).get_content()


def test_large_attachments_are_linked(tmp_path: Path) -> None:
    """Over the limit the copy lists the file and links the thread instead."""
    c = open_core(
        settings_for(
            tmp_path / "data",
            mail_domain=DOMAIN,
            public_url=PUBLIC,
            outbound_attachments_max_bytes=500,
        )
    )
    try:
        with writer(c.engine).begin() as conn:
            admin.add_community(conn, "eng", "Engineering", addresses=["eng@lists.example.com"])
        archived_thread(c)
        _reply_with_attachment(c, 1000)
        (copy,) = mail_to(c, "x@example.com")
        assert list(copy.iter_attachments()) == []
        plain = copy.get_body(("plain",)).get_content()
        assert "Attachments (on the web):" in plain
        assert "plan.pdf" in plain
    finally:
        c.close()
