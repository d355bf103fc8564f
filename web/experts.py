"""Who knows X: the /experts page, its JSON twin under /api, and the /me opt-out.

Both read through web/archive.py (`ReaderArchive.experts`), so only threads
the viewer may read count, outsiders are named without their address, and
people who opted out are never listed. `community` narrows the question to
one readable community; an unreadable or unknown one answers 404 like a
missing community.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from bridge.core import Core
from threads import expert_reads
from threads.access import Viewer
from threads.db import writer
from web.archive import ReaderArchive
from web.deps import CoreDep, ViewerDep
from web.reading import NOT_FOUND_COMMUNITY, not_found
from web.render import render

router = APIRouter()
MAX_LIMIT = 50


def _experts(
    core: Core, viewer: Viewer, q: str, community: str, limit: int
) -> tuple[expert_reads.ExpertResults, Any]:
    with ReaderArchive(core, viewer) as archive:
        row = archive.community(community) if community else None
        if community and row is None:
            raise not_found(NOT_FOUND_COMMUNITY)
        found = archive.experts(q, community_id=row.id if row else None, limit=limit)
    return found, row


@router.get("/experts", response_class=HTMLResponse)
def experts_page(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    q: str = Query("", max_length=1000),
    community: str = Query("", max_length=64),
) -> HTMLResponse:
    """People who wrote, in the discussions the viewer may read, about the question."""
    found, row = _experts(core, viewer, q, community, 10)
    return render(request, "experts.html", ask=q, found=found, community=row, viewer=viewer)


class ExpertOut(BaseModel):
    name: str
    address: str | None = Field(
        None, description="absent for people whose address the viewer may not see"
    )
    score: float
    threads: list[int] = Field(description="the readable threads that earned it, best first")
    last_active: datetime | None


class ExpertsOut(BaseModel):
    query: str
    terms: list[str] = Field(description="the question's topic words")
    expanded: list[str] = Field(description="companion words learnt from the found threads")
    people: list[ExpertOut]


@router.get("/api/experts", response_model=ExpertsOut, tags=["api"])
def api_experts(
    core: CoreDep,
    viewer: ViewerDep,
    q: str = Query("", max_length=1000),
    community: str = Query("", max_length=64),
    limit: int = Query(10, ge=1, le=MAX_LIMIT),
) -> Any:
    """Who knows about `q`: people ranked by their own words in the threads one may read."""
    found, _ = _experts(core, viewer, q, community, limit)
    return ExpertsOut(
        query=found.query,
        terms=list(found.terms),
        expanded=list(found.expanded),
        people=[ExpertOut(**p.to_json()) for p in found.people],
    )


@router.post("/me/experts", response_model=None)
def set_listed(core: CoreDep, viewer: ViewerDep, listed: str = Form("", max_length=8)) -> Response:
    """The logged-in person chooses whether "who knows X" may list them."""
    if viewer.anonymous or viewer.email is None:
        return RedirectResponse("/login?next=/me", status_code=303)
    with writer(core.engine).begin() as conn:
        expert_reads.set_listed(conn, viewer.email, listed == "1")
    return RedirectResponse("/me", status_code=303)
