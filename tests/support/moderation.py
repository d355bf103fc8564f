"""Moderation by mail set up for tests: a core whose senders are checked in `trusted`
mode, a moderator of `eng`, mail as a receiving server hands it on, and the steps
a held message takes (held, announced, answered) through the real SMTP listener.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select, update

from bridge import admin
from bridge.core import Core
from bridge.outbound.sender import Sender
from bridge.worker import drain
from tests.support.replies import mail_to, open_reply_core, send
from threads.db import writer
from threads.models import HoldKind, ModerationNotice, RawMessage, RawState

MODERATOR = "mona@example.com"
OUTSIDER = "olga@partner.example"
_serial = itertools.count()


def open_moderation_core(data: Path) -> Core:
    """`eng` (members post, MODERATOR moderates) and `ops` (no moderator)."""
    c = open_reply_core(data, verify_senders="trusted")
    with writer(c.engine).begin() as conn:
        admin.edit_community(conn, "eng", actor="test", posting="members")
        admin.set_member(conn, "eng", MODERATOR, "moderator", actor="test")
        admin.add_community(conn, "ops", "Operations", addresses=["ops@lists.example.com"])
        admin.edit_community(conn, "ops", actor="test", posting="members")
    return c


def mail(
    sender: str, to: str, subject: str, body: str, *, auth: str | None = "pass"
) -> EmailMessage:
    """A message as a receiving server hands it on; `auth` is its trusted DMARC verdict."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<m{next(_serial)}@{sender.partition('@')[2]}>"
    domain = sender.partition("@")[2]
    if auth is not None:
        msg["Authentication-Results"] = (
            f"mx.example.com; dkim={auth} header.d={domain}; dmarc={auth} header.from={domain}"
        )
    msg.set_content(body)
    return msg


def round_trip(core: Core) -> None:
    """What `bridge serve` does in the background: the pipeline, then a sender round."""
    drain(core)
    Sender(core.engine, core.settings).run_once()
    drain(core)


def hold_one(
    core: Core,
    port: int,
    subject: str = "Vendor offer",
    to: str = "eng",
    sender: str = OUTSIDER,
) -> int:
    body = "Hello all,\nwe can offer a discount on build machines.\nRegards, Olga\n"
    send(port, mail(sender, f"{to}@lists.example.com", subject, body), f"{to}@lists.example.com")
    drain(core)
    with core.engine.connect() as conn:
        row = conn.execute(
            select(RawMessage.id, RawMessage.state, RawMessage.hold_kind)
            .where(RawMessage.subject == subject)
            .order_by(RawMessage.id.desc())  # type: ignore[union-attr]
        ).first()
    assert row is not None
    assert (row.state, row.hold_kind) == (RawState.held, HoldKind.posting)
    return int(row.id)


def age_notices(core: Core) -> None:
    """As if every notice went out two hours ago: the digest hour is over."""
    with writer(core.engine).begin() as conn:
        conn.execute(
            update(ModerationNotice.__table__).values(
                notified_at=datetime.now(UTC) - timedelta(hours=2)
            )
        )


def two_in_a_digest(core: Core, port: int) -> tuple[int, int]:
    """ "Zero" announced alone, then "Alpha" and "Beta" held in its hour and mailed as
    one digest once the hour is over; returns the raw ids of Alpha and Beta."""
    sender = Sender(core.engine, core.settings)
    hold_one(core, port, "Zero")
    sender.run_once()
    a = hold_one(core, port, "Alpha")
    b = hold_one(core, port, "Beta")
    age_notices(core)
    sender.run_once()
    return a, b


def notices_to(core: Core, address: str) -> list[EmailMessage]:
    """The held-mail notices (single or digest) mailed to `address`, in any language."""
    # Told apart by their answer address: the subject is in the reader's language.
    return [m for m in mail_to(core, address) if "moderate+" in str(m["Reply-To"] or "")]


def answer(
    port: int, notice: EmailMessage, text: str, *, sender: str = MODERATOR, **kw: str | None
) -> None:
    reply_to = notice["Reply-To"].addresses[0].addr_spec
    send(port, mail(sender, reply_to, f"Re: {notice['Subject']}", text, **kw), reply_to)


def state_of(core: Core, raw_id: int) -> RawState:
    with core.engine.connect() as conn:
        return RawState(
            conn.execute(select(RawMessage.state).where(RawMessage.id == raw_id)).scalar_one()
        )
