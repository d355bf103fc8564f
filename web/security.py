"""Browser-facing security for every request: cookies, CSRF, and the protective headers.

`SecurityMiddleware` wraps the whole app (pure ASGI, so it sees every route,
mounted apps and routes other modules add later alike):

- **CSRF.** Every POST, PUT, PATCH and DELETE must carry the token of the
  browser's session, as the form field `csrf_token` or the header
  `X-CSRF-Token`; otherwise it is answered 403 before any route runs.
  Forms write `<input type="hidden" name="csrf_token" value="{{ csrf_token(request) }}">`.
  The token is an HMAC of the session id (logged in) or of the browser's
  random nonce (anonymous), so it cannot be forged without the secret key
  and is useless in another browser. A browser with a session cookie is held
  to the session's token alone, and every login (`start_session`, whichever
  route calls it) draws a new session id and a new browser nonce: a token
  seen before login, which someone may have planted or read, is refused
  afterwards, even once that session has ended (OWASP's rule to renew
  tokens when privileges change).
  API requests with an `Authorization: Bearer` token are exempt: the token,
  not a cookie, names the viewer (web/bearer.py says why that is safe).
  Paths in `CSRF_EXEMPT` are authorised by a signed token in the address
  instead of a cookie (RFC 8058 one-click unsubscribe, POSTed by mail
  providers that have no cookie and cannot carry our token).
- **Headers** on every answer, error pages included: a strict
  Content-Security-Policy (nothing inline, nothing remote, no framing),
  X-Content-Type-Options, X-Frame-Options, Referrer-Policy, no caching
  of pages seen by a logged-in browser, and, when the public URL is https,
  Strict-Transport-Security (RFC 6797) so that a browser that has been here
  once never again sends a request, or a cookie, over plain http.
- **Cookies.** The browser nonce (`bridge_browser`) and the session
  (`bridge_session`, the signed session id) are HttpOnly, SameSite=Lax, and
  Secure with the `__Host-` prefix when the public URL is https.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

from fastapi import Request
from markupsafe import escape
from starlette.datastructures import MutableHeaders

from bridge.i18n import (
    SOURCE,
    gettext_for,
    html_tag,
    known,
    negotiate,
    preferred_languages,
    text_direction,
)
from web.bearer import carries_bearer
from web.state import cookies_of, core_of

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# A year, the usual minimum for browsers' preload lists; subdomains too, since a
# cookie set by a plain-http subdomain could otherwise shadow ours.
HSTS = "max-age=31536000; includeSubDomains"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Authorised by a signed token in the path, not by the browser's cookies (see above).
CSRF_EXEMPT = ("/unsubscribe/",)
MAX_FORM_BYTES = 30 * 1024 * 1024
BROWSER_COOKIE_SECONDS = 400 * 86400  # the longest lifetime browsers honour (RFC 6265bis)


class CookieNames:
    """Cookie names and attributes for one deployment (https or not)."""

    def __init__(self, secure: bool) -> None:
        prefix = "__Host-" if secure else ""
        self.secure = secure
        self.browser = f"{prefix}bridge_browser"
        self.session = f"{prefix}bridge_session"
        self.lang = f"{prefix}bridge_lang"  # an anonymous reader's chosen language

    def header(self, name: str, value: str, max_age: int) -> str:
        parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)


def _sign(secret: str, purpose: str, value: str) -> str:
    mac = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256)
    return mac.hexdigest()[:40]


def sign(secret: str, purpose: str, value: str) -> str:
    """An HMAC of `value` for one purpose (a value signed for one cannot pass for another)."""
    return _sign(secret, purpose, value)


def sign_session(secret: str, sid: str) -> str:
    return f"{sid}.{_sign(secret, 'session', sid)}"


def unsign_session(secret: str, cookie: str | None) -> str | None:
    """The session id of a cookie value, or None if it was not signed by us."""
    if not cookie or "." not in cookie:
        return None
    sid, mac = cookie.rsplit(".", 1)
    return sid if hmac.compare_digest(mac, _sign(secret, "session", sid)) else None


def digest(value: str) -> str:
    """What the database keeps of a secret (session id, browser nonce, login token)."""
    return hashlib.sha256(value.encode()).hexdigest()


def _state(scope: Scope) -> dict[str, Any]:
    return scope.setdefault("state", {})


def _cookies(scope: Scope) -> dict[str, str]:
    header = next((v for k, v in scope.get("headers", []) if k == b"cookie"), b"")
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header.decode("latin-1"))
    except Exception:  # a malformed cookie header is just no cookies
        return {}
    return {k: m.value for k, m in jar.items()}


def session_id(request: Request) -> str | None:
    """The signed session id this request carries (the session row may be gone)."""
    state = _state(request.scope)
    if "bridge_sid" in state:
        return state["bridge_sid"]
    names = cookies_of(request)
    secret = core_of(request).settings.secret_key
    return unsign_session(secret, request.cookies.get(names.session))


def browser_nonce(request: Request, *, create: bool = True) -> str | None:
    """This browser's random nonce; a new one is set on the response when it has none."""
    state = _state(request.scope)
    if state.get("bridge_browser"):
        return state["bridge_browser"]
    names = cookies_of(request)
    nonce = request.cookies.get(names.browser)
    if nonce and len(nonce) >= 32:
        return nonce
    if not create:
        return None
    nonce = secrets.token_urlsafe(32)
    state["bridge_browser"] = nonce
    set_cookie(request, names.header(names.browser, nonce, BROWSER_COOKIE_SECONDS))
    return nonce


