"""A reader's own tokens on /me: API tokens for scripts, and the feed token of their feed links.

- `POST /me/tokens` makes an API token and shows it once, on the answer page
  (only its hash is kept); `POST /me/tokens/{id}/revoke` revokes one of the
  viewer's own tokens (anyone else's id answers 404, like a missing one).
- Feed links (`feed_link` in templates) carry the viewer's feed token, made on
  first need. Its secret is an HMAC of its row id under the server's key, so
  pages can show it again while the database stores only its hash.
  `POST /me/feed-token` revokes it and makes a new one: every old feed link
  stops at once.
Forms here are cookie requests and carry the CSRF token like every other.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from bridge import tokens as token_admin
from bridge.errors import UsageError
from bridge.i18n import N_
from threads import tokens
from threads.access import Viewer
from threads.db import serialize_on, writer
from threads.models import TokenKind
from web.deps import CoreDep, ViewerDep
from web.render import render
from web.security import sign
from web.state import core_of
from web.viewer import current_viewer

router = APIRouter()
FEED_LINKS_LABEL = "feed links"
NO_REFERRER = {"Referrer-Policy": "no-referrer"}  # the page holds a secret


def feed_token(request: Request, viewer: Viewer) -> str | None:
    """The viewer's feed token (made on first need), or None for anonymous viewers."""
    if viewer.anonymous or viewer.person_id is None:
        return None
    core = core_of(request)
    secret = core.settings.secret_key
    with core.engine.connect() as conn:
        row_id = tokens.live_token_id(conn, viewer.person_id, TokenKind.feed)
    if row_id is None:
        with writer(core.engine).begin() as conn:
            # Two pages loading at once must not make two tokens (SQLite's writers already
            # take turns; PostgreSQL's take this lock in turn).
            serialize_on(conn, [f"feed-token:{viewer.person_id}"])
            row_id = tokens.live_token_id(conn, viewer.person_id, TokenKind.feed)
            if row_id is None:
                row_id, _ = tokens.issue_derived(
                    conn,
                    viewer.person_id,
                    TokenKind.feed,
                    FEED_LINKS_LABEL,
                    lambda i: sign(secret, "feed-token", str(i)),
                )
    return tokens.PREFIX[TokenKind.feed] + sign(secret, "feed-token", str(row_id))


def feed_link(request: Request, path: str) -> str:
    """A feed URL for templates: with the viewer's feed token when logged in."""
    token = feed_token(request, current_viewer(request))
    return f"{path}?token={token}" if token else path


def _signed_in(viewer: Viewer) -> tuple[int, str]:
    """The viewer's person id and address; anonymous viewers get a missing page."""
    if viewer.anonymous or viewer.person_id is None or not viewer.email:
        raise HTTPException(404, N_("There is no page at this address."))
    return viewer.person_id, viewer.email


@router.post("/me/tokens", response_model=None)
def create_api_token(
    request: Request, core: CoreDep, viewer: ViewerDep, name: str = Form("", max_length=200)
) -> Response:
    """Make an API token for the viewer and show it once."""
    _owner, email = _signed_in(viewer)
    try:
        with writer(core.engine).begin() as conn:
            token_id, secret = token_admin.create(conn, email, name, actor=email)
    except UsageError:  # no name: the form says a name is needed
        return RedirectResponse("/me?token_error=name#tokens", status_code=303)
    return render(
        request,
        "token_created.html",
        headers=NO_REFERRER,
        token_id=token_id,
        token_name=" ".join(name.split()),
        secret=secret,
    )


@router.post("/me/tokens/{token_id}/revoke", response_model=None)
def revoke_token(request: Request, core: CoreDep, viewer: ViewerDep, token_id: int) -> Response:
    """Revoke one of the viewer's own tokens."""
    owner, email = _signed_in(viewer)
    try:
        with writer(core.engine).begin() as conn:
            token_admin.revoke(conn, token_id, actor=email, owner_id=owner)
    except UsageError as exc:
        raise HTTPException(404, N_("There is no token at this address.")) from exc
    return RedirectResponse("/me#tokens", status_code=303)


@router.post("/me/feed-token", response_model=None)
def renew_feed_token(request: Request, core: CoreDep, viewer: ViewerDep) -> Response:
    """Revoke the viewer's feed token (every feed link given out stops) and make a new one."""
    owner, email = _signed_in(viewer)
    with writer(core.engine).begin() as conn:
        while (row_id := tokens.live_token_id(conn, owner, TokenKind.feed)) is not None:
            token_admin.revoke(conn, row_id, actor=email, owner_id=owner)
    feed_token(request, viewer)
    return RedirectResponse("/me#feeds", status_code=303)


def my_tokens(request: Request, viewer: Viewer) -> list[tokens.TokenRow]:
    """The viewer's API tokens for the /me page."""
    if viewer.person_id is None:
        return []
    with core_of(request).engine.connect() as conn:
        return tokens.tokens_of(conn, viewer.person_id, TokenKind.api)
