"""Bounces close the loop: a DSN to our VERP address marks the address, and mail to it stops.

The DSNs are sent to the real SMTP listener, as a receiving server would
send them; the sender role reads the held reports and acts on them.
"""

from __future__ import annotations

import itertools
import smtplib
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses

import pytest
from sqlalchemy import select

from bridge.core import Core
from bridge.outbound.sender import Sender
from bridge.posting import post_reply
from mail.envelope import Envelope
from tests.support import replies
from tests.support.replies import DOMAIN, EDITOR, mail_to, send, web_reply_mailed
from threads.models import MailAddress, MailEvent, Notification, RawMessage

# The reply set-up's fixtures (tests/support/replies.py) in place of the plain core.
core = replies.core
smtp_port = replies.smtp_port

_serial = itertools.count()


def dsn(failed: str, *, status: str = "5.1.1", action: str = "failed") -> EmailMessage:
    """An RFC 3464 delivery status notification as a receiving MTA writes it."""
    raw = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        f"To: bounces@{DOMAIN}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{next(_serial)}@mx.example.com>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain\r\n\r\n"
        f"Your message to {failed} could not be delivered.\r\n"
        "--b1\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "--b1--\r\n"
    )
    return message_from_bytes(raw.encode(), policy=policy.default)  # type: ignore[return-value]


def verp(core: Core, address: str) -> str:
    """The envelope sender our copy to `address` went out with (Return-Path in the outbox)."""
    (mail,) = mail_to(core, address)[-1:]
    return str(mail["Return-Path"]).strip("<>")


def test_dsn_to_verp_address_marks_and_stops_after_the_limit(core: Core, smtp_port: int) -> None:
    """Each hard bounce counts; at the limit (3) the address gets no more mail, visibly."""
    thread_id, _ = web_reply_mailed(core)
    sender = Sender(core.engine, core.settings)
    for n in range(3):
        send(smtp_port, dsn("p0@example.com"), verp(core, "p0@example.com"))
        from bridge.worker import drain

        drain(core)
        sender.run_once()
        with core.engine.connect() as conn:
            (state,) = conn.execute(select(MailAddress)).all()
        assert state.hard_bounces == n + 1
        assert state.disabled == (n == 2)
        if n < 2:
            post_reply(core, EDITOR, thread_id, f"Update {n}.\n", name="Local Admin")
            sender.run_once()
    assert "5.1.1" in state.last_reason
    with core.engine.connect() as conn:
        events = conn.execute(select(MailEvent.kind, MailEvent.address)).all()
        held = conn.execute(select(RawMessage.state).where(RawMessage.source == "smtp")).all()
    assert set(events) == {("bounce", "p0@example.com")}
    assert {s for (s,) in held} == {"held"}  # reports are never posted
    copies = len(mail_to(core, "p0@example.com"))
    post_reply(core, EDITOR, thread_id, "After the bounces.\n", name="Local Admin")
    sender.run_once()
    assert len(mail_to(core, "p0@example.com")) == copies
    with core.engine.connect() as conn:
        last = conn.execute(
            select(Notification.state)
            .where(Notification.recipient == "p0@example.com")
            .order_by(Notification.id.desc())
        ).first()
    assert last == ("disabled",)


def test_forged_verp_or_unknown_address_marks_nothing(core: Core, smtp_port: int) -> None:
    """A report to a made-up VERP token, or naming someone we never mailed, changes nothing."""
    web_reply_mailed(core)
    with pytest.raises(smtplib.SMTPRecipientsRefused):  # refused at RCPT by the listener
        send(smtp_port, dsn("p0@example.com"), f"bounces+aaaaaaaaaaaaaaaaaaaaaaaaaa@{DOMAIN}")
    # Had it come in another way (no key at the edge), the reader ignores it too.
    receipt = core.inbox.accept(
        bytes(dsn("p0@example.com")),
        Envelope("smtp", rcpt_to=(f"bounces+aaaaaaaaaaaaaaaaaaaaaaaaaa@{DOMAIN}",)),
    )
    assert not receipt.duplicate
    send(smtp_port, dsn("stranger@example.com"), f"bounces@{DOMAIN}")
    from bridge.worker import drain

    drain(core)
    Sender(core.engine, core.settings).run_once()
    with core.engine.connect() as conn:
        assert conn.execute(select(MailAddress)).all() == []
        assert len(conn.execute(select(MailEvent)).all()) == 2


def test_plain_bounce_address_believed_for_addresses_we_mailed(core: Core, smtp_port: int) -> None:
    """Without VERP, a DSN's failed recipient counts only if we mailed it lately."""
    web_reply_mailed(core)
    send(smtp_port, dsn("x@example.com"), f"bounces@{DOMAIN}")
    from bridge.worker import drain

    drain(core)
    Sender(core.engine, core.settings).run_once()
    with core.engine.connect() as conn:
        (state,) = conn.execute(select(MailAddress)).all()
    assert (state.address, state.hard_bounces) == ("x@example.com", 1)


def test_reply_to_address_is_not_taken_for_a_bounce(core: Core) -> None:
    """Sanity: every copy's Reply-To is a reply address, its envelope a bounce address."""
    web_reply_mailed(core)
    (mine,) = mail_to(core, "y@example.com")
    (reply,) = [a for _n, a in getaddresses([mine["Reply-To"]])]
    assert reply.startswith("reply+")
    assert verp(core, "y@example.com").startswith("bounces+")
