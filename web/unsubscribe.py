"""Unsubscribe and mute from a mailed link: no login, the signed token in the address decides.

Every message we mail carries `List-Unsubscribe: <mailto:…>, <https://…/unsubscribe/TOKEN>`
and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058). A mail
provider's unsubscribe button POSTs `List-Unsubscribe=One-Click` to the link:
that stops all mail from the community to the address (web only), with no
page and no questions. A person who follows the link gets a page that says
what they receive and offers the finer choices: mute the thread, a daily
digest, every message, or none. GET never changes anything, because link
scanners and previewers fetch mailed links.

The token (mail/tokens.py) names the address, community and thread; holding
the mail is what authorises the change, as everywhere else in list mail.

A signed-in reader can also watch a thread (mail about it without being on
cc), mute it, or go back to the default, with `POST /t/{id}/mail`; and a
member of a community chooses its mail at `/c/{slug}/mail`: every message, a
daily digest, or web only (only members: the whole community's mail goes to
no one who might not read it).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import col

from bridge.core import Core
from bridge.i18n import N_
from mail.tokens import UnsubscribeClaim, verify_unsubscribe_token
from threads import outbound
from threads.access import Viewer, may_read_community, role_in
from threads.db import writer
from threads.models import Community, Thread
from web.archive import ReaderArchive
from web.deps import CoreDep, ViewerDep
from web.render import render
from web.viewer import current_viewer

router = APIRouter()
ACTIONS = {
    "mute": N_("You will get no more mail about this thread."),
    "unmute": N_("You will get mail about this thread again."),
    "web": N_(
        "You will get no more mail from this community. Everything stays readable on the web."
    ),
    "digest": N_("You will get one digest a day from this community."),
    "each": N_("You will get every message of this community by mail."),
}


def _claim(core: Core, token: str) -> UnsubscribeClaim:
    """The link's claim; a TokenError is answered 404 "not valid" (web/errors.py)."""
    return verify_unsubscribe_token(core.settings.secret_key, token)


def _state(request: Request, core: Core, claim: UnsubscribeClaim) -> dict[str, Any]:
    with core.engine.connect() as conn:
        community = conn.execute(
            select(col(Community.name)).where(col(Community.id) == claim.community_id)
        ).scalar()
        if community is None:
            raise HTTPException(404, N_("This unsubscribe link is not valid."))
        thread = None
        choice = None
        if claim.thread_id is not None:
            # The link is the permission; the viewer, if any, only decides what is redacted.
            with ReaderArchive(core, current_viewer(request)) as archive:
                thread = archive.linked_thread_subject(claim.thread_id)
            choice = outbound.thread_choice(conn, claim.thread_id, claim.address)
        mode = outbound.preferences(conn, [(claim.community_id, claim.address)]).get(
            (claim.community_id, claim.address), "each"
        )
    return {
        "address": claim.address,
        "community": community,
        "thread": thread,
        "muted": choice == "muted",
        "mode": mode,
    }


def _apply(core: Core, claim: UnsubscribeClaim, action: str) -> None:
    with writer(core.engine).begin() as conn:
        if action in ("mute", "unmute"):
            if claim.thread_id is None:
                raise HTTPException(400, N_("This link is not about one thread."))
            state = "muted" if action == "mute" else None
            outbound.set_thread_choice(conn, claim.thread_id, claim.address, state)
        else:
            outbound.set_preference(conn, claim.community_id, claim.address, action)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, core: CoreDep, token: str, do: str = "") -> Response:
    claim = _claim(core, token)
    context = _state(request, core, claim)
    return render(
        request,
        "unsubscribe.html",
        **context,
        token=token,
        suggest=do if do in ACTIONS else "",
        done="",
    )


@router.post("/unsubscribe/{token}", response_model=None)
async def unsubscribe(request: Request, core: CoreDep, token: str) -> Response:
    claim = _claim(core, token)
    form = await request.form()
    if form.get("List-Unsubscribe") == "One-Click":
        # RFC 8058 section 3.1: the POST carries only this; answer without a page.
        _apply(core, claim, "web")
        return PlainTextResponse("Unsubscribed.\n")
    action = str(form.get("action", ""))
    if action not in ACTIONS:
        raise HTTPException(400, N_("Please choose one of the options on the page."))
    _apply(core, claim, action)
    context = _state(request, core, claim)
    return render(
        request, "unsubscribe.html", **context, token=token, suggest="", done=ACTIONS[action]
    )


THREAD_CHOICES = {"watch": "watching", "mute": "muted", "default": None}


@router.post("/t/{thread_id}/mail", response_model=None)
def thread_mail_choice(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    thread_id: int,
    action: str = Form(...),
) -> Response:
    """Watch, mute or reset one thread's mail for the signed-in viewer; back to the thread."""
    if action not in THREAD_CHOICES:
        raise HTTPException(400, N_("Please choose watch, mute or default."))
    with writer(core.engine).begin() as conn:
        community_id = conn.execute(
            select(col(Thread.community_id)).where(col(Thread.id) == thread_id)
        ).scalar()
        if (
            viewer.email is None
            or community_id is None
            or not may_read_community(conn, viewer, community_id)
        ):
            raise HTTPException(404, N_("There is no such thread."))
        outbound.set_thread_choice(conn, thread_id, viewer.email, THREAD_CHOICES[action])
    return RedirectResponse(f"/t/{thread_id}", status_code=303)


COMMUNITY_MODES = {
    "each": N_("every message of the community by mail"),
    "digest": N_("one digest a day"),
    "web": N_("no mail from the community, except about threads you take part in"),
}


def _member_community(core: Core, slug: str, viewer: Viewer) -> tuple[int, str]:
    with core.engine.connect() as conn:
        row = conn.execute(
            select(col(Community.id), col(Community.name)).where(col(Community.slug) == slug)
        ).first()
        if row is None or viewer.email is None or not may_read_community(conn, viewer, row.id):
            raise HTTPException(404, N_("There is no such community."))
        if role_in(conn, viewer, row.id) is None:
            raise HTTPException(403, N_("Only members choose a community's mail; ask a moderator."))
    return row.id, row.name


@router.get("/c/{slug}/mail", response_class=HTMLResponse)
def community_mail_page(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    slug: str,
) -> Response:
    community_id, name = _member_community(core, slug, viewer)
    assert viewer.email is not None
    with core.engine.connect() as conn:
        mode = outbound.preferences(conn, [(community_id, viewer.email)]).get(
            (community_id, viewer.email), "web"
        )
    return render(
        request,
        "community_mail.html",
        slug=slug,
        community=name,
        mode=mode,
        modes=COMMUNITY_MODES,
        done="",
    )


@router.post("/c/{slug}/mail", response_model=None)
def community_mail(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    slug: str,
    mode: str = Form(...),
) -> Response:
    community_id, _name = _member_community(core, slug, viewer)
    if mode not in COMMUNITY_MODES:
        raise HTTPException(400, N_("Please choose one of the options on the page."))
    assert viewer.email is not None
    with writer(core.engine).begin() as conn:
        outbound.set_preference(conn, community_id, viewer.email, mode)
    return RedirectResponse(f"/c/{slug}/mail", status_code=303)
