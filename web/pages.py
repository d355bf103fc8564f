"""HTML pages: communities, a community's threads, a thread and its reply box, a person, search.

Every route takes the request's viewer and reads through the viewer's
readable communities (web/reading.py); what is not readable answers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bridge import copy_audience
from bridge.core import Core
from bridge.errors import PostRefused
from bridge.posting import person_name, post_reply
from threads import outbound, queries
from threads.access import Viewer, may_moderate, may_post
from threads.privacy import Privacy
from threads.search.language import describe_query, parse_query
from threads.withdraw import is_author
from web.archive import ReaderArchive
from web.conversation import VIEWS, Layout, View, layout, page_holding, participants
from web.deps import CoreDep, ViewerDep
from web.reading import NOT_FOUND_COMMUNITY, NOT_FOUND_PERSON, PAGE_SIZE, human_size, not_found
from web.render import render
from web.security import CSP
from web.state import metrics_of, read_log_of
from web.unread import counts, opened

router = APIRouter()
SEARCH_PAGE = 20
MAX_PAGE = 100_000


@router.get("/", response_class=HTMLResponse)
def home(request: Request, core: CoreDep, viewer: ViewerDep) -> HTMLResponse:
    with ReaderArchive(core, viewer) as archive:
        communities = archive.communities(recent=3)
        news = counts(request, archive, [tid for c in communities for tid, _ in c.recent])
    return render(request, "home.html", communities=communities, viewer=viewer, unread=news)


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
        can_post = may_post(archive.conn, viewer, row.id)
        news = counts(request, archive, [t.id for t in threads])
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
        can_post=can_post,
        unread=news,
    )


Arrange = Callable[[list[queries.ThreadMessage], int | None], tuple[Layout, dict[str, Any]]]


def _thread_context(core: Core, thread_id: int, viewer: Viewer, arrange: Arrange) -> dict[str, Any]:
    """The thread page's context. `arrange` lays out the stored outline (every message's
    place, no bodies, nothing redacted: it decides, it never shows) given the viewer's seen
    mark; only the messages it shows are then read whole and redacted, and only the names
    the page prints, so a long thread's first view reads and redacts a dozen messages."""
    with ReaderArchive(core, viewer) as archive:
        row = archive.thread(thread_id)
        # Who wrote what is decided on the stored addresses, before any is hidden.
        stored = archive.outline(thread_id)
        can_reply = may_post(archive.conn, viewer, row.community_id)
        moderator = may_moderate(archive.conn, viewer, row.community_id)
        mail_choice = (
            outbound.thread_choice(archive.conn, thread_id, viewer.email) if viewer.email else None
        )
        shield = archive.privacy
        seen_mark = archive.seen_mark(thread_id)
        ours = copy_audience.own_addresses(archive.conn, core.settings.mail_domain or "")
        # Whom a reply would be mailed to, as fan-out will decide it (the author aside);
        # only the reply box says it.
        mailed = (
            copy_audience.owed(
                archive.conn,
                thread_id,
                org_domains=core.settings.org_domains,
                ours=ours,
                reached={viewer.email.lower()} if viewer.email else set(),
                web=True,
            ).recipients
            if can_reply
            else []
        )
        shown, extra = arrange(stored, seen_mark)
        by_pk = {m.pk: m for m in stored}
        bodies = {m.pk: m for m in archive.fill([by_pk[e.message.pk] for e in shown.entries])}
    entries = [replace(e, message=bodies[e.message.pk]) for e in shown.entries]
    real = [m for m in stored if not m.withdrawn]
    mine = {m.pk for m in stored if is_author(m.from_addr, viewer.email)}
    withdrawable = {m.pk for m in real if m.pk in mine or viewer.is_admin}
    # Everyone on From/To/Cc, counted before any is hidden; the community's own
    # addresses are not people.
    addresses = {a for a in _addresses(real) if not ours(a)}
    people = [(p.name, p.address) for p in shield.redact(_people(stored))]
    first = real[0] if real else None
    return {
        "thread": row,
        "layout": replace(shown, entries=entries),
        "message_total": len(real),
        "people": people,
        "mailed": len(mailed),
        "authors": _authors(
            shield, [by_pk[e.message.parent_pk] for e in entries if e.message.parent_pk in by_pk]
        ),
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
        **extra,
    }


