"""Withdrawing one's own message from the web: a confirmation page, the form, the API call.

Only a message's author (its From address is the viewer's) and admins may
withdraw it. A message the viewer may not read answers 404 like one that
does not exist; a readable message of someone else answers 403, since the
reader already knows it exists. The work itself is threads/withdraw.py.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import col

from bridge.core import Core
from bridge.i18n import N_
from threads import queries
from threads.access import Viewer
from threads.models import Community, Thread
from threads.withdraw import is_author, withdraw
from web.archive import ReaderArchive
from web.deps import CoreDep, ViewerDep
from web.reading import not_found
from web.render import render

router = APIRouter()
NOT_FOUND_MESSAGE = N_("There is no message at this address, or it is not visible to you.")
NOT_YOURS = N_("Only its author can withdraw a message.")


class WithdrawnOut(BaseModel):
    id: int
    thread_id: int
    thread_url: str | None  # None when the thread has no message left


def _readable_message(core: Core, message_pk: int, viewer: Viewer) -> Any:
    """The message as stored (who wrote it decides who may withdraw it; never shown)."""
    with ReaderArchive(core, viewer) as archive:
        row = archive.stored(queries.message_by_pk, message_pk, archive.readable)
    if row is None:
        raise not_found(NOT_FOUND_MESSAGE)
    return row


def _own_message(core: Core, message_pk: int, viewer: Viewer) -> Any:
    """The message if the viewer may withdraw it; 404 if unreadable, 403 if someone else's."""
    row = _readable_message(core, message_pk, viewer)
    if not (viewer.is_admin or is_author(row.from_addr, viewer.email)):
        raise HTTPException(403, NOT_YOURS)
    return row


def _withdraw(core: Core, message_pk: int, viewer: Viewer) -> tuple[int, str | None]:
    """Withdraw; returns the thread and the thread's address if it still has messages."""
    row = _own_message(core, message_pk, viewer)
    done = withdraw(core.engine, core.settings.attachments_dir, row.id, viewer.email or "")
    if done is None:  # withdrawn by another request in between
        raise not_found(NOT_FOUND_MESSAGE)
    with core.engine.connect() as conn:
        left = conn.execute(
            select(col(Thread.message_count)).where(col(Thread.id) == row.thread_id)
        ).scalar()
    return row.thread_id, f"/t/{row.thread_id}" if left else None


@router.get("/m/{message_pk}/withdraw", response_class=HTMLResponse)
def withdraw_page(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    message_pk: int,
) -> Response:
    """Ask before withdrawing: what happens, and what cannot be taken back (mail sent)."""
    if viewer.anonymous:
        _readable_message(core, message_pk, viewer)  # 404 first, like any other page
        return RedirectResponse(f"/login?next=/m/{message_pk}/withdraw", status_code=303)
    own = is_author(_own_message(core, message_pk, viewer).from_addr, viewer.email)
    with ReaderArchive(core, viewer) as archive:
        row = archive.message(message_pk)
        if row is None:  # withdrawn by another request in between
            raise not_found(NOT_FOUND_MESSAGE)
        subject = archive.thread(row.thread_id).subject
    return render(
        request,
        "withdraw.html",
        message=row,
        own=own,
        excerpt=(row.visible_text or "")[:400],
        thread_subject=subject,
        raw_days=core.settings.withdrawn_raw_days,
    )


@router.post("/m/{message_pk}/withdraw", response_model=None)
def withdraw_form(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    message_pk: int,
) -> Response:
    """Withdraw, then back to the thread (or its community, if nothing is left) with a notice."""
    thread_id, thread_url = _withdraw(core, message_pk, viewer)
    if thread_url is not None:
        return RedirectResponse(f"{thread_url}?withdrawn=1#m{message_pk}", status_code=303)
    with core.engine.connect() as conn:
        slug = conn.execute(
            select(col(Community.slug))
            .join(Thread, col(Thread.community_id) == col(Community.id))
            .where(col(Thread.id) == thread_id)
        ).scalar()
    return RedirectResponse(f"/c/{slug}?withdrawn=1" if slug else "/", status_code=303)


@router.post(
    "/api/messages/{message_pk}/withdraw",
    response_model=WithdrawnOut,
    tags=["api"],
    responses={403: {"description": "not the author"}, 404: {"description": "no such message"}},
)
def api_withdraw(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    message_pk: int,
) -> Any:
    """Withdraw one of the viewer's own messages (session cookie and X-CSRF-Token, as replies)."""
    thread_id, thread_url = _withdraw(core, message_pk, viewer)
    return WithdrawnOut(id=message_pk, thread_id=thread_id, thread_url=thread_url)
