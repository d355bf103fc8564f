"""The JSON API under /api: the same reads as the pages, and the reply action.

Same viewer, same readable communities, same 404 for what a logged-in viewer
may not read. `GET /api` is a short index; the schema is FastAPI's OpenAPI
document, at /openapi.json and /api/openapi.json, shown at /docs.
Scripts authenticate with `Authorization: Bearer TOKEN` (a personal API
token, web/bearer.py); a browser's session cookie works too, and then a
reply is a POST with the CSRF token in the `X-CSRF-Token` header
(web/security.py), like the page's form.

Anonymous callers read public communities. Where an anonymous call finds
nothing it may read (a community or thread that is missing or not public,
or no public community at all) the answer is 401 saying a login or token is
needed, rather than an empty list or a bare 404: a script with a forgotten
token learns why. It says the same for what exists and what does not, so it
confirms no private name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from markupsafe import escape
from pydantic import BaseModel, Field

from bridge.posting import MAX_BODY, MAX_SUBJECT, person_name, post_discussion, post_reply
from threads import queries
from threads.access import may_post
from threads.search.language import describe_query, parse_query
from web.archive import ReaderArchive
from web.deps import CoreDep, ViewerDep
from web.discussion import postable_community
from web.reading import NOT_FOUND_COMMUNITY, NOT_FOUND_PERSON, not_found
from web.state import metrics_of


# Declares Bearer authentication on every call in the schema, so /docs offers "Authorize";
# the token itself is read by web/viewer.py (auto_error off: anonymous reads stay open).
def _remember_viewer(request: Request, viewer: ViewerDep) -> None:
    # For `error_response`: whose 404 it is (anonymous callers get the 401 instead).
    request.state.api_viewer = viewer


router = APIRouter(
    prefix="/api",
    tags=["api"],
    dependencies=[Depends(HTTPBearer(auto_error=False)), Depends(_remember_viewer)],
)


class PersonOut(BaseModel):
    name: str
    address: str = Field(description="empty for people outside the organisation (admins see it)")


class CommunityOut(BaseModel):
    slug: str
    name: str
    description: str
    visibility: str
    threads: int
    messages: int
    active_threads: int = Field(description="threads with a message in the last 30 days")
    last_activity: datetime | None
    url: str


class ThreadSummaryOut(BaseModel):
    id: int
    subject: str
    message_count: int
    started_by_email: bool
    original_recipients: int = Field(description="people the first message reached by To/Cc")
    started_at: datetime | None
    last_activity_at: datetime | None
    last_from: str
    participants: list[PersonOut]
    attachments: int
    url: str


class ThreadListOut(BaseModel):
    community: CommunityOut | None = None
    threads: list[ThreadSummaryOut]
    page: int
    total: int | None = Field(description="None when filters are applied")
    more: bool


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    inline: bool
    url: str


class MessageOut(BaseModel):
    id: int
    message_id: str
    parent_id: int | None
    depth: int
    subject: str
    sender: PersonOut = Field(alias="from")
    to: list[PersonOut]
    cc: list[PersonOut]
    date: datetime | None
    visible_text: str
    quoted_text: str
    signature: str
    attachments: list[AttachmentOut]
    html_url: str | None
    source: str

    model_config = {"populate_by_name": True}


class ThreadOut(BaseModel):
    id: int
    subject: str
    community: str
    community_name: str
    original_recipients: int
    messages: list[MessageOut]
    can_reply: bool
    feed_url: str
    mbox_url: str


class SearchHitOut(BaseModel):
    thread_id: int
    message_id: int
    subject: str
    community: str
    sender: PersonOut = Field(alias="from")
    date: datetime | None
    snippet: str
    snippet_html: str = Field(description="the snippet, escaped, with <mark> around matches")
    matches: int
    url: str

    model_config = {"populate_by_name": True}


class SearchOut(BaseModel):
    query: str
    read_as: str
    notices: list[str]
    total_threads: int
    capped: bool
    page: int
    results: list[SearchHitOut]
    # A corrected query that finds threads this reader may read, when this one found none.
    did_you_mean: str | None = None


class PersonPageOut(BaseModel):
    address: str
    name: str
    total: int
    communities: list[dict[str, Any]]
    messages: list[dict[str, Any]]


class ReplyIn(BaseModel):
    body: str = Field(min_length=1, max_length=200_000)


class ReplyOut(BaseModel):
    id: int
    url: str


class DiscussionIn(BaseModel):
    # The form's limits; the subject is made one line (CR/LF and all) before it is a header.
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT)
    body: str = Field(min_length=1, max_length=MAX_BODY)


class DiscussionOut(BaseModel):
    thread_id: int
    message_id: int = Field(description="the new thread's first message")
    url: str


def _community(c: queries.CommunitySummary) -> CommunityOut:
    return CommunityOut(
        slug=c.slug,
        name=c.name,
        description=c.description,
        visibility=c.visibility,
        threads=c.threads,
        messages=c.messages,
        active_threads=c.active_threads,
        last_activity=c.last_activity,
        url=f"/c/{c.slug}",
    )


def _people(addrs: list[dict[str, str]]) -> list[PersonOut]:
    return [PersonOut(name=a.get("name") or "", address=a.get("address") or "") for a in addrs]


LOGIN_NEEDED = (
    "This needs a login: send 'Authorization: Bearer TOKEN' with a personal API token "
    "(made on /me or by 'bridge token create'), or it does not exist."
)
ANONYMOUS_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="bridge"'}


class ApiIndexOut(BaseModel):
    name: str
    docs: str
    openapi: str
    authentication: str
    viewer: str = Field(description="who this request is: an address, or 'anonymous'")
    endpoints: dict[str, str]


@router.get("", response_model=ApiIndexOut)
def api_index(request: Request, viewer: ViewerDep) -> Any:
    """What the API offers, where its documentation is, and how to authenticate."""
    return ApiIndexOut(
        name="Commons Bridge API",
        docs="/docs",
        openapi="/api/openapi.json",
        authentication=(
            "Authorization: Bearer TOKEN (a personal API token from /me or "
            "'bridge token create EMAIL --name NAME'); without one, public communities only"
        ),
        viewer="anonymous" if viewer.anonymous else viewer.email,
        endpoints={
            "GET /api/communities": "communities you may read",
            "GET /api/communities/{slug}/threads": "a community's threads, newest activity first",
            "GET /api/threads/{id}": "a thread's messages",
            "GET /api/search?q=": "search, in the search page's language",
            "GET /api/people/{address}": "what someone wrote that you may read",
            "POST /api/threads/{id}/replies": "reply to a thread as yourself",
            "POST /api/communities/{slug}/discussions": "start a discussion as yourself",
        },
    )


def login_needed() -> HTTPException:
    return HTTPException(401, LOGIN_NEEDED, headers=ANONYMOUS_CHALLENGE)


@router.get("/communities", response_model=list[CommunityOut])
def api_communities(request: Request, core: CoreDep, viewer: ViewerDep) -> Any:
    """The communities the viewer may read, with their activity."""
    with ReaderArchive(core, viewer) as archive:
        if viewer.anonymous and not archive.readable:
            raise login_needed()
        return [_community(c) for c in archive.communities()]


@router.get("/communities/{slug}/threads", response_model=ThreadListOut)
def api_threads(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    slug: str,
    page: int = Query(1, ge=1, le=100_000),
    unanswered: bool = False,
    attachments: bool = False,
    person: str = Query("", max_length=320),
) -> Any:
    """A community's threads by last activity, with the same filters as the page."""
    filters = queries.ThreadFilters(unanswered, attachments, person.strip().lower())
    with ReaderArchive(core, viewer) as archive:
        row = archive.community(slug)
        if row is None:
            raise not_found(NOT_FOUND_COMMUNITY)
        threads, total, more = archive.threads_page(row.id, page, filters)
        summary = next(iter(archive.communities(only=row.id)), None)
    return ThreadListOut(
        community=_community(summary) if summary else None,
        threads=[
            ThreadSummaryOut(
                id=t.id,
                subject=t.subject,
                message_count=t.message_count,
                started_by_email=t.started_by_email,
                original_recipients=t.original_recipients,
                started_at=t.started_at,
                last_activity_at=t.last_activity_at,
                last_from=t.last_from,
                participants=[PersonOut(name=p.name, address=p.address) for p in t.people],
                attachments=t.attachments,
                url=f"/t/{t.id}",
            )
            for t in threads
        ],
        page=page,
        total=total,
        more=more,
    )


