"""The typed dependencies every route declares: the core, the viewer, and who may enter.

A route names what it needs in its signature, once and typed:

    def page(request: Request, core: CoreDep, viewer: ViewerDep) -> HTMLResponse: ...

- `CoreDep`: the process's core (settings, engine, pipeline), from web/state.py.
- `ViewerDep`: the request's viewer, anonymous or a person (web/viewer.py);
  tests replace it with `app.dependency_overrides[current_viewer]`.
- `AdminDep`: the viewer if a bridge admin; anyone else gets the 404 of a page
  that does not exist (the admin side does not announce itself).
- `StaffDep`: admins and the moderators of at least one community, same 404.
- `OutboxAdminDep`: `AdminDep` for the outbox pages, whose 404 has always
  said "There is nothing here."
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from bridge.core import Core
from bridge.i18n import N_
from threads.access import Viewer, moderated_community_ids
from web.state import core_of
from web.viewer import current_viewer

NOT_FOUND_PAGE = N_("There is no page at this address.")


async def _core(request: Request) -> Core:
    # async: FastAPI runs a plain-def dependency on a worker thread, and the web's few
    # worker threads (BRIDGE_WEB_THREADS) are for pages, not for reading an attribute.
    return core_of(request)


CoreDep = Annotated[Core, Depends(_core)]
ViewerDep = Annotated[Viewer, Depends(current_viewer)]


def admins_only(message: str) -> Callable[[Viewer], Awaitable[Viewer]]:
    """A dependency: the viewer if an admin; otherwise 404 with `message`, like a missing page."""

    async def admin(viewer: ViewerDep) -> Viewer:  # async: no database, no worker thread
        if not viewer.is_admin:
            raise HTTPException(404, message)
        return viewer

    return admin


def staff(core: CoreDep, viewer: ViewerDep) -> Viewer:
    """Admins, and moderators of at least one community; anyone else a missing page."""
    if viewer.is_admin:
        return viewer
    with core.engine.connect() as conn:
        if viewer.anonymous or not moderated_community_ids(conn, viewer):
            raise HTTPException(404, NOT_FOUND_PAGE)
    return viewer


AdminDep = Annotated[Viewer, Depends(admins_only(NOT_FOUND_PAGE))]
OutboxAdminDep = Annotated[Viewer, Depends(admins_only("There is nothing here."))]
StaffDep = Annotated[Viewer, Depends(staff)]