def set_cookie(request: Request, header: str) -> None:
    """Queue a Set-Cookie header for this request's response (sent by the middleware)."""
    _state(request.scope).setdefault("bridge_set_cookies", []).append(header)


def start_session(request: Request, sid: str, max_age: int) -> None:
    """Bind the rest of this request and the browser to a new session id and a new nonce.

    Every route that logs someone in ends here, so none can keep the CSRF
    token of before the login alive: the session's token derives from the new
    id, and the new nonce retires the anonymous token for after a logout too.
    Links asked for earlier in this browser stop working with the old nonce;
    the person has just logged in, and can ask again.
    """
    names = cookies_of(request)
    secret = core_of(request).settings.secret_key
    state = _state(request.scope)
    state["bridge_sid"] = sid
    set_cookie(request, names.header(names.session, sign_session(secret, sid), max_age))
    state["bridge_browser"] = nonce = secrets.token_urlsafe(32)
    set_cookie(request, names.header(names.browser, nonce, BROWSER_COOKIE_SECONDS))


def end_session(request: Request) -> None:
    names = cookies_of(request)
    _state(request.scope)["bridge_sid"] = None
    set_cookie(request, names.header(names.session, "", 0))


def csrf_token(request: Request) -> str:
    """The token forms must send back: bound to the session, or to the browser before login."""
    secret = core_of(request).settings.secret_key
    sid = session_id(request)
    if sid:
        return _sign(secret, "csrf-session", sid)
    return _sign(secret, "csrf-browser", browser_nonce(request) or "")


def _expected_token(scope: Scope, secret: str, names: CookieNames) -> str | None:
    """The one token this request may carry: the same choice `csrf_token` makes for pages."""
    cookies = _cookies(scope)
    if sid := unsign_session(secret, cookies.get(names.session)):
        # Logged in: only the session's token. The browser's token would still be
        # the one handed out before login, so accepting it kept that token alive.
        return _sign(secret, "csrf-session", sid)
    if (nonce := cookies.get(names.browser)) and len(nonce) >= 32:
        return _sign(secret, "csrf-browser", nonce)
    return None


def protect(headers: MutableHeaders, scope: Scope, names: CookieNames) -> None:
    """Add the protective headers to one answer (those the answer set itself stay)."""
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    # The legacy header agrees with the page's CSP (a framed message body
    # allows its own site as frame ancestor; everything else allows none).
    policy = headers.get("Content-Security-Policy", "")
    if "frame-ancestors 'none'" in policy:
        headers["X-Frame-Options"] = "DENY"
    elif "frame-ancestors 'self'" in policy:
        headers["X-Frame-Options"] = "SAMEORIGIN"
    headers.setdefault("Referrer-Policy", "same-origin")
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if names.secure:
        headers["Strict-Transport-Security"] = HSTS
    if _state(scope).get("bridge_sid") or names.session.encode() in _cookie_header(scope):
        headers.setdefault("Cache-Control", "private, no-store")


