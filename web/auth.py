"""Login by magic link, logout, and the open-redirect-proof `next` address.

1. `POST /login` with an address: the answer is the same page whether or not
   the address is known. A link is mailed only to a person who is not
   disabled, or to an address in the organisation's domains; either way a
   token row is written, so timing and rate limits do not tell them apart.
   Requests are limited per address and per client.
2. The mailed link `/login/link/TOKEN` works once, for
   `BRIDGE_LOGIN_LINK_MINUTES`, and only in the browser that asked (the row
   keeps the hash of that browser's nonce cookie). Opening it (GET) only
   shows a button: corporate mail scanners fetch every link in a message,
   and must not log anyone in or use the link up. The POST logs in.
3. Logging in deletes the browser's previous session and starts a new one
   with a new browser nonce (a fixated session id or CSRF token is
   worthless, see web/security.py); logout deletes it.

Links are built from `BRIDGE_PUBLIC_URL`, never from the request's Host
header, which an attacker could set to their own site. Only token, session
and nonce hashes are stored.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete, func, insert, select, update
from starlette.background import BackgroundTask

from bridge.i18n import N_, gettext_for, ngettext_for
from bridge.outbound.bounce_state import reenable
from bridge.outbound.language import language
from bridge.outbound.notices import send_notice
from bridge.settings import Settings
from threads import expert_reads, outbound
from threads.db import writer
from threads.models import (
    Community,
    LoginToken,
    Membership,
    Person,
    WebSession,
    as_utc,
    utcnow,
)
from threads.people import is_org_address, try_normalize
from web.deps import CoreDep, ViewerDep
from web.i18n import locale_of
from web.render import render
from web.security import browser_nonce, digest, end_session, session_id, start_session
from web.state import prints_login_links
from web.token_pages import feed_token, my_tokens

log = logging.getLogger(__name__)
router = APIRouter()
L, P, S = LoginToken.__table__, Person.__table__, WebSession.__table__

RATE_WINDOW = timedelta(minutes=15)
PER_ADDRESS = 5  # links an address may be sent per window
PER_CLIENT = 20  # login requests one client may make per window


def safe_next(value: str | None) -> str:
    """A local path to go to after login; anything else (another site, a scheme) is '/'."""
    if not value or len(value) > 2000 or not value.startswith("/"):
        return "/"
    if value.startswith(("//", "/\\")) or any(c in value for c in "\\\r\n\t\x00"):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


# The login pages carry tokens in their address: never send them on as a Referer.
NO_REFERRER = {"Referrer-Policy": "no-referrer"}


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", headers=NO_REFERRER, next=safe_next(next), email="")


@router.post("/login", response_class=HTMLResponse)
def login_request(
    request: Request,
    core: CoreDep,
    email: str = Form("", max_length=400),
    next: str = Form("/"),
) -> HTMLResponse:
    settings = core.settings
    target = safe_next(next)
    key = try_normalize(email)
    if key is None:
        return render(
            request,
            "login.html",
            status=400,
            headers=NO_REFERRER,
            next=target,
            email=email,
            error=N_("Please enter your e-mail address, like name@example.com."),
        )
    nonce = browser_nonce(request)
    assert nonce is not None
    client = (request.client.host if request.client else "")[:64]
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with writer(core.engine).begin() as conn:
        since = now - RATE_WINDOW
        conn.execute(delete(L).where(L.c.expires_at < now - timedelta(days=1)))
        by_client = conn.execute(
            select(func.count()).select_from(L).where(L.c.client == client, L.c.created_at > since)
        ).scalar_one()
        if by_client >= PER_CLIENT:
            return render(
                request,
                "login.html",
                status=429,
                headers=NO_REFERRER,
                next=target,
                email=email,
                error=N_("Too many login requests from your network. Please wait a few minutes."),
            )
        by_address = conn.execute(
            select(func.count()).select_from(L).where(L.c.email == key, L.c.created_at > since)
        ).scalar_one()
        person = conn.execute(select(P.c.disabled).where(P.c.email == key)).first()
        may_login = (person is not None and not person.disabled) or (
            person is None and is_org_address(key, settings.org_domains)
        )
        conn.execute(
            insert(L).values(
                token_hash=digest(token),
                email=key,
                browser_hash=digest(nonce),
                client=client,
                next_path=target,
                created_at=now,
                expires_at=now + timedelta(minutes=settings.login_link_minutes),
                used_at=None,
            )
        )
    # The same page for every address: known, unknown, disabled or rate-limited.
    response = render(
        request,
        "login_sent.html",
        headers=NO_REFERRER,
        email=key,
        minutes=settings.login_link_minutes,
    )
    if may_login and by_address < PER_ADDRESS:
        # Mailed after the answer is sent, so its timing does not tell known addresses apart.
        response.background = BackgroundTask(_mail_link, request, settings, key, token)
    return response


def _mail_link(request: Request, settings: Settings, email: str, token: str) -> None:
    # In the language of the page that asked for it: the person's saved choice, else
    # the browser's (the mail is opened in that same browser).
    code = locale_of(request)
    gettext, ngettext = gettext_for(code), ngettext_for(code)
    link = f"{settings.web_base_url}/login/link/{token}"
    minutes = settings.login_link_minutes
    values = {"address": email, "link": link, "num": minutes}
    text = "\n\n".join(
        [
            gettext("Someone, probably you, asked to log in to Commons Bridge as %(address)s.")
            % values,
            gettext("Open this link in the same browser to log in:") + f"\n\n  {link}",
            ngettext(
                "It works once, for %(num)s minute. If you did not ask, ignore this message:"
                " nobody can use the link from another browser.",
                "It works once, for %(num)s minutes. If you did not ask, ignore this message:"
                " nobody can use the link from another browser.",
                minutes,
            )
            % values,
        ]
    )
    subject = gettext("Your Commons Bridge login link")
    send_notice(settings, email, subject, text + "\n", language(code))
    if prints_login_links(request):
        # `bridge serve --demo`: the outbox is a directory nobody reads, so show the link.
        print(f"demo: login link for {email}: {link}", flush=True)


def _usable(conn: Any, token: str) -> Any:
    row = conn.execute(
        select(
            L.c.id, L.c.email, L.c.browser_hash, L.c.next_path, L.c.expires_at, L.c.used_at
        ).where(L.c.token_hash == digest(token))
    ).first()
    if row is None or row.used_at is not None:
        return None
    return row if as_utc(row.expires_at) > utcnow() else None


EXPIRED = N_(
    "This login link has expired or has already been used. Links work once, "
    "for a few minutes; ask for a new one below."
)
OTHER_BROWSER = N_(
    "This link was asked for in another browser. Open it in the browser where you "
    "entered your address, or ask for a new link here."
)


def _expired(request: Request) -> HTMLResponse:
    return render(
        request, "login.html", status=410, headers=NO_REFERRER, next="/", email="", error=EXPIRED
    )


@router.get("/login/link/{token}", response_class=HTMLResponse)
def login_confirm_page(request: Request, core: CoreDep, token: str) -> HTMLResponse:
    """Show a button only: opening a link changes nothing (mail scanners open them all)."""
    with core.engine.connect() as conn:
        row = _usable(conn, token[:100])
    if row is None:
        return _expired(request)
    return render(request, "login_confirm.html", headers=NO_REFERRER, token=token, email=row.email)


@router.post("/login/link/{token}", response_model=None)
def login_confirm(request: Request, core: CoreDep, token: str) -> Response:
    nonce = browser_nonce(request, create=False)
    now = utcnow()
    with writer(core.engine).begin() as conn:
        row = _usable(conn, token[:100])
        if row is None:
            return _expired(request)
        if nonce is None or digest(nonce) != row.browser_hash:
            return render(
                request,
                "login.html",
                status=403,
                headers=NO_REFERRER,
                next=row.next_path,
                email="",
                error=(OTHER_BROWSER),
            )
        used = conn.execute(
            update(L).where(L.c.id == row.id, L.c.used_at.is_(None)).values(used_at=now)
        ).rowcount
        person = conn.execute(select(P.c.id, P.c.disabled).where(P.c.email == row.email)).first()
        if used != 1 or (person is not None and person.disabled):
            return _expired(request)
        if person is None:
            # An org address logging in for the first time becomes a person now.
            pid = conn.execute(
                insert(P).values(
                    email=row.email, name="", created_at=now, is_admin=False, disabled=False
                )
            ).inserted_primary_key[0]  # type: ignore[index]  # one row inserted: its key is there
        else:
            pid = person.id
        if old := session_id(request):
            conn.execute(delete(S).where(S.c.id_hash == digest(old)))
        hours = core.settings.session_hours
        sid = open_session(conn, pid, hours)
    request.state.viewer = None
    start_session(request, sid, hours * 3600)
    log.info("login: person %s", pid)
    return RedirectResponse(safe_next(row.next_path), status_code=303)


def open_session(conn: Any, person_id: int, hours: int) -> str:
    """A new session for the person; returns the id the cookie carries (only its hash is kept)."""
    now = utcnow()
    conn.execute(delete(S).where(S.c.expires_at < now))
    sid = secrets.token_urlsafe(32)
    conn.execute(
        insert(S).values(
            id_hash=digest(sid),
            person_id=person_id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    return sid


@router.post("/logout", response_model=None)
def logout(request: Request, core: CoreDep) -> Response:
    if sid := session_id(request):
        with writer(core.engine).begin() as conn:
            conn.execute(delete(S).where(S.c.id_hash == digest(sid)))
    end_session(request)
    request.state.viewer = None
    return RedirectResponse("/", status_code=303)


@router.get("/me", response_class=HTMLResponse)
def me(request: Request, core: CoreDep, viewer: ViewerDep) -> Response:
    """Who this browser is logged in as (or the login page)."""
    if viewer.anonymous:
        return RedirectResponse("/login?next=/me", status_code=303)
    with core.engine.connect() as conn:
        ms, c = Membership.__table__, Community.__table__
        roles = conn.execute(
            select(c.c.slug, c.c.name, ms.c.role)
            .join(c, c.c.id == ms.c.community_id)
            .where(ms.c.person_id == viewer.person_id)
            .order_by(c.c.name)
        ).all()
        listed = not expert_reads.is_opted_out(conn, viewer.email or "")
        bounces = outbound.bounce_state(conn, viewer.email or "")
    done = request.query_params.get("done") == "bounces"
    return render(
        request,
        "login_me.html",
        headers=NO_REFERRER,
        viewer=viewer,
        roles=roles,
        listed=listed,
        bounces=bounces,
        bounces_cleared=done,
        api_tokens=my_tokens(request, viewer),
        feed_token=feed_token(request, viewer),
        token_error=request.query_params.get("token_error") == "name",
    )


@router.post("/me/bounces", response_model=None)
def reenable_my_mail(core: CoreDep, viewer: ViewerDep) -> Response:
    """The person says their mailbox works again: mail to them resumes (audited)."""
    if viewer.anonymous or viewer.email is None:
        return RedirectResponse("/login?next=/me", status_code=303)
    with writer(core.engine).begin() as conn:
        reenable(conn, viewer.email, actor=viewer.email)
    return RedirectResponse("/me?done=bounces", status_code=303)
