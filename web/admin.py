"""Admin and moderation pages: communities, routes, members, people, held mail, logs.

The same operations as the CLI (bridge/admin.py, bridge/route_admin.py and
bridge/moderation.py do the work and write the audit log). Who may do what:

- admins: everything under /admin;
- moderators: /admin (their communities), a community's page and its
  members, and the held messages that route to their communities.

Anyone else, logged in or not, gets the same 404 as for a page that does not
exist: the admin side does not announce itself. Every form is a POST carrying
the CSRF token (web/security.py checks it before any of this runs).
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, func, select
from sqlmodel import col

from bridge import admin, copy_reviews, moderation, route_admin
from bridge.core import Core
from bridge.errors import Held, UsageError
from bridge.pipeline import steps
from bridge.pipeline.rules import ADMIN_ONLY
from mail.parse import parse_message
from threads.access import Viewer, may_moderate, moderated_community_ids
from threads.db import writer
from threads.models import Community, ImapFolder, Person, RawMessage, RawState, Route
from web.deps import NOT_FOUND_PAGE, AdminDep, CoreDep, StaffDep
from web.render import render

router = APIRouter(prefix="/admin")
C, R, P, F = Community.__table__, Route.__table__, Person.__table__, ImapFolder.__table__


def _community(conn: Connection, viewer: Viewer, slug: str) -> Any:
    """The community if `viewer` may moderate it; 404 otherwise, exactly like a missing one."""
    row = conn.execute(select(C).where(C.c.slug == slug)).first()
    if row is None or not may_moderate(conn, viewer, row.id):
        raise HTTPException(404, NOT_FOUND_PAGE)
    return row


def _back(path: str, note: str = "") -> RedirectResponse:
    """Back to a page with a one-line note (shown escaped, like any text)."""
    return RedirectResponse(f"{path}?{urlencode({'note': note})}" if note else path, 303)


def _change(
    core: Core, viewer: Viewer, slug: str, done: str, act: Callable[[Connection], object]
) -> RedirectResponse:
    """Check that `viewer` may moderate `slug`, then act, in one write transaction; back to
    the community's page with `done`, or with what was wrong (nothing is written then)."""
    try:
        with writer(core.engine).begin() as conn:
            _community(conn, viewer, slug)
            act(conn)
    except UsageError as exc:
        return _back(f"/admin/c/{slug}", str(exc))
    return _back(f"/admin/c/{slug}", done)


def _actor(viewer: Viewer) -> str:
    return viewer.email or "unknown"


@router.get("", response_class=HTMLResponse)
def index(request: Request, core: CoreDep, viewer: StaffDep) -> HTMLResponse:
    with core.engine.connect() as conn:
        ids = moderated_community_ids(conn, viewer)
        communities = conn.execute(select(C).where(C.c.id.in_(ids)).order_by(C.c.name)).all()
        held = len(_visible_held(core, viewer))
        states = dict(
            conn.execute(
                select(col(RawMessage.state), func.count()).group_by(col(RawMessage.state))
            ).all()
        )
    return render(
        request,
        "admin/index.html",
        viewer=viewer,
        communities=communities,
        held=held,
        states=states if viewer.is_admin else {},
        note=request.query_params.get("note", ""),
    )


@router.post("/communities", response_model=None)
def create_community(
    request: Request,
    core: CoreDep,
    viewer: AdminDep,
    slug: str = Form(..., max_length=64),
    name: str = Form(..., max_length=200),
    visibility: str = Form("org"),
    posting: str = Form("org"),
    description: str = Form("", max_length=2000),
) -> Response:
    try:
        with writer(core.engine).begin() as conn:
            admin.add_community(
                conn,
                slug.strip(),
                name.strip(),
                visibility,
                description,
                posting=posting,
                actor=_actor(viewer),
            )
    except UsageError as exc:
        return _back("/admin", str(exc))
    return _back(f"/admin/c/{slug.strip()}", "Community created.")


@router.get("/c/{slug}", response_class=HTMLResponse)
def community_page(
    request: Request,
    core: CoreDep,
    viewer: StaffDep,
    slug: str,
) -> HTMLResponse:
    with core.engine.connect() as conn:
        row = _community(conn, viewer, slug)
        routes = conn.execute(
            select(R.c.kind, R.c.value, R.c.policy, R.c.cc_threshold)
            .where(R.c.community_id == row.id)
            .order_by(R.c.value)
        ).all()
        members = admin.members(conn, row.id)
        folders = [
            {**f._asdict(), **route_admin.folder_status(f)}
            for f in conn.execute(select(F).where(F.c.community_id == row.id).order_by(F.c.url))
        ]
    return render(
        request,
        "admin/community.html",
        viewer=viewer,
        community=row,
        routes=routes,
        folders=folders,
        members=members,
        note=request.query_params.get("note", ""),
    )


