"""One way to answer with an HTML page: a Jinja2 template, its context, a status, headers.

Every page of web/ (reader pages, admin, login, consent, unsubscribe, error
pages) is rendered here, with the templates `create_app` configured:
autoescaping on, and the globals and filters the templates share. Each page is
written in the request's language (web/language.py `locale_of`), which it names in
Content-Language; since the browser's Accept-Language chooses it, caches must vary on it.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from bridge.i18n import html_tag
from web.i18n import CONTEXT_KEY, locale_of
from web.state import templates_of


def render(
    request: Request,
    name: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The template `name` (a path under templates/) rendered with `context`."""
    locale = locale_of(request)
    context[CONTEXT_KEY] = locale
    headers = {"Content-Language": html_tag(locale), "Vary": "Accept-Language, Cookie"} | (
        headers or {}
    )
    response: HTMLResponse = templates_of(request).TemplateResponse(
        request, name, context, status_code=status, headers=headers
    )
    return response
