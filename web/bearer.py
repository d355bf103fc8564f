"""Who a request is when it carries a personal token instead of a session cookie.

- API tokens: `Authorization: Bearer cbt_…` on /api paths. The request is
  then its owner, whatever cookies it carries, and is exempt from the CSRF
  check (web/security.py): a browser never adds this header by itself and no
  other site may make it send one (we answer no CORS preflight), so a bearer
  request cannot be forged cross-site. A bearer header that opens nothing
  (unknown, revoked, a disabled owner, a feed token) is 401, never anonymous
  reading: a script whose token died must notice.
- Feed tokens: `?token=cbf_…` on the two Atom feed URLs only (web/feeds.py
  `FeedViewerDep`), for feed readers that keep no cookies. They open nothing
  else: the API takes only API tokens, and pages take only cookies.
Both act with the owner's rights at the time of each request.
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from bridge.i18n import N_
from threads import tokens
from threads.access import Viewer, viewer_for_person
from threads.db import writer
from threads.models import TokenKind
from web.state import core_of

API_PREFIX = "/api/"


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith(API_PREFIX)


REFUSED = N_("this token is unknown, revoked, or its owner is disabled")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="bridge"'}


def bearer(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header on an /api path, if any."""
    if not is_api(request.url.path):
        return None
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def carries_bearer(headers: list[tuple[bytes, bytes]], path: str) -> bool:
    """The same test on raw ASGI headers, for the CSRF middleware."""
    if not is_api(path):
        return False
    value = next((v for k, v in headers if k == b"authorization"), b"")
    return value[:7].lower() == b"bearer "


def token_viewer(request: Request, secret: str, kind: TokenKind) -> Viewer | None:
    """The owner of a live token of `kind` as a viewer, or None."""
    core = core_of(request)
    with core.engine.connect() as conn:
        found = tokens.holder(conn, secret, kind)
        if found is None:
            return None
        viewer = viewer_for_person(conn, found.person_id, core.settings.org_domains)
    if found.stale_use:
        with writer(core.engine).begin() as conn:
            tokens.record_use(conn, found.token_id)
    return None if viewer.anonymous else viewer


def api_viewer(request: Request, secret: str) -> Viewer:
    viewer = token_viewer(request, secret, TokenKind.api)
    if viewer is None:
        raise HTTPException(401, REFUSED, headers=CHALLENGE)
    return viewer
