"""What every reading route shares: a connection, the viewer's readable communities, rendering.

Routes take `viewer: Viewer = Depends(current_viewer)` and pass
`readable(conn, viewer)` into every query, so access is decided inside the
query and a thread one may not read answers 404 exactly like a missing one.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection

from threads import queries
from threads.access import Viewer, readable_community_ids

PAGE_SIZE = 30
NOT_FOUND_THREAD = "There is no thread at this address, or it is not visible to you."
NOT_FOUND_COMMUNITY = "There is no community at this address, or it is not visible to you."


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
