"""The language of a request's pages, and the templates' i18n in that language.

`locale_of(request)` decides once per request, first answer wins:
1. the logged-in person's saved choice (`person.locale`),
2. the `bridge_lang` cookie the switch sets (web/language.py; anonymous readers),
3. the browser's Accept-Language, matched by Babel (bridge/i18n.py `negotiate`),
4. English.
Every value is matched against the shipped locales (bridge/i18n.py `known`), so a
forged cookie or header only ever falls back; none is echoed into a page.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from sqlalchemy import select

from bridge.i18n import (
    LOCALES,
    SOURCE,
    format_number,
    format_share,
    format_when,
    html_tag,
    known,
    language_name,
    negotiate,
    preferred_languages,
    text_direction,
    translations,
)
from threads.models import Person
from web.state import cookies_of, core_of
from web.viewer import current_viewer

P = Person.__table__
CONTEXT_KEY = "i18n_locale"  # the template variable render() sets to the page's locale


def locale_of(request: Request) -> str:
    """The locale this request's pages are written in (see the module docstring)."""
    cached = getattr(request.state, "locale", None)
    if isinstance(cached, str):
        return cached
    code = (
        _saved_choice(request)
        or known(request.cookies.get(cookies_of(request).lang))
        or negotiate(preferred_languages(request.headers.get("accept-language")))
        or SOURCE
    )
    request.state.locale = code
    return code


def _saved_choice(request: Request) -> str | None:
    viewer = current_viewer(request)
    if viewer.person_id is None or viewer.anonymous:
        return None
    with core_of(request).engine.connect() as conn:
        saved = conn.execute(select(P.c.locale).where(P.c.id == viewer.person_id)).scalar()
    return known(saved)


def _code(context: Context) -> str:
    return known(context.get(CONTEXT_KEY)) or SOURCE


@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(_code(context)).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return translations(_code(context)).ngettext(singular, plural, n)


@pass_context
def _when(context: Context, value: Any, style: str = "minutes") -> str:
    """A stored date and time in the page's locale; "" for none (the markup keeps ISO 8601)."""
    return format_when(value, _code(context), style) if value else ""


@pass_context
def _number(context: Context, value: Any) -> str:
    return format_number(value, _code(context)) if value is not None else ""


@pass_context
def _percent(context: Context, value: Any) -> str:
    return format_share(value, _code(context)) if value is not None else ""


LANGUAGES = [(code, language_name(code)) for code in LOCALES]


def install(env: Environment) -> None:
    """Jinja2's i18n extension with per-page catalogues, and the locale's formats.

    The catalogue is looked up per render from the page's locale (render() puts it
    in the context), so one environment serves every language; that is why the
    callables are installed rather than one `Translations` object. Newstyle gettext:
    `_("%(n)s messages", n=3)` checks its placeholders and escapes their values.
    Templates that show a message chosen in Python (an error's text) use
    `translate(message)`, plain gettext with no formatting.
    """
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the extension
        _gettext, _ngettext, newstyle=True
    )
    env.globals["translate"] = _gettext
    env.globals["languages"] = LANGUAGES
    env.globals["html_tag"] = html_tag
    env.globals["text_direction"] = text_direction
    env.filters["when"] = _when
    env.filters["number"] = _number
    env.filters["percent"] = _percent
