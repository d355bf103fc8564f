"""HTML pages: communities, a community's threads, a thread, search."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from threads import queries, search

router = APIRouter()
PAGE_SIZE = 30


def _render(request: Request, name: str, **context: Any) -> HTMLResponse:
    return request.app.state.templates.TemplateResponse(request, name, context)


def _conn(request: Request) -> Any:
    return request.app.state.core.engine.connect()


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    with _conn(request) as conn:
        communities = queries.communities(conn)
    return _render(request, "home.html", communities=communities)


@router.get("/c/{slug}", response_class=HTMLResponse)
def community(request: Request, slug: str, page: int = Query(1, ge=1, le=100_000)) -> HTMLResponse:
    with _conn(request) as conn:
        row = queries.community_by_slug(conn, slug)
        if row is None:
            raise HTTPException(404, "There is no community at this address.")
        threads, total = queries.threads_page(
            conn, row.id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
    pages = max(1, -(-total // PAGE_SIZE))
    return _render(
        request,
        "community.html",
        community=row,
        threads=threads,
        page=page,
        pages=pages,
        total=total,
    )


@router.get("/t/{thread_id}", response_class=HTMLResponse)
def thread(request: Request, thread_id: int) -> HTMLResponse:
    with _conn(request) as conn:
        row = queries.thread_by_id(conn, thread_id)
        if row is None:
            raise HTTPException(404, "There is no thread at this address.")
        messages = queries.thread_messages(conn, thread_id)
    people = {m.from_addr: m.from_name or m.from_addr for m in messages}
    return _render(request, "thread.html", thread=row, messages=messages, people=people)


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, q: str = Query("", max_length=500)) -> HTMLResponse:
    parsed = search.parse_query(q)
    hits: list[search.Hit] = []
    if not parsed.empty:
        with _conn(request) as conn:
            hits = search.search(conn, parsed, limit=50)
    return _render(request, "search.html", q=q, hits=hits, empty=parsed.empty)
