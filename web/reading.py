"""What every reading route shares: a connection, the viewer's readable communities, rendering.

Routes take `viewer: Viewer = Depends(current_viewer)` and pass
`readable(conn, viewer)` into every query, so access is decided inside the
query and a thread one may not read answers 404 exactly like a missing one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, select

from threads import queries
from threads.access import Viewer, readable_community_ids
from threads.models import Route, RouteKind
from threads.people import HIDDEN_ADDRESS, domain_of, external_label, is_external
from threads.search import ThreadHit

PAGE_SIZE = 30
NOT_FOUND_THREAD = "There is no thread at this address, or it is not visible to you."
NOT_FOUND_COMMUNITY = "There is no community at this address, or it is not visible to you."
NOT_FOUND_PERSON = "Nobody with this address wrote anything you can read."


def connect(request: Request) -> Connection:
    return request.app.state.core.engine.connect()  # type: ignore[no-any-return]


def readable(conn: Connection, viewer: Viewer) -> list[int]:
    return readable_community_ids(conn, viewer)


def render(
    request: Request,
    name: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, context, status_code=status, headers=headers
    )
    return response


def not_found(message: str = NOT_FOUND_THREAD) -> HTTPException:
    return HTTPException(404, message)


def readable_thread(conn: Connection, viewer: Viewer, thread_id: int) -> Any:
    """The thread if `viewer` may read it; otherwise the 404 of a thread that does not exist."""
    row = queries.thread_by_id(conn, thread_id, readable(conn, viewer))
    if row is None:
        raise not_found()
    return row


def human_size(size: int) -> str:
    """1 234 567 -> "1.2 MB"."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} bytes"  # pragma: no cover


# --- Addresses of external participants (docs/admin.md, "Withdrawn messages and external
# participants"): web readers see them by name; admins see every address.


@dataclass(frozen=True)
class Privacy:
    """Decides, for one request, which addresses a reader may see and how others are named.

    `own` are the bridge's own addresses (community list addresses, anything at
    the bridge's mail domain): never a person, never hidden.
    """

    org_domains: tuple[str, ...] = ()
    own: frozenset[str] = frozenset()
    mail_domain: str = ""
    reveal: bool = True

    def external(self, address: str | None) -> bool:
        if not address or address in self.own:
            return False
        if self.mail_domain and domain_of(address) == self.mail_domain:
            return False
        return is_external(address, self.org_domains)

    @property
    def search_domains(self) -> tuple[str, ...] | None:
        """For search's from:/to:/cc: the domains whose addresses this reader sees (None: all)."""
        if self.reveal:
            return None
        return (*self.org_domains, *((self.mail_domain,) if self.mail_domain else ()))

    def hidden(self, address: str | None) -> bool:
        """Whether this reader must not see `address`."""
        return not self.reveal and self.external(address)

    def name(self, name: str | None, address: str | None) -> str:
        """The label for a sender or recipient."""
        if self.hidden(address):
            return external_label(name, address or "")
        return (name or "").strip() or address or ""

    def address(self, address: str | None) -> str:
        """The address to show, or "" when hidden."""
        return "" if self.hidden(address) else address or ""

    def person(self, entry: dict[str, Any] | None) -> dict[str, str]:
        """A {"name", "address"} entry (To, Cc, an organiser) as this reader may see it."""
        entry = entry or {}
        address = str(entry.get("address") or "").lower()
        return {"name": self.name(entry.get("name"), address), "address": self.address(address)}

    def scrub(self, text: str | None, addresses: Iterable[str]) -> str:
        """`text` with the hidden ones among `addresses` replaced (quotes, signatures)."""
        if not text or "@" not in text:
            return text or ""
        lower = text.lower()
        wanted = {a.lower() for a in addresses if a}
        found = {a for a in wanted if a in lower and self.hidden(a)}
        if not found:
            return text
        if len(lower) != len(text):  # a few characters change length in lower case
            pattern = "|".join(re.escape(a) for a in sorted(found, key=len, reverse=True))
            return re.sub(pattern, HIDDEN_ADDRESS, text, flags=re.I)
        return _splice(text, _spans(lower, found))