@router.post("/c/{slug}/settings", response_model=None)
def community_settings(
    request: Request,
    core: CoreDep,
    viewer: AdminDep,
    slug: str,
    name: str = Form(..., max_length=200),
    description: str = Form("", max_length=2000),
    visibility: str = Form(...),
    posting: str = Form(...),
    archived: bool = Form(False),
) -> Response:
    return _change(
        core,
        viewer,
        slug,
        "Saved.",
        lambda conn: admin.edit_community(
            conn,
            slug,
            actor=_actor(viewer),
            name=name,
            description=description,
            visibility=visibility,
            posting=posting,
            archived=archived,
        ),
    )


@router.post("/c/{slug}/routes", response_model=None)
def community_routes(
    request: Request,
    core: CoreDep,
    viewer: AdminDep,
    slug: str,
    kind: str = Form(...),
    value: str = Form(..., max_length=320),
    action: str = Form("add"),
    policy: str = Form("open"),
    cc_threshold: int = Form(0),
) -> Response:

    def act(conn: Connection) -> None:
        if kind not in ("address", "list_id"):
            raise UsageError("a route is an address or a List-Id")
        if action == "remove":
            route_admin.remove_route(conn, slug, kind, value, actor=_actor(viewer))
        else:
            route_admin.add_route(
                conn,
                slug,
                kind,
                value,
                policy=policy,
                cc_threshold=cc_threshold,
                actor=_actor(viewer),
            )

    return _change(core, viewer, slug, "Routes updated.", act)


@router.post("/c/{slug}/folders", response_model=None)
def community_folders(
    request: Request,
    core: CoreDep,
    viewer: AdminDep,
    slug: str,
    url: str = Form(..., max_length=512),
    secret: str = Form("", max_length=1024),  # the variable's name or the file's path
    kept_in: str = Form("env"),  # env, file, or oauth (then `secret` names the client secret)
    after: str = Form("leave", max_length=256),
    policy: str = Form("consent"),  # a connected mailbox is someone's inbox
    cc_threshold: int = Form(0),
    oauth_provider: str = Form("generic", max_length=16),
    oauth_token_url: str = Form("", max_length=1024),
    oauth_client_id: str = Form("", max_length=256),
    oauth_scope: str = Form("", max_length=512),
    oauth_tenant: str = Form("", max_length=128),
    oauth_certificate_file: str = Form("", max_length=1024),
    oauth_service_account_file: str = Form("", max_length=1024),
) -> Response:
    """Poll a mailbox folder into the community, as `bridge route add --imap` does."""
    secret_file, password_env = (secret, "") if kept_in == "file" else ("", secret)
    try:
        oauth = None
        if kept_in == "oauth":
            password_env = ""
            oauth = route_admin.oauth_from_options(
                oauth_provider,
                token_url=oauth_token_url,
                client_id=oauth_client_id,
                secret_env=secret,
                scope=oauth_scope,
                tenant=oauth_tenant,
                certificate_file=oauth_certificate_file,
                service_account_file=oauth_service_account_file,
            )
        with writer(core.engine).begin() as conn:
            _community(conn, viewer, slug)
            stored = route_admin.add_imap_route(
                conn,
                slug,
                url,
                after=after,
                policy=policy,
                cc_threshold=cc_threshold,
                actor=_actor(viewer),
                secret_file=secret_file,
                password_env=password_env,
                oauth=oauth,
            )
    except UsageError as exc:
        return _back(f"/admin/c/{slug}", str(exc))
    return _back(f"/admin/c/{slug}", f"Polling {stored}; a running bridge picks it up shortly.")


@router.post("/c/{slug}/policy", response_model=None)
def community_policy(
    request: Request,
    core: CoreDep,
    viewer: AdminDep,
    slug: str,
    target: str = Form(..., max_length=512),  # the route's value or the folder's URL
    policy: str = Form(...),
    cc_threshold: int = Form(0),
) -> Response:
    """Change a route's or a folder's policy and cc threshold, as `bridge route edit` does."""
    return _change(
        core,
        viewer,
        slug,
        "Policy saved; it applies to mail from now on.",
        lambda conn: route_admin.set_route_policy(
            conn, slug, target, policy=policy, cc_threshold=cc_threshold, actor=_actor(viewer)
        ),
    )


