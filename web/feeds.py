"""Atom feeds (RFC 4287) per community and per thread, and a thread as an mbox download.

Feeds carry text only (the visible part of each message, escaped by the XML
writer); characters XML 1.0 cannot carry are dropped. Feed readers keep no
cookies: a logged-in reader's feed links carry their feed token (`?token=`,
web/bearer.py), which opens these two feeds and nothing else. The mbox is the raw
bytes exactly as they arrived, in mboxrd framing (">From " quoting), so a
mail client can import the conversation with every header intact.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import errors
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Annotated
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from bridge.i18n import N_
from mail.mbox import mboxrd
from threads import queries
from threads.access import Viewer
from threads.models import TokenKind, utcnow
from web.archive import ReaderArchive
from web.attachments import content_disposition
from web.bearer import token_viewer
from web.deps import CoreDep, ViewerDep
from web.reading import NOT_FOUND_COMMUNITY, not_found

router = APIRouter()
ATOM = "http://www.w3.org/2005/Atom"
FEED_ENTRIES = 30
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Where a hidden address stood in a rebuilt message (RFC 2606: .invalid never resolves).
HIDDEN_MAILBOX = "address-hidden@external.invalid"


def feed_viewer(request: Request, cookie_viewer: ViewerDep) -> Viewer:
    """A feed's viewer: the owner of a `?token=` feed token, else the cookie's viewer."""
    secret = request.query_params.get("token")
    if not secret:
        return cookie_viewer
    viewer = token_viewer(request, secret, TokenKind.feed)
    if viewer is None:
        # A feed reader shows the status: say plainly what happened to the link.
        raise HTTPException(403, N_("This feed link's token was revoked or is not valid."))
    return viewer


FeedViewerDep = Annotated[Viewer, Depends(feed_viewer)]


def _text(value: str | None) -> str:
    return _NOT_XML.sub("", value or "")


def _when(value: datetime | None) -> str:
    return (value or datetime(1970, 1, 1, tzinfo=UTC)).astimezone(UTC).isoformat()


def _base(request: Request, public: str) -> str:
    return str(public or request.base_url).rstrip("/")


class _Feed:
    def __init__(
        self, request: Request, public: str, feed_id: str, title: str, alternate: str
    ) -> None:
        ET.register_namespace("", ATOM)
        self.base = _base(request, public)
        self.root = ET.Element(f"{{{ATOM}}}feed")
        self.add(self.root, "id", f"{self.base}{feed_id}")
        self.add(self.root, "title", title)
        self.link(self.root, alternate, "alternate")
        self.link(self.root, str(request.url.path), "self")
        self.updated = self.add(self.root, "updated", _when(utcnow()))

    def add(self, parent: ET.Element, name: str, value: str) -> ET.Element:
        node = ET.SubElement(parent, f"{{{ATOM}}}{name}")
        node.text = _text(value)
        return node

    def link(self, parent: ET.Element, href: str, rel: str) -> None:
        ET.SubElement(parent, f"{{{ATOM}}}link", rel=rel, href=f"{self.base}{href}")

    def entry(
        self, entry_id: str, title: str, href: str, when: datetime | None, author: str, body: str
    ) -> None:
        node = ET.SubElement(self.root, f"{{{ATOM}}}entry")
        self.add(node, "id", f"{self.base}{entry_id}")
        self.add(node, "title", title or "(no subject)")
        self.link(node, href, "alternate")
        self.add(node, "updated", _when(when))
        self.add(ET.SubElement(node, f"{{{ATOM}}}author"), "name", author)
        content = self.add(node, "content", body)
        content.set("type", "text")

    def response(self, newest: datetime | None) -> Response:
        self.updated.text = _when(newest)
        xml = ET.tostring(self.root, encoding="utf-8", xml_declaration=True)
        return Response(xml, media_type="application/atom+xml; charset=utf-8")


@router.get("/c/{slug}/feed.atom", response_model=None)
def community_feed(
    request: Request,
    core: CoreDep,
    viewer: FeedViewerDep,
    slug: str,
) -> Response:
    """The community's most recently active threads, each with its newest message."""
    with ReaderArchive(core, viewer) as archive:
        community = archive.community(slug)
        if community is None:
            raise not_found(NOT_FOUND_COMMUNITY)
        threads = archive.recent_threads(community.id, FEED_ENTRIES)
        latest = archive.latest_messages([t.id for t in threads])
    feed = _Feed(request, core.settings.public_url, f"/c/{slug}", community.name, f"/c/{slug}")
    for t in threads:
        m = latest.get(t.id)
        if m is None:
            continue
        feed.entry(
            f"/t/{t.id}#m{m.id}",
            t.subject,
            f"/t/{t.id}#m{m.id}",
            t.last_activity_at,
            m.from_name or m.from_addr,
            m.visible_text,
        )
    return feed.response(threads[0].last_activity_at if threads else None)


