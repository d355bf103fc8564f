"""The FastAPI application: server-rendered pages over the archive.

`create_app(core)` builds it from the process's core (settings, engine) and
keeps it on `app.state`, which only web/state.py reads back; routes receive it
typed, as `core: CoreDep` (web/deps.py).
Sender-controlled text is only ever rendered through Jinja2's autoescaping,
and every response carries a strict Content-Security-Policy (web/security.py,
with CSRF). Who the viewer is comes from web/viewer.py; what they may read
from threads/access.py, inside every query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from anyio import to_thread
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.core import Core
from bridge.i18n import N_
from bridge.metrics import Metrics
from mail.blocks import diff_line_kind, text_blocks
from threads import reach
from threads.unread import SeenLog
from web import admin as admin_pages
from web import (
    auth,
    consent,
    docs,
    errors,
    experts,
    i18n,
    insights,
    language,
    oidc,
    ops,
    outbox,
    pages,
    token_pages,
    unread,
    unsubscribe,
)
from web.api import router as api_router
from web.attachments import router as attachments_router
from web.discussion import router as discussion_router
from web.feeds import router as feeds_router
from web.security import CSP, CookieNames, SecurityMiddleware, csrf_token
from web.viewer import current_viewer
from web.withdraw import router as withdraw_router

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
__all__ = ["CSP", "create_app"]


def create_app(core: Core, metrics: Metrics | None = None) -> FastAPI:
    reads = reach.ReadLog(core.engine)  # first reads, written in batches
    seen = SeenLog(core.engine)  # how far each reader has read, written in batches
    # The process's metrics (bridge serve shares them with the SMTP listener).
    metrics = metrics or Metrics(core.engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Pages are rendered on worker threads that share one interpreter lock: past
        # two at once (one in the database while one runs Python) more threads only
        # slow every page down; requests beyond that wait their turn in order.
        to_thread.current_default_thread_limiter().total_tokens = core.settings.web_threads
        yield
        reads.close()  # the last batch, when the server stops
        seen.close()

    app = FastAPI(
        title="Commons Bridge",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(_addresses_in_range)],
        lifespan=lifespan,
    )
    templates = Jinja2Templates(directory=TEMPLATES)
    i18n.install(templates.env)  # gettext, `when` and `number` in the page's locale
    templates.env.filters["marks"] = _marks
    templates.env.globals["text_blocks"] = text_blocks
    templates.env.globals["diff_line_kind"] = diff_line_kind
    templates.env.globals["csrf_token"] = csrf_token
    templates.env.globals["current_viewer"] = current_viewer
    templates.env.globals["feed_link"] = token_pages.feed_link  # with the reader's feed token
    templates.env.globals["consent_waiting"] = consent.waiting_count  # the header's "Cc threads"
    app.state.core = core
    app.state.reads = reads
    app.state.seen = seen
    app.state.metrics = metrics
    # Cookies are Secure (and __Host- prefixed) when the bridge is reached over https.
    cookies = CookieNames(secure=core.settings.web_base_url.startswith("https://"))
    app.state.cookies = cookies
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=TEMPLATES / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(unread.router)  # "Mark all read" on a community page
    app.include_router(attachments_router)  # downloads, and message HTML in a sandboxed frame
    app.include_router(feeds_router)  # Atom feeds and mbox downloads
    app.include_router(api_router)  # JSON under /api
    app.include_router(unsubscribe.router)  # mailed unsubscribe/mute links (no login)
    app.include_router(outbox.router)  # admin: outgoing mail and bounced addresses
    app.include_router(auth.router)  # /login, the magic link, /logout
    app.include_router(token_pages.router)  # a reader's API and feed tokens on /me
    app.include_router(oidc.router)  # optional single sign-on (BRIDGE_OIDC_ISSUER)
    app.include_router(admin_pages.router)  # admin and moderation under /admin
    app.include_router(consent.router)  # nudge links and a participant's candidates
    app.include_router(insights.router)  # the managers' page
    app.include_router(experts.router)  # who knows X: page, API, the /me opt-out
    app.include_router(discussion_router)  # start a discussion: /c/{slug}/new
    app.include_router(withdraw_router)  # an author withdraws a message (page, form, API)
    app.include_router(language.router)  # the footer's language switch
    app.include_router(ops.router)  # /healthz, /readyz, /metrics
    app.include_router(docs.router)  # /docs: Swagger UI over /api/openapi.json
    # Innermost, so it sees the route the router matched (its template labels the figure).
    app.add_middleware(ops.RequestTimer, metrics=metrics)
    # CSRF on every state-changing request and the security headers on every answer.
    app.add_middleware(SecurityMiddleware, secret=core.settings.secret_key, cookies=cookies)
    app.add_middleware(_DropNulFromQuery)

    errors.install(app, cookies)  # every error a route lets escape: web/errors.py
    return app


class _DropNulFromQuery:
    """Removes %00 from query strings: a NUL means nothing there, and PostgreSQL text
    cannot hold one, so a search or filter with it would otherwise fail."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and b"%00" in scope.get("query_string", b""):
            scope = {**scope, "query_string": scope["query_string"].replace(b"%00", b"")}
        await self.app(scope, receive, send)


# Row ids are INTEGER columns: 32-bit on PostgreSQL, which refuses a larger
# parameter ("integer out of range"); SQLite refuses anything beyond 64 bits.
MAX_ROW_ID = 2**31 - 1


def _addresses_in_range(request: Request) -> None:
    """Path and query values no database can hold get a clear answer, not a server error.

    A number beyond any row id, or a NUL character (PostgreSQL text cannot hold
    one), names nothing that can exist: 404, like a row that does not.
    """
    for value in request.path_params.values():
        if not isinstance(value, str):
            continue
        number = value.removeprefix("-")
        digits = number.isascii() and number.isdigit()
        if "\x00" in value or (digits and int(number) > MAX_ROW_ID):
            raise HTTPException(404, N_("There is nothing at this address."))


def _marks(snippet: str) -> Markup:
    """Escape a search snippet, then turn the engine's match markers into <mark>."""
    # Safe: the text is escaped first; only our own control-character markers become tags.
    marked = str(escape(snippet)).replace("\x02", "<mark>").replace("\x03", "</mark>")
    return Markup(marked)  # noqa: S704
