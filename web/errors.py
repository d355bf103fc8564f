"""The web's boundary: every error a route lets escape is answered here, and only here.

`install(app, cookies)` registers the handlers: an error page for pages, and
`{"detail": ...}` JSON under /api (web/api.py `error_response`). The error tree
(bridge/errors.py draws it) maps to statuses in `ANSWERS`; classes that only
ever live inside the bridge (a delivery result, the pipeline's signals, DNS)
are `INTERNAL` and, should one escape, answered like any bug: 500, logged, no
traceback shown. Routes raise these errors (or HTTPException with a message of
their own) and leave the wording of the status to this module.

Forms that go back to their page with a message (the admin pages' UsageError,
the thread page's PostRefused with the reply kept) answer in the route: the
person stays where they were, which no error page can do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response as BaseResponse

from bridge.errors import (
    BridgeError,
    ConfigError,
    DeliveryError,
    Held,
    Isolate,
    PostRefused,
    UsageError,
)
from bridge.i18n import N_
from mail.errors import (
    BadArchive,
    DmarcPermError,
    DNSTempError,
    InvalidInput,
    LeaseLost,
    LoginRefused,
    MailError,
    OAuthError,
    SigningKeyError,
    TokenError,
    TokenExpired,
    UnsignableMessage,
)
from threads.errors import DuplicateMessage, InvalidAddress, ThreadsError
from web.api import error_response as api_error
from web.render import render
from web.security import CookieNames, protect

log = logging.getLogger(__name__)

ROOTS = (BridgeError, MailError, ThreadsError)
SERVER_ERROR = N_("Something went wrong on our side; it has been logged.")
# The texts Starlette gives its own HTTP errors (an unknown address, a wrong method),
# marked so the error page can show them in the reader's language.
STARLETTE_DETAILS = (N_("Not Found"), N_("Method Not Allowed"))


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    message: str = ""  # empty: the error's own text, written for the person

    def text(self, error: Exception) -> str:
        return self.message or str(error)


ANSWERS: dict[type[Exception], Answer] = {
    UsageError: Answer(400),
    PostRefused: Answer(400),
    InvalidInput: Answer(400),
    InvalidAddress: Answer(400),
    Held: Answer(409),
    DuplicateMessage: Answer(409, N_("That message is already here.")),
    TokenExpired: Answer(410, N_("This link has expired.")),
    TokenError: Answer(404, N_("This link is not valid.")),
}
# Never meant to reach a person: answered 500 and logged, like a bug.
INTERNAL: tuple[type[Exception], ...] = (
    ConfigError,  # the operator's settings, found at start; a page cannot help
    DeliveryError,
    Isolate,
    BadArchive,
    LeaseLost,
    OAuthError,
    LoginRefused,
    SigningKeyError,
    UnsignableMessage,
    DNSTempError,
    DmarcPermError,
)
TITLES = {
    400: N_("That request could not be read"),
    404: N_("Not found"),
    409: N_("Already done"),
    410: N_("This link has expired"),
    422: N_("Invalid input"),
}


def answer_for(error: Exception) -> Answer | None:
    """The answer to an error of the tree; None for an internal one (or a bug)."""
    for cls in type(error).__mro__:
        if cls in ANSWERS:
            return ANSWERS[cls]
        if cls in INTERNAL:
            return None
    return None


def install(app: FastAPI, cookies: CookieNames) -> None:
    """Register the app's error handlers: HTTP errors, bad input, the tree, the rest."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> BaseResponse:
        answer = _respond(request, exc.status_code, str(exc.detail), exc.headers)
        if exc.headers:  # WWW-Authenticate on a 401, Allow on a 405
            answer.headers.update(exc.headers)
        return answer

    @app.exception_handler(RequestValidationError)
    async def bad_input(request: Request, exc: RequestValidationError) -> BaseResponse:
        fields = ", ".join(str(e["loc"][-1]) for e in exc.errors())
        return _respond(request, 400, f"Please check these parts of the address: {fields}.")

    async def tree_error(request: Request, exc: Exception) -> BaseResponse:
        found = answer_for(exc)
        if found is None:
            log.error("error serving %s", request.url.path, exc_info=exc)
            return _respond(request, 500, SERVER_ERROR)
        return _respond(request, found.status, found.text(exc))

    for root in ROOTS:
        app.add_exception_handler(root, tree_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> HTMLResponse:
        log.error("error serving %s", request.url.path, exc_info=exc)
        page = error_page(request, 500, SERVER_ERROR)
        # Starlette sends this answer from outside every middleware, so the
        # security middleware never sees it: its headers are added here.
        protect(page.headers, request.scope, cookies)
        return page


def _respond(
    request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
) -> BaseResponse:
    return api_error(request, status, message, headers) or error_page(request, status, message)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    title = TITLES.get(status, "Error")
    return render(request, "error.html", status=status, title=title, message=message)
