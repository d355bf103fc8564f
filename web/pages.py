"""HTML pages: communities, a community's threads, a thread and its reply box, a person, search.

Every route takes the request's viewer and reads through the viewer's
readable communities (web/reading.py); what is not readable answers 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import col

from bridge.core import Core
from bridge.posting import PostRefused, post_reply
from threads import outbound, queries
from threads.access import Viewer, may_moderate, may_post
from threads.models import Person
from threads.search.language import describe_query, parse_query
from threads.withdraw import is_author
from web.archive import ReaderArchive
from web.deps import CoreDep, ViewerDep
from web.reading import NOT_FOUND_COMMUNITY, NOT_FOUND_PERSON, PAGE_SIZE, human_size, not_found
from web.render import render
from web.security import CSP
from web.state import read_log_of

router = APIRouter()
SEARCH_PAGE = 20
MAX_PAGE = 100_000


@router.get("/", response_class=HTMLResponse)
def home(request: Request, core: CoreDep, viewer: ViewerDep) -> HTMLResponse:
    with ReaderArchive(core, viewer) as archive:
        communities = archive.communities(recent=3)
    return render(request, "home.html", communities=communities, viewer=viewer)


@router.get("/c/{slug}", response_class=HTMLResponse)
def community(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    slug: str,
    page: int = Query(1, ge=1, le=MAX_PAGE),
    unanswered: bool = False,
    attachments: bool = False,
    person: str = Query("", max_length=320),
) -> HTMLResponse:
    filters = queries.ThreadFilters(unanswered, attachments, person.strip().lower())
    with ReaderArchive(core, viewer) as archive:
        row = archive.community(slug)
        if row is None:
            raise not_found(NOT_FOUND_COMMUNITY)
        threads, total, more = archive.threads_page(row.id, page, filters, page_size=PAGE_SIZE)
    params = {
        k: v
        for k, v in (
            ("unanswered", "1" if unanswered else ""),
            ("attachments", "1" if attachments else ""),
            ("person", filters.person),
        )
        if v
    }

    def page_url(n: int) -> str:
        return "?" + urlencode({**params, "page": n}) if n > 1 or params else f"/c/{slug}"

    pages = max(1, -(-total // PAGE_SIZE)) if total is not None else None
    return render(
        request,
        "community.html",
        community=row,
        threads=threads,
        page=page,
        pages=pages,
        more=more,
        total=total,
        filters=filters,
        page_url=page_url,
        viewer=viewer,
    )


def _thread_context(core: Core, thread_id: int, viewer: Viewer) -> dict[str, Any]:
    with ReaderArchive(core, viewer) as archive:
        row = archive.thread(thread_id)
        # Who wrote what is decided on the stored addresses, before any is hidden.
        messages, stored = archive.conversation(thread_id)
        can_reply = may_post(archive.conn, viewer, row.community_id)
        moderator = may_moderate(archive.conn, viewer, row.community_id)
        mail_choice = (
            outbound.thread_choice(archive.conn, thread_id, viewer.email) if viewer.email else None
        )
        shield = archive.privacy
    real = [m for m in stored if not m.withdrawn]
    mine = {m.pk for m in stored if is_author(m.from_addr, viewer.email)}
    withdrawable = {m.pk for m in real if m.pk in mine or viewer.is_admin}
    addresses = _addresses(real)  # everyone on From/To/Cc, counted before any is hidden
    people: dict[str, tuple[str, str]] = {}
    for m in messages:
        if not m.withdrawn:
            # keyed by the label when the address is hidden: one entry per shown person
            people.setdefault(m.from_addr or m.from_name, (m.from_name or m.from_addr, m.from_addr))
    first = real[0] if real else None
    return {
        "thread": row,
        "messages": messages,
        "message_total": len(real),
        "people": list(people.values()),
        "authors": {
            m.pk: ("a withdrawn message" if m.withdrawn else m.from_name or m.from_addr)
            for m in messages
        },
        "audience": len(addresses),
        "started_by_email": first is not None and first.source != "web",
        "can_reply": can_reply,
        "mail_choice": mail_choice,
        "viewer": viewer,
        "size": human_size,
        "mine": mine,
        "withdrawable": withdrawable,
        "outside_hidden": any(shield.hidden(a) for a in addresses),
        "moderator": moderator,
    }


def _addresses(messages: list[queries.ThreadMessage]) -> set[str]:
    """Every From/To/Cc address of a conversation."""
    found = {m.from_addr for m in messages}
    for m in messages:
        found.update(str(a.get("address") or "").lower() for a in [*m.to, *m.cc])
    return {a for a in found if a}


def _framing_csp() -> dict[str, str]:
    # The thread page frames each message's HTML document (web/attachments.py).
    return {"Content-Security-Policy": CSP + "; frame-src 'self'"}


@router.get("/t/{thread_id}", response_class=HTMLResponse)
def thread(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    thread_id: int,
) -> HTMLResponse:
    context = _thread_context(core, thread_id, viewer)
    if viewer.person_id is not None:
        read_log_of(request).add(thread_id, viewer.person_id)
    return render(request, "thread.html", headers=_framing_csp(), **context)


@router.post("/t/{thread_id}/reply", response_model=None)
def reply(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    thread_id: int,
    body: str = Form("", max_length=200_000),
) -> Response:
    """File the reply through the pipeline, then show it in the thread."""
    context = _thread_context(core, thread_id, viewer)
    name = ""
    if viewer.email:
        with core.engine.connect() as conn:
            name = (
                conn.execute(
                    select(col(Person.name)).where(col(Person.email) == viewer.email)
                ).scalar()
                or ""
            )
    try:
        pk = post_reply(core, viewer, thread_id, body, name=name)
    except PostRefused as exc:
        return render(
            request,
            "thread.html",
            status=400,
            headers=_framing_csp(),
            reply_error=str(exc),
            reply_body=body,
            **context,
        )
    return RedirectResponse(f"/t/{thread_id}#m{pk}", status_code=303)


@router.get("/p/{address:path}", response_class=HTMLResponse)
def person(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    address: str,
    page: int = Query(1, ge=1, le=MAX_PAGE),
) -> HTMLResponse:
    """What someone wrote, in the communities the viewer may read."""
    with ReaderArchive(core, viewer) as archive:
        found = archive.person_page(address.strip().lower(), page)
    if found is None:
        raise not_found(NOT_FOUND_PERSON)
    pages = max(1, -(-found.total // PAGE_SIZE))
    return render(request, "person.html", person=found, page=page, pages=pages, viewer=viewer)


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    q: str = Query("", max_length=20_000),
    page: int = Query(1, ge=1, le=1000),
) -> HTMLResponse:
    parsed = parse_query(q)
    with ReaderArchive(core, viewer) as archive:
        results = archive.search(parsed, offset=(page - 1) * SEARCH_PAGE, limit=SEARCH_PAGE)
    pages = max(1, -(-results.total_threads // SEARCH_PAGE))
    return render(
        request,
        "search.html",
        q=q,
        parsed=describe_query(parsed),
        results=results,
        empty=parsed.empty,
        page=page,
        pages=pages,
        page_url=lambda n: "/search?" + urlencode({"q": q, "page": n}),
        suggestion_url="/search?" + urlencode({"q": results.suggestion or ""}),
        viewer=viewer,
    )