def _spans(lower: str, needles: Iterable[str]) -> list[tuple[int, int]]:
    """Where the needles occur in `lower`, in order, without overlaps (the longer one
    of two that start together wins; the earlier one of two that overlap).

    str.find is a fast scan; a regex alternation of a long thread's addresses,
    ignoring case, took most of the time of rendering it.
    """
    found = []
    for needle in needles:
        at = lower.find(needle)
        while at != -1:
            found.append((at, at + len(needle)))
            at = lower.find(needle, at + len(needle))
    kept: list[tuple[int, int]] = []
    for start, end in sorted(found, key=lambda span: (span[0], -span[1])):
        if not kept or start >= kept[-1][1]:
            kept.append((start, end))
    return kept


def _splice(text: str, spans: list[tuple[int, int]]) -> str:
    parts, last = [], 0
    for start, end in spans:
        parts += [text[last:start], HIDDEN_ADDRESS]
        last = end
    parts.append(text[last:])
    return "".join(parts)


def privacy(conn: Connection, request: Request, viewer: Viewer) -> Privacy:
    """The reader's Privacy: admins see every address; with no org domains nobody is external."""
    settings = request.app.state.core.settings
    if viewer.is_admin or not settings.org_domains:
        return Privacy()
    routes = conn.execute(
        select(Route.value).where(Route.kind == RouteKind.address.value)
    ).scalars()
    return Privacy(
        org_domains=tuple(settings.org_domains),
        own=frozenset(str(v).lower() for v in routes),
        mail_domain=str(settings.mail_domain or "").lower(),
        reveal=False,
    )


def message_addresses(messages: Iterable[queries.ThreadMessage]) -> set[str]:
    """Every From/To/Cc address of a conversation (what `Privacy.scrub` looks for)."""
    found: set[str] = set()
    for m in messages:
        found.add(m.from_addr)
        found.update(str(a.get("address") or "").lower() for a in [*m.to, *m.cc])
    return {a for a in found if a}


def redact_message(
    m: queries.ThreadMessage, shield: Privacy, addresses: Iterable[str]
) -> queries.ThreadMessage:
    """One message as this reader may see it: names for hidden addresses, texts scrubbed."""
    if shield.reveal:
        return m
    addresses = list(addresses)
    return replace(
        m,
        from_name=shield.name(m.from_name, m.from_addr),
        from_addr=shield.address(m.from_addr),
        to=[shield.person(a) for a in m.to],
        cc=[shield.person(a) for a in m.cc],
        visible_text=shield.scrub(m.visible_text, addresses),
        quoted_text=shield.scrub(m.quoted_text, addresses),
        signature=shield.scrub(m.signature, addresses),
        from_impersonates=shield.scrub(m.from_impersonates, addresses) or None,
        events=[
            {**e, "organizer": shield.person(e["organizer"])} if e.get("organizer") else e
            for e in m.events
        ],
    )


def redact_summary(t: queries.ThreadSummary, shield: Privacy) -> queries.ThreadSummary:
    """A thread list entry with hidden senders named, not addressed."""
    if shield.reveal:
        return t
    people = [
        queries.Person(shield.name(p.name, p.address), shield.address(p.address)) for p in t.people
    ]
    return replace(
        t,
        people=people,
        participants=[p.name for p in people][:6],
        last_from=shield.name(t.last_from, t.last_from_addr),
        starter=shield.name(t.starter, t.starter_addr),
    )


def redact_hit(h: ThreadHit, shield: Privacy) -> ThreadHit:
    """A search result with a hidden sender named, and their address out of the snippet."""
    if shield.reveal:
        return h
    return replace(
        h,
        from_name=shield.name(h.from_name, h.from_addr),
        from_addr=shield.address(h.from_addr),
        snippet=shield.scrub(h.snippet, [h.from_addr]),
    )


def community_threads(
    conn: Connection,
    community_id: int,
    page: int,
    filters: queries.ThreadFilters,
    shield: Privacy,
    *,
    page_size: int = PAGE_SIZE,
) -> tuple[list[queries.ThreadSummary], int | None, bool]:
    """A page of a community's threads as this reader may see them.

    Filtering by a hidden external address finds nothing, exactly like an
    address that never wrote: the filter must not confirm who took part.
    """
    if filters.person and shield.hidden(filters.person):
        return [], None, False
    threads, total, more = queries.threads_page(
        conn, community_id, offset=(page - 1) * page_size, limit=page_size, filters=filters
    )
    return [redact_summary(t, shield) for t in threads], total, more
