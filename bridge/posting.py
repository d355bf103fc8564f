"""A reply or a new discussion written on the web enters through the same pipeline as mail.

The web post becomes an RFC 5322 message: a reply in the thread (In-Reply-To
and References chained to the thread's newest message), or a new thread with
no parent, To the community's list address. It is accepted durably with
source `web` and run through the pipeline at once so the author sees it on
the next page. Fan-out then queues it for the thread's e-mail participants
and the community's subscribers; the outbound sender delivers it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime
from typing import cast

from sqlalchemy import Connection, func, select
from sqlmodel import col

from bridge.core import Core
from bridge.errors import PostRefused
from mail.envelope import Envelope
from mail.headers import clean_text
from mail.mime import safe_filename
from threads.access import Viewer, may_post
from threads.models import (
    Community,
    Message,
    Person,
    RawMessage,
    RawState,
    Route,
    RouteKind,
    Thread,
    utcnow,
)

MAX_BODY = 100_000
MAX_SUBJECT = 200
MAX_FILES = 20
# Web replies one person may post per window: a stolen session or a runaway
# script cannot flood every participant's inbox through the fan-out.
POST_LIMIT = 20
POST_WINDOW = timedelta(minutes=10)


def person_name(core: Core, email: str | None) -> str:
    """The display name the archive knows for `email` ("" for none), for a web post's From."""
    if not email:
        return ""
    with core.engine.connect() as conn:
        name = conn.execute(select(col(Person.name)).where(col(Person.email) == email)).scalar()
    return name or ""


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
        _check_rate(conn, viewer)
        slug, address = _list_address(conn, core, thread.community_id)
        last = conn.execute(
            select(col(Message.message_id), col(Message.chain))
            .where(col(Message.thread_id) == thread_id, col(Message.placeholder).is_(False))
            .order_by(col(Message.date).desc(), col(Message.id).desc())
            .limit(1)
        ).first()
    # A thread stored before the parser cleaned subjects may hold a line break.
    msg = _letter(core, viewer, name, address, _reply_subject(clean_text(thread.subject)))
    if last is not None:
        msg["In-Reply-To"] = f"<{last.message_id}>"
        msg["References"] = " ".join(f"<{m}>" for m in [*(last.chain or []), last.message_id])
    msg.set_content(text)
    return _file_post(core, viewer, slug, msg)


@dataclass(frozen=True, slots=True)
class Upload:
    """A file attached on the web, as the browser sent it (names and types are not trusted)."""

    filename: str
    content_type: str
    data: bytes


def post_discussion(
    core: Core,
    viewer: Viewer,
    community_id: int,
    subject: str,
    body: str,
    files: Sequence[Upload] = (),
    *,
    name: str = "",
) -> tuple[int, int]:
    """File a new thread in the community as `viewer`; returns (thread id, message id)."""
    # The subject goes into a header: one line, whatever the form sent (CR/LF included).
    title = clean_text(" ".join(subject.split()))
    text = body.replace("\r\n", "\n").strip()
    if not title:
        raise PostRefused("The subject is empty.")
    if len(title) > MAX_SUBJECT:
        raise PostRefused(f"The subject is longer than {MAX_SUBJECT} characters.")
    if not text:
        raise PostRefused("The message is empty.")
    if len(text) > MAX_BODY:
        raise PostRefused(f"The message is longer than {MAX_BODY:,} characters.")
    attached = _checked_files(core, files)
    with core.engine.connect() as conn:
        if not may_post(conn, viewer, community_id):
            raise PostRefused("You may not start a discussion in this community.")
        _check_rate(conn, viewer)
        slug, address = _list_address(conn, core, community_id)
    msg = _letter(core, viewer, name, address, title)
    msg.set_content(text)
    for upload, filename in attached:
        maintype, subtype = _content_type(upload.content_type).split("/", 1)
        msg.add_attachment(upload.data, maintype=maintype, subtype=subtype, filename=filename)
    pk = _file_post(core, viewer, slug, msg)
    with core.engine.connect() as conn:
        thread_id = conn.execute(select(col(Message.thread_id)).where(col(Message.id) == pk))
        return thread_id.scalar_one(), pk


def _checked_files(core: Core, files: Sequence[Upload]) -> list[tuple[Upload, str]]:
    """The non-empty uploads with safe names, or PostRefused when over the store's limits.

    The limits are the pipeline's own: a web post whose files it would not store
    is refused here, where the person can still choose smaller ones.
    """
    chosen = [f for f in files if f.data or f.filename]
    if len(chosen) > MAX_FILES:
        raise PostRefused(f"Attach at most {MAX_FILES} files.")
    each, total = core.settings.attachment_max_bytes, core.settings.message_attachments_max_bytes
    out: list[tuple[Upload, str]] = []
    for upload in chosen:
        filename = safe_filename(upload.filename) or "attachment"
        if len(upload.data) > each:
            raise PostRefused(f"{filename} is larger than {_size(each)}, the largest file allowed.")
        out.append((upload, filename))
    if sum(len(u.data) for u, _ in out) > total:
        raise PostRefused(f"The files together are larger than {_size(total)}, the most allowed.")
    return out


_TOKEN = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")


def _content_type(value: str) -> str:
    """The browser's type when it is one (no parameters, no line breaks), else bytes."""
    kind = value.strip().lower()
    if not _TOKEN.fullmatch(kind) or kind.startswith(("multipart/", "message/")):
        return "application/octet-stream"
    return kind


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n:,} bytes"


def _check_rate(conn: Connection, viewer: Viewer) -> None:
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
            f"You have posted {recent} messages in the last few minutes; please wait a little."
        )


def _list_address(conn: Connection, core: Core, community_id: int) -> tuple[str, str]:
    """The community's slug and the address a post to it is written to."""
    slug = conn.execute(
        select(col(Community.slug)).where(col(Community.id) == community_id)
    ).scalar_one()
    address = conn.execute(
        select(col(Route.value))
        .where(col(Route.community_id) == community_id, col(Route.kind) == RouteKind.address)
        .order_by(col(Route.id))
        .limit(1)
    ).scalar()
    return slug, address or f"{slug}@{core.settings.mail_domain}"


def _letter(core: Core, viewer: Viewer, name: str, to: str, subject: str) -> EmailMessage:
    """The headers of a web post: From the person, To the list, a Message-ID of ours."""
    assert viewer.email is not None  # may_post refuses anonymous viewers
    msg = EmailMessage()
    # A name from single sign-on is not ours: one line, like every header we write.
    msg["From"] = HeaderAddress(display_name=clean_text(name), addr_spec=viewer.email)
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = f"<web-{uuid.uuid4().hex}@{core.settings.mail_domain}>"
    return msg


def _file_post(core: Core, viewer: Viewer, slug: str, msg: EmailMessage) -> int:
    """Accept `msg` as a web post, run it through the pipeline; the new message's id.

    Raises PostRefused when the pipeline kept the message but did not publish it
    (held for a moderator, say): the bytes stay, the person is told why.
    """
    assert viewer.email is not None
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
        raise PostRefused(f"The message was kept but not published: {reason or state}")
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
