"""What's new for a logged-in reader: unread counts on thread lists, where a thread opens,
and "Mark all read" on a community page.

Counts and marks go through the reader's archive (web/archive.py); marks made by
opening a thread are written in the background (threads/unread.py SeenLog), and the
ones not yet written are laid over the stored ones so the next page agrees.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from threads import unread
from threads.access import Viewer
from threads.db import writer
from web.archive import ReaderArchive
from web.deps import CoreDep, ViewerDep
from web.reading import NOT_FOUND_COMMUNITY, not_found
from web.state import seen_log_of

router = APIRouter()


def counts(request: Request, archive: ReaderArchive, thread_ids: list[int]) -> dict[int, int]:
    """Unread messages per listed thread for the viewer; empty for an anonymous one."""
    viewer = archive.viewer
    if viewer.person_id is None or not thread_ids:
        return {}
    return archive.unread(thread_ids, seen_log_of(request).pending(viewer.person_id))


def opened(
    request: Request,
    viewer: Viewer,
    thread_id: int,
    shown: Sequence[tuple[int, int, bool]],
    stored: int | None,
) -> int | None:
    """The viewer opens a thread showing `shown` ((pk, arrival, withdrawn) of every
    message), having read it up to `stored` (ReaderArchive.seen_mark): the pk of the first
    message they have not seen (None: never opened or nothing new); their mark moves to
    the newest arrival."""
    if viewer.person_id is None or not shown:
        return None
    log = seen_log_of(request)
    waiting = log.pending(viewer.person_id).get(thread_id)
    marks = [m for m in (stored, waiting) if m is not None]
    log.add(viewer.person_id, thread_id, max(arrival for _, arrival, _ in shown))
    return unread.first_unread(shown, max(marks) if marks else None)


@router.post("/c/{slug}/read", response_model=None)
def mark_all_read(core: CoreDep, viewer: ViewerDep, slug: str) -> RedirectResponse:
    """Every thread of the community read up to its newest message; back to the page."""
    with ReaderArchive(core, viewer) as archive:
        row = archive.community(slug)
    if row is None or viewer.person_id is None:
        raise not_found(NOT_FOUND_COMMUNITY)
    with writer(core.engine).begin() as conn:
        unread.mark_community_read(conn, viewer.person_id, row.id)
    return RedirectResponse(f"/c/{slug}?read=1", status_code=303)