@router.get("/threads/{thread_id}", response_model=ThreadOut, response_model_by_alias=True)
def api_thread(request: Request, core: CoreDep, thread_id: int, viewer: ViewerDep) -> Any:
    """A thread's messages in conversation order, with reply depth and attachments."""
    with ReaderArchive(core, viewer) as archive:
        row = archive.thread(thread_id)
        messages = archive.thread_messages(thread_id)
        can_reply = may_post(archive.conn, viewer, row.community_id)
    return ThreadOut(
        id=row.id,
        subject=row.subject,
        community=row.slug,
        community_name=row.community_name,
        original_recipients=row.original_recipients,
        can_reply=can_reply,
        feed_url=f"/t/{row.id}/feed.atom",
        mbox_url=f"/t/{row.id}/thread.mbox",
        messages=[
            MessageOut(
                id=m.pk,
                message_id=m.message_id,
                parent_id=m.parent_pk,
                depth=m.depth,
                subject=m.subject,
                sender=PersonOut(name=m.from_name, address=m.from_addr),
                to=_people(m.to),
                cc=_people(m.cc),
                date=m.date,
                visible_text=m.visible_text,
                quoted_text=m.quoted_text,
                signature=m.signature,
                attachments=[
                    AttachmentOut(
                        id=a.id,
                        filename=a.filename,
                        content_type=a.content_type,
                        size=a.size,
                        inline=bool(a.inline),
                        url=f"/a/{a.id}/{a.filename or 'attachment'}",
                    )
                    for a in m.attachments
                ],
                html_url=f"/m/{m.pk}/html" if m.has_html else None,
                source=m.source,
            )
            for m in messages
        ],
    )