@router.post("/c/{slug}/members", response_model=None)
def community_members(
    request: Request,
    core: CoreDep,
    viewer: StaffDep,
    slug: str,
    email: str = Form(..., max_length=320),
    role: str = Form("member"),
) -> Response:
    """Moderators manage their community's members; `role=remove` takes someone out."""
    new_role = None if role == "remove" else role
    return _change(
        core,
        viewer,
        slug,
        "Members updated.",
        lambda conn: admin.set_member(conn, slug, email, new_role, actor=_actor(viewer)),
    )


@router.get("/routes", response_class=HTMLResponse)
def routes_page(
    request: Request,
    core: CoreDep,
    viewer: AdminDep,
    to: str = Query("", max_length=320),
    list_id: str = Query("", max_length=320),
) -> HTMLResponse:
    """Every route, and the test box: where would a message to X with List-Id Y go?"""
    with core.engine.connect() as conn:
        rows = conn.execute(
            select(R.c.kind, R.c.value, R.c.policy, R.c.cc_threshold, C.c.slug, C.c.name)
            .join(C, C.c.id == R.c.community_id)
            .order_by(C.c.slug, R.c.kind, R.c.value)
        ).all()
        folders = [
            {**f._asdict(), **route_admin.folder_status(f)}
            for f in conn.execute(
                select(F, C.c.slug, C.c.name)
                .join(C, C.c.id == F.c.community_id)
                .order_by(C.c.slug, F.c.url)
            )
        ]
        answer = _route_test(conn, to.strip(), list_id.strip()) if (to or list_id) else None
    return render(
        request,
        "admin/routes.html",
        viewer=viewer,
        routes=rows,
        folders=folders,
        to=to,
        list_id=list_id,
        answer=answer,
    )


def _route_test(conn: Connection, to: str, list_id: str) -> str:
    """Run the pipeline's own routing step on a made-up message."""
    msg = EmailMessage()
    msg["From"] = "test@example.com"
    if to:
        msg["To"] = to
    if list_id:
        msg["List-Id"] = f"<{list_id.strip('<>')}>"
    msg["Subject"] = "route test"
    msg.set_content("test")
    try:
        parsed = parse_message(bytes(msg))
        view = steps.RawView(0, b"", "smtp", "", [to] if to else [], "", "")
        found = steps.route(steps.load_routes(conn), view, parsed)
    except Held as held:
        return f"Held: {held}"
    except Exception as exc:  # a malformed address typed into the box
        return f"Cannot test this: {exc}"
    return "Filed in: " + ", ".join(_with_policy(ref) for ref in found)


def _with_policy(ref: steps.CommunityRef) -> str:
    if ref.policy != "consent":
        return ref.slug
    needs = (
        f", needs {ref.cc_threshold} organisation addresses on To/Cc" if ref.cc_threshold else ""
    )
    return f"{ref.slug} (consent: new threads wait for their starter to open them{needs})"


@router.get("/people", response_class=HTMLResponse)
def people_page(
    request: Request,
    core: CoreDep,
    viewer: AdminDep,
    q: str = Query("", max_length=320),
) -> HTMLResponse:
    with core.engine.connect() as conn:
        stmt = select(P.c.email, P.c.name, P.c.is_admin, P.c.disabled).order_by(P.c.email)
        if q:
            stmt = stmt.where(P.c.email.contains(q.strip().lower()))
        else:
            stmt = stmt.where((P.c.is_admin.is_(True)) | (P.c.disabled.is_(True)))
        people = conn.execute(stmt.limit(200)).all()
    return render(
        request,
        "admin/people.html",
        viewer=viewer,
        people=people,
        q=q,
        note=request.query_params.get("note", ""),
    )


@router.post("/people", response_model=None)
def people_action(
    request: Request,
    core: CoreDep,
    viewer: AdminDep,
    email: str = Form(..., max_length=320),
    action: str = Form(...),
) -> Response:
    actor = _actor(viewer)
    actions: dict[str, Callable[[Connection], str]] = {
        "grant": lambda conn: admin.set_admin(conn, email, True, actor=actor),
        "revoke": lambda conn: admin.set_admin(conn, email, False, actor=actor),
        "disable": lambda conn: admin.set_disabled(conn, email, True, actor=actor),
        "enable": lambda conn: admin.set_disabled(conn, email, False, actor=actor),
    }
    if action not in actions:
        return _back("/admin/people", "Choose grant, revoke, disable or enable.")
    try:
        with writer(core.engine).begin() as conn:
            key = actions[action](conn)
    except UsageError as exc:
        return _back("/admin/people", str(exc))
    return _back("/admin/people", f"{action}: {key}")