def _authors(shield: Privacy, messages: list[queries.ThreadMessage]) -> dict[int, str]:
    """pk -> how the page names the author of each message a shown one answers."""
    named = shield.redact([queries.Person(m.from_name, m.from_addr) for m in messages])
    return {
        m.pk: "a withdrawn message" if m.withdrawn else p.name or p.address
        for m, p in zip(messages, named, strict=True)
    }


def _people(stored: list[queries.ThreadMessage]) -> list[queries.Person]:
    # Told apart on the stored addresses, as the community list does, then redacted.
    return [queries.Person(name, address) for name, address in participants(stored)]


def _addresses(messages: list[queries.ThreadMessage]) -> set[str]:
    """Every From/To/Cc address of a conversation."""
    found = {m.from_addr for m in messages}
    for m in messages:
        found.update(str(a.get("address") or "").lower() for a in [*m.to, *m.cc])
    return {a for a in found if a}


def _framing_csp() -> dict[str, str]:
    # The thread page frames each message's HTML document (web/attachments.py).
    return {"Content-Security-Policy": CSP + "; frame-src 'self'"}


VIEW_COOKIE = "thread_view"


@router.get("/t/{thread_id}", response_class=HTMLResponse)
def thread(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    thread_id: int,
    view: str = Query("", max_length=8),
    page: int | None = Query(None, ge=1, le=MAX_PAGE),
    whole: bool = Query(False, alias="all"),
) -> HTMLResponse:
    """A conversation; a long one opens folded (`page` pages it, `all` shows it whole).
    The reader's tree/flat choice is kept in a cookie."""
    chosen = _view(view or request.cookies.get(VIEW_COOKIE, ""))

    def arrange(
        messages: list[queries.ThreadMessage], seen_mark: int | None
    ) -> tuple[Layout, dict[str, Any]]:
        shown_pks = [(m.pk, m.arrival, m.withdrawn) for m in messages]
        news = opened(request, viewer, thread_id, shown_pks, seen_mark)
        shown = layout(messages, chosen, page=page, whole=whole)
        extra: dict[str, Any] = {"first_unread": news}
        if news is not None and page is None and news not in {e.message.pk for e in shown.entries}:
            # The first unread is behind the fold: open at the page that holds it.
            shown = layout(messages, chosen, page=page_holding(messages, chosen, news))
        if news is not None and news not in {e.message.pk for e in shown.entries}:
            # Paged away from it: the jump link goes to the page that holds it.
            holding = page_holding(messages, chosen, news)
            where = f"?page={holding}" if page is not None else "?all=1"
            extra["first_unread_href"] = f"/t/{thread_id}{where}#m{news}"
        return shown, extra

    context = _thread_context(core, thread_id, viewer, arrange)
    if viewer.person_id is not None:
        read_log_of(request).add(thread_id, viewer.person_id)
    response = render(request, "thread.html", headers=_framing_csp(), **context)
    if view in VIEWS:
        response.set_cookie(
            VIEW_COOKIE,
            view,
            max_age=365 * 86400,
            samesite="lax",
            secure=core.settings.web_base_url.startswith("https://"),
        )
    return response


def _view(value: str) -> View:
    return "flat" if value == "flat" else "tree"


@router.post("/t/{thread_id}/reply", response_model=None)
def reply(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    thread_id: int,
    body: str = Form("", max_length=200_000),
) -> Response:
    """File the reply through the pipeline, then show it in the thread."""
    try:
        pk = post_reply(core, viewer, thread_id, body, name=person_name(core, viewer.email))
    except PostRefused as exc:
        # Nothing was filed, so the page is the thread as it was; one the viewer may
        # not read answers 404 here, as it does on GET.
        chosen = _view(request.cookies.get(VIEW_COOKIE, ""))
        context = _thread_context(
            core, thread_id, viewer, lambda messages, _: (layout(messages, chosen), {})
        )
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
        topics = archive.person_topics(found.address) if found is not None and page == 1 else None
    if found is None:
        raise not_found(NOT_FOUND_PERSON)
    pages = max(1, -(-found.total // PAGE_SIZE))
    return render(
        request,
        "person.html",
        person=found,
        topics=topics,
        page=page,
        pages=pages,
        viewer=viewer,
    )


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
        with metrics_of(request).searches.time():
            results = archive.search(parsed, offset=(page - 1) * SEARCH_PAGE, limit=SEARCH_PAGE)
        news = counts(request, archive, [h.thread_id for h in results.threads])
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
        unread=news,
    )
