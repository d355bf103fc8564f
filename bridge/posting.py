"""A reply written on the web enters through the same pipeline as mail.

The web post becomes an RFC 5322 message in the thread (In-Reply-To and
References chained to the thread's newest message), is accepted durably with
source `web`, and is run through the pipeline at once so the author sees it
on the next page. Fan-out then queues it for the thread's e-mail
participants; the outbound sender delivers it.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime
from typing import cast

from sqlalchemy import func, select
from sqlmodel import col

from bridge.core import Core
from bridge.errors import PostRefused
from mail.envelope import Envelope
from mail.headers import clean_text
from threads.access import Viewer, may_post
from threads.models import (
    Community,
    Message,
    RawMessage,
    RawState,
    Route,
    RouteKind,
    Thread,
    utcnow,
)

MAX_BODY = 100_000
# Web replies one person may post per window: a stolen session or a runaway
# script cannot flood every participant's inbox through the fan-out.
POST_LIMIT = 20
POST_WINDOW = timedelta(minutes=10)


def post_reply(core: Core, viewer: Viewer, thread_id: int, body: str, *, name: str = "") -> int:
    """File `body` as `viewer`'s reply in the thread; returns the new message's id."""
    text = body.replace("\r\n", "\n").strip()
    if not text:
        raise PostRefused("The reply is empty.")
    if len(text) > MAX_BODY:
        raise PostRefused(f"The reply is longer than {MAX_BODY:,} characters.")
    with core.engine.connect() as conn:
        thread = conn.execute(select(Thread).where(col(Thread.id) == thread_id)).first()
        if thread is None or not may_post(conn, viewer, thread.community_id):
            raise PostRefused("There is no thread here you may reply to.")
        recent = conn.execute(
            select(func.count())
            .select_from(RawMessage)
            .where(
                col(RawMessage.source) == "web",
                col(RawMessage.mail_from) == viewer.email,
                col(RawMessage.received_at) > utcnow() - POST_WINDOW,
            )
        ).scalar_one()
        if recent >= POST_LIMIT:
            raise PostRefused(
                f"You have posted {recent} replies in the last few minutes; please wait a little."
            )
        slug = conn.execute(
            select(col(Community.slug)).where(col(Community.id) == thread.community_id)
        ).scalar_one()
        address = conn.execute(
            select(col(Route.value))
            .where(
                col(Route.community_id) == thread.community_id, col(Route.kind) == RouteKind.address
            )
            .order_by(col(Route.id))
            .limit(1)
        ).scalar()
        last = conn.execute(
            select(col(Message.message_id), col(Message.chain))
            .where(col(Message.thread_id) == thread_id, col(Message.placeholder).is_(False))
            .order_by(col(Message.date).desc(), col(Message.id).desc())
            .limit(1)
        ).first()
    assert viewer.email is not None  # may_post refuses anonymous viewers
    msg = EmailMessage()
    # A thread stored before the parser cleaned subjects may hold a line break,
    # and a name from single sign-on is not ours either: one line each.
    msg["From"] = HeaderAddress(display_name=clean_text(name), addr_spec=viewer.email)
    msg["To"] = address or f"{slug}@{core.settings.mail_domain}"
    msg["Subject"] = _reply_subject(clean_text(thread.subject))
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = f"<web-{uuid.uuid4().hex}@{core.settings.mail_domain}>"
    if last is not None:
        msg["In-Reply-To"] = f"<{last.message_id}>"
        msg["References"] = " ".join(f"<{m}>" for m in [*(last.chain or []), last.message_id])
    msg.set_content(text)
    receipt = core.inbox.accept(
        msg.as_bytes(), Envelope(source="web", mail_from=viewer.email, community_hint=slug)
    )
    outcomes = core.pipeline.run([receipt.raw_id])
    state: str
    if outcomes:
        state, reason, pk = outcomes[0].state, outcomes[0].reason, outcomes[0].message_pks
    else:
        # A pipeline worker woken by the accept took the message first: its result counts.
        state, reason, pk = _settled(core, receipt.raw_id)
    if state != RawState.done or not pk:
        raise PostRefused(f"The reply was kept but not published: {reason or state}")
    return pk[0]


def _settled(core: Core, raw_id: int, wait: float = 10.0) -> tuple[str, str, list[int]]:
    """The state, reason and message ids of a raw message once a worker has run it."""
    deadline = time.monotonic() + wait
    with core.engine.connect() as conn:
        while True:
            state, reason = conn.execute(
                select(col(RawMessage.state), col(RawMessage.reason)).where(
                    col(RawMessage.id) == raw_id
                )
            ).one()
            if state != RawState.pending or time.monotonic() > deadline:
                break
            conn.rollback()  # a fresh snapshot for the next look
            time.sleep(0.05)
        # Stored rows always have their id; the model's `int | None` is for unsaved ones.
        pks = cast(
            "list[int]",
            list(
                conn.execute(
                    select(col(Message.id))
                    .where(col(Message.raw_id) == raw_id)
                    .order_by(col(Message.id))
                ).scalars()
            ),
        )
    return state, reason, pks


def _reply_subject(subject: str) -> str:
    return subject if subject[:3].lower() == "re:" else f"Re: {subject}"