def _plain(marked: str) -> str:
    return marked.replace("\x02", "").replace("\x03", "")


def _html(marked: str) -> str:
    return str(escape(marked)).replace("\x02", "<mark>").replace("\x03", "</mark>")


@router.get("/search", response_model=SearchOut, response_model_by_alias=True)
def api_search(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    q: str = Query("", max_length=20_000),
    page: int = Query(1, ge=1, le=1000),
) -> Any:
    """The search language of the search page; results grouped by thread, best first."""
    parsed = parse_query(q)
    with ReaderArchive(core, viewer) as archive:
        if viewer.anonymous and not archive.readable:
            raise login_needed()
        with metrics_of(request).searches.time():
            found = archive.search(parsed, offset=(page - 1) * 20, limit=20)
    return SearchOut(
        query=q,
        read_as=describe_query(parsed),
        notices=found.notices,
        total_threads=found.total_threads,
        capped=found.capped,
        did_you_mean=found.suggestion,
        page=page,
        results=[
            SearchHitOut(
                thread_id=h.thread_id,
                message_id=h.message_pk,
                subject=_plain(h.subject),
                community=h.community_slug,
                sender=PersonOut(name=h.from_name, address=h.from_addr),
                date=h.date,
                snippet=_plain(h.snippet),
                snippet_html=_html(h.snippet),
                matches=h.matches,
                url=f"/t/{h.thread_id}#m{h.message_pk}",
            )
            for h in found.threads
        ],
    )


@router.get("/people/{address:path}", response_model=PersonPageOut)
def api_person(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    address: str,
    page: int = Query(1, ge=1, le=100_000),
) -> Any:
    """What someone wrote, and where, in the communities the viewer may read."""
    # A hidden address answers like an unknown one: this must not confirm it.
    with ReaderArchive(core, viewer) as archive:
        found = archive.person_page(address.strip().lower(), page)
    if found is None:
        raise not_found(NOT_FOUND_PERSON)
    return PersonPageOut(
        address=found.address,
        name=found.name,
        total=found.total,
        communities=[{"slug": s, "name": n, "messages": c} for s, n, c in found.communities],
        messages=[
            {
                "id": m.pk,
                "thread_id": m.thread_id,
                "subject": m.subject,
                "date": m.date.isoformat() if m.date else None,
                "community": m.community_slug,
                "url": f"/t/{m.thread_id}#m{m.pk}",
            }
            for m in found.messages
        ],
    )


@router.post(
    "/threads/{thread_id}/replies",
    response_model=ReplyOut,
    status_code=201,
    responses={400: {"description": "the reply was refused; `detail` says why"}},
)
def api_reply(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    thread_id: int,
    reply: ReplyIn,
) -> Any:
    """Post a reply as the viewer: filed through the pipeline and mailed to the thread."""
    if viewer.anonymous:
        raise login_needed()
    with ReaderArchive(core, viewer) as archive:
        archive.thread(thread_id)
    pk = post_reply(core, viewer, thread_id, reply.body)  # PostRefused: 400 (web/errors.py)
    return ReplyOut(id=pk, url=f"/t/{thread_id}#m{pk}")


@router.post(
    "/communities/{slug}/discussions",
    response_model=DiscussionOut,
    status_code=201,
    responses={
        400: {"description": "the post was refused (empty, too long, too many); `detail` says why"},
        403: {"description": "you may read this community but not start discussions in it"},
    },
)
def api_start_discussion(
    request: Request, core: CoreDep, viewer: ViewerDep, slug: str, discussion: DiscussionIn
) -> Any:
    """Start a discussion as the viewer, as the community page's form does (no files):
    filed through the pipeline and mailed to the community's subscribers and lists."""
    if viewer.anonymous:
        raise login_needed()
    community = postable_community(core, viewer, slug)  # 404 unreadable, 403 may not post
    thread_id, pk = post_discussion(  # PostRefused: 400 (web/errors.py)
        core,
        viewer,
        community.id,
        discussion.subject,
        discussion.body,
        name=person_name(core, viewer.email),
    )
    return DiscussionOut(thread_id=thread_id, message_id=pk, url=f"/t/{thread_id}#m{pk}")


@router.get("/openapi.json", include_in_schema=False)
def api_schema(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


def error_response(
    request: Request, status: int, detail: Any, headers: Mapping[str, str] | None = None
) -> JSONResponse | None:
    """JSON errors for /api paths (the app's error handlers call this first).

    An anonymous viewer's 404 from a route that looked them up becomes the
    401 of `login_needed` (see the module docstring); an unknown path stays 404.
    """
    path = request.url.path
    if path != "/api" and not path.startswith("/api/"):
        return None
    viewer = getattr(request.state, "api_viewer", None) or getattr(request.state, "viewer", None)
    if status == 404 and getattr(viewer, "anonymous", False):
        status, detail, headers = 401, LOGIN_NEEDED, ANONYMOUS_CHALLENGE
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)