@router.get("/t/{thread_id}/feed.atom", response_model=None)
def thread_feed(
    request: Request,
    core: CoreDep,
    viewer: FeedViewerDep,
    thread_id: int,
) -> Response:
    """Every message of the thread, newest first."""
    with ReaderArchive(core, viewer) as archive:
        thread = archive.thread(thread_id)
        messages = archive.thread_messages(thread_id)
    feed = _Feed(
        request,
        core.settings.public_url,
        f"/t/{thread_id}",
        thread.subject or "(no subject)",
        f"/t/{thread_id}",
    )
    newest = sorted(
        messages, key=lambda m: m.date or datetime.min.replace(tzinfo=UTC), reverse=True
    )
    for m in newest[: FEED_ENTRIES * 5]:
        feed.entry(
            f"/t/{thread_id}#m{m.pk}",
            m.subject,
            f"/t/{thread_id}#m{m.pk}",
            m.date,
            m.from_name or m.from_addr,
            m.visible_text,
        )
    return feed.response(newest[0].date if newest else None)


@router.get("/t/{thread_id}/thread.mbox", response_model=None)
def thread_mbox(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    thread_id: int,
) -> Response:
    """The thread's messages as they arrived, oldest first, in one mboxrd file.

    The raw mail carries every address in its headers, Received lines,
    signatures and quoted replies, often base64-encoded: it cannot be rewritten
    reliably. So when it holds an address the reader may not see, the file is
    rebuilt from the archived text instead (`_rebuilt`); admins always get the
    mail as it arrived.
    """
    with ReaderArchive(core, viewer) as archive:
        archive.thread(thread_id)
        raws = archive.thread_raw(thread_id)
        if raws is None:
            raws = _rebuilt(archive.thread_messages(thread_id))
    name = f"thread-{thread_id}.mbox"
    return StreamingResponse(
        mboxrd(raws),
        media_type="application/mbox",
        headers={"Content-Disposition": content_disposition("attachment", name)},
    )


def _rebuilt(messages: list[queries.ThreadMessage]) -> list[tuple[bytes, str, datetime | None]]:
    """The conversation as plain messages made from the archive, oldest first.

    Message-ID and In-Reply-To are kept, so a mail client threads it as the
    original; text only (attachments stay on the thread page); addresses the
    reader may not see are written as HIDDEN_MAILBOX under the person's name.
    """
    by_pk = {m.pk: m for m in messages}
    out = []
    for m in sorted(messages, key=lambda m: (m.date or datetime.min.replace(tzinfo=UTC), m.pk)):
        msg = EmailMessage()
        msg["From"] = _mailbox(m.from_name, m.from_addr)
        for name, people in (("To", m.to), ("Cc", m.cc)):
            if people:
                msg[name] = [_mailbox(p.get("name", ""), p.get("address", "")) for p in people]
        msg["Subject"] = _header_text(m.subject)
        if m.date:
            msg["Date"] = format_datetime(m.date)
        msg["Message-ID"] = f"<{m.message_id}>"
        parent = by_pk.get(m.parent_pk) if m.parent_pk else None
        if parent is not None:
            msg["In-Reply-To"] = msg["References"] = f"<{parent.message_id}>"
        msg["X-Archive-Copy"] = "rebuilt from the archived text; outside addresses hidden"
        quoted = "".join(f"> {line}\n" for line in m.quoted_text.splitlines())
        msg.set_content(m.visible_text + ("\n\n" + quoted if quoted else ""))
        out.append((msg.as_bytes(), m.from_addr, m.date))
    return out


def _mailbox(name: str | None, address: str | None) -> Address:
    display = _header_text(name or "")
    display = "" if display == address else display
    try:
        return Address(display_name=display, addr_spec=address or HIDDEN_MAILBOX)
    except (ValueError, IndexError, errors.HeaderParseError):
        # An address the header model refuses (odd but archived): the name still says who.
        return Address(display_name=display, addr_spec=HIDDEN_MAILBOX)


def _header_text(value: str) -> str:
    # A header value is one line: folded or hostile line breaks become spaces.
    return " ".join(value.split())