class SecurityMiddleware:
    """CSRF check on unsafe methods, security headers and queued cookies on every answer."""

    def __init__(self, app: Any, *, secret: str, cookies: CookieNames) -> None:
        self.app = app
        self.secret = secret
        self.names = cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = _state(scope)
        if (
            scope["method"] in UNSAFE_METHODS
            and not scope["path"].startswith(CSRF_EXEMPT)
            and not carries_bearer(scope.get("headers", []), scope["path"])
        ):
            try:
                body = await _read_body(receive)
            except _TooLarge:
                await _too_large(scope, send, self.names)
                return
            if body is None or not await self._token_ok(scope, body):
                await _forbidden(scope, send, self.names)
                return
            receive = _replay(body)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                protect(headers, scope, self.names)
                for cookie in state.get("bridge_set_cookies", []):
                    headers.append("Set-Cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _token_ok(self, scope: Scope, body: bytes) -> bool:
        expected = _expected_token(scope, self.secret, self.names)
        if expected is None:
            return False
        given = ""
        for key, value in scope.get("headers", []):
            if key == b"x-csrf-token":
                given = value.decode("latin-1")
        if not given:
            given = await _form_token(scope, body)
        return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def _cookie_header(scope: Scope) -> bytes:
    return next((v for k, v in scope.get("headers", []) if k == b"cookie"), b"")


class _TooLarge(Exception):
    """A form body past MAX_FORM_BYTES: answered 413, not read further."""


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _form_token(scope: Scope, body: bytes) -> str:
    content_type = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"")
    if not content_type.startswith((b"application/x-www-form-urlencoded", b"multipart/form-data")):
        return ""
    request = Request(scope, _replay(body))
    try:
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    except Exception:  # an unreadable form has no token
        return ""
    finally:
        await request.close()


async def _too_large(scope: Scope, send: Send, names: CookieNames) -> None:
    # Said plainly, so a person who attached a big file knows what to change.
    limit = f"{MAX_FORM_BYTES // (1024 * 1024)} MB"
    gettext, code = _gettext(scope, names)
    body = _page(
        code,
        gettext("Too large"),
        gettext("What you sent is too large"),
        gettext(
            "A form, its files included, may be at most %(limit)s. Go back, leave out or "
            "shrink a file, and try again."
        )
        % {"limit": limit},
    )
    content_type = b"text/html; charset=utf-8"
    if scope["path"].startswith("/api/"):
        body = b'{"detail": "the request body is larger than ' + limit.encode() + b'"}'
        content_type = b"application/json"
    await _answer(scope, send, names, 413, content_type, body)


async def _forbidden(scope: Scope, send: Send, names: CookieNames) -> None:
    gettext, code = _gettext(scope, names)
    body = _page(
        code,
        gettext("Form expired"),
        gettext("This form has expired"),
        gettext(
            "The page you sent it from was too old (from before you last logged in, for "
            "example), or it did not come from this site. Go back, reload the page and try again."
        ),
    )
    content_type = b"text/html; charset=utf-8"
    if scope["path"].startswith("/api/"):
        body = b'{"detail": "missing or wrong CSRF token: send X-CSRF-Token"}'
        content_type = b"application/json"
    await _answer(scope, send, names, 403, content_type, body)


def _gettext(scope: Scope, names: CookieNames) -> tuple[Callable[[str], str], str]:
    """The reader's gettext for the pages answered here, before any route (or database) ran:
    their language cookie, else their browser's Accept-Language (web/i18n.py does the rest)."""
    accept = next((v for k, v in scope.get("headers", []) if k == b"accept-language"), b"")
    code = (
        known(_cookies(scope).get(names.lang))
        or negotiate(preferred_languages(accept.decode("latin-1")))
        or SOURCE
    )
    return gettext_for(code), code


def _page(code: str, title: str, heading: str, text: str) -> bytes:
    """A minimal page in the reader's language; every text escaped all the same."""
    return (
        f'<!doctype html><html lang="{html_tag(code)}" dir="{text_direction(code)}">'
        "<meta charset=utf-8>"
        f"<title>{escape(title)}</title><h1>{escape(heading)}</h1><p>{escape(text)}</p>"
    ).encode()


async def _answer(
    scope: Scope, send: Send, names: CookieNames, status: int, content_type: bytes, body: bytes
) -> None:
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", content_type)],
    }
    protect(MutableHeaders(scope=start), scope, names)
    await send(start)
    await send({"type": "http.response.body", "body": body})