def _visible_held(core: Core, viewer: Viewer) -> list[moderation.HeldMessage]:
    held = moderation.held_messages(core)
    if viewer.is_admin:
        return held
    with core.engine.connect() as conn:
        mine = set(moderated_community_ids(conn, viewer))
    # A moderator sees mail routed to their communities, and nothing that is not;
    # admin-only holds (bridge/pipeline/rules.py) are for admins' eyes only, subject included.
    return [
        h
        for h in held
        if h.community_ids and set(h.community_ids) <= mine and h.kind not in ADMIN_ONLY
    ]


@router.get("/held", response_class=HTMLResponse)
def held_page(request: Request, core: CoreDep, viewer: StaffDep) -> HTMLResponse:
    held = _visible_held(core, viewer)
    with core.engine.connect() as conn:
        names = dict(conn.execute(select(C.c.id, C.c.slug)).all())
        copies = copy_reviews.pending(conn, moderated_community_ids(conn, viewer))
    return render(
        request,
        "admin/held.html",
        viewer=viewer,
        held=held,
        copies=copies,
        names=names,
        note=request.query_params.get("note", ""),
    )


@router.post("/copies/{review_id}", response_model=None)
def copy_decision(
    request: Request,
    core: CoreDep,
    viewer: StaffDep,
    review_id: int,
    decision: str = Form(...),
) -> Response:
    """Approve or deny copies to an address an unverified message put on a thread."""
    try:
        with writer(core.engine).begin() as conn:
            mine = moderated_community_ids(conn, viewer)
            state = copy_reviews.decide(
                conn, review_id, decision, actor=_actor(viewer), community_ids=mine
            )
    except UsageError as exc:
        return _back("/admin/held", str(exc))
    return _back("/admin/held", f"Address {review_id}: {state}.")


@router.get("/held/{raw_id}", response_class=HTMLResponse)
def held_message(
    request: Request,
    core: CoreDep,
    viewer: StaffDep,
    raw_id: int,
) -> HTMLResponse:
    """One held message as text (escaped; never its HTML), to decide on it."""
    held = {h.id: h for h in _visible_held(core, viewer)}
    if raw_id not in held:
        raise HTTPException(404, NOT_FOUND_PAGE)
    with core.engine.connect() as conn:
        data = conn.execute(
            select(col(RawMessage.data)).where(col(RawMessage.id) == raw_id)
        ).scalar_one()
    try:
        parsed = parse_message(data)
        text, to = parsed.text or parsed.visible_text, [a.address for a in parsed.to]
    except Exception:  # an unparseable message still gets its decision buttons
        text, to = "(this message could not be parsed)", []
    return render(
        request, "admin/held_message.html", viewer=viewer, h=held[raw_id], text=text, to=to
    )


@router.post("/held/{raw_id}", response_model=None)
def held_decision(
    request: Request,
    core: CoreDep,
    viewer: StaffDep,
    raw_id: int,
    decision: str = Form(...),
    reason: str = Form("", max_length=2000),
) -> Response:
    if raw_id not in {h.id for h in _visible_held(core, viewer)}:
        raise HTTPException(404, NOT_FOUND_PAGE)
    try:
        state = moderation.decide(
            core,
            raw_id,
            decision,
            actor=_actor(viewer),
            actor_is_admin=viewer.is_admin,
            reason=reason,
        )
    except UsageError as exc:
        return _back("/admin/held", str(exc))
    return _back("/admin/held", f"Message {raw_id}: {state}.")


@router.get("/log", response_class=HTMLResponse)
def incoming_log(
    request: Request,
    core: CoreDep,
    viewer: AdminDep,
    state: str = Query("", max_length=16),
) -> HTMLResponse:
    with core.engine.connect() as conn:
        rows = moderation.incoming_log(conn, state=state or None)
    return render(
        request,
        "admin/log.html",
        viewer=viewer,
        rows=rows,
        state=state,
        states=[s.value for s in RawState],
        auth_summary=moderation.auth_summary,
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, core: CoreDep, viewer: AdminDep) -> HTMLResponse:
    with core.engine.connect() as conn:
        rows = admin.audit_log(conn)
    return render(request, "admin/audit.html", viewer=viewer, rows=rows)
