"""Starting a discussion on the web: the form on /c/{slug}/new and what it files.

Who may start one is who may reply (threads/access.py `may_post`); the post
itself is composed and filed by bridge/posting.py like any message, then
mailed by the sender role. A reader who may not post gets 403 and no form; a
community they may not read is 404 like a missing one; an anonymous visitor
is sent to log in. A refused post comes back to the form with what was typed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bridge.core import Core
from bridge.errors import PostRefused
from bridge.i18n import N_
from bridge.posting import MAX_BODY, MAX_SUBJECT, Upload, person_name, post_discussion
from threads.access import Viewer, may_post
from web.archive import ReaderArchive
from web.deps import CoreDep, ViewerDep
from web.reading import NOT_FOUND_COMMUNITY, not_found
from web.render import render

router = APIRouter()
MAY_NOT_POST = N_("You may read this community but not start discussions in it.")


def postable_community(core: Core, viewer: Viewer, slug: str) -> Any:
    """The community the viewer may start a discussion in; 404, 403 (HTTPException) else."""
    with ReaderArchive(core, viewer) as archive:
        row = archive.community(slug)
        if row is None:
            raise not_found(NOT_FOUND_COMMUNITY)
        if not viewer.anonymous and not may_post(archive.conn, viewer, row.id):
            raise HTTPException(403, MAY_NOT_POST)
    return row


def _form(request: Request, community: Any, **context: Any) -> HTMLResponse:
    return render(
        request,
        "new_discussion.html",
        status=400 if context.get("error") else 200,
        community=community,
        max_subject=MAX_SUBJECT,
        max_body=MAX_BODY,
        **context,
    )


@router.get("/c/{slug}/new", response_class=HTMLResponse, response_model=None)
def new_discussion(request: Request, core: CoreDep, viewer: ViewerDep, slug: str) -> Response:
    """The form: subject, text, files."""
    community = postable_community(core, viewer, slug)
    if viewer.anonymous:
        return RedirectResponse(f"/login?next=/c/{community.slug}/new", status_code=303)
    return _form(request, community, subject="", body="", error="")


@router.post("/c/{slug}/new", response_model=None)
def start_discussion(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    slug: str,
    subject: str = Form("", max_length=10_000),
    body: str = Form("", max_length=400_000),
    # A file input left empty arrives as an empty file, or from some clients as "".
    files: Annotated[list[UploadFile | str] | None, File()] = None,
) -> Response:
    """File the new thread through the pipeline, then open it."""
    community = postable_community(core, viewer, slug)
    if viewer.anonymous:
        return RedirectResponse(f"/login?next=/c/{community.slug}/new", status_code=303)
    uploads = [
        Upload(f.filename or "", f.content_type or "", f.file.read())
        for f in files or []
        if not isinstance(f, str) and (f.filename or f.size)
    ]
    try:
        thread_id, pk = post_discussion(
            core, viewer, community.id, subject, body, uploads, name=person_name(core, viewer.email)
        )
    except PostRefused as exc:
        return _form(request, community, subject=subject, body=body, error=str(exc))
    return RedirectResponse(f"/t/{thread_id}#m{pk}", status_code=303)
