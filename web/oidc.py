"""Optional single sign-on with OpenID Connect (authorization code flow, PKCE).

Configured by `BRIDGE_OIDC_ISSUER`, `BRIDGE_OIDC_CLIENT_ID` and
`BRIDGE_OIDC_CLIENT_SECRET`; without an issuer these routes answer 404 and
the login page shows no button. Authlib (the `oidc` extra) builds the
authorization request and exchanges the code; joserfc, which authlib uses
for JOSE, verifies the ID token against the issuer's published keys:
signature, issuer, audience, expiry and the nonce we sent.

The state, nonce, PKCE verifier and `next` travel in a short-lived cookie
signed with the secret key and bound to this browser's nonce, so a callback
started in another browser, replayed, or forged is refused. Only an address
the identity provider marks `email_verified` logs in; the session is then
opened exactly as after a magic link (rotated, disabled people refused).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import delete, insert, select

from bridge.core import Core
from bridge.i18n import N_
from bridge.settings import Settings
from threads.db import writer
from threads.models import Person, WebSession, utcnow
from threads.people import try_normalize
from web.auth import open_session, safe_next
from web.deps import NOT_FOUND_PAGE, CoreDep
from web.security import browser_nonce, digest, session_id, set_cookie, sign, start_session
from web.state import cookies_of

router = APIRouter()
P, S = Person.__table__, WebSession.__table__
COOKIE = "bridge_oidc"
FLOW_SECONDS = 600
_discovery: dict[str, tuple[float, dict[str, Any]]] = {}


def _settings(core: Core) -> Settings:
    """The settings, if single sign-on is configured; otherwise the 404 of a missing page."""
    if not core.settings.oidc_issuer:
        raise HTTPException(404, NOT_FOUND_PAGE)
    return core.settings


def _metadata(issuer: str) -> dict[str, Any]:
    """The issuer's discovery document, cached for an hour."""
    import httpx

    cached = _discovery.get(issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    meta: dict[str, Any] = httpx.get(url, timeout=10).raise_for_status().json()
    if meta.get("issuer") != issuer:
        raise ValueError(f"discovery at {url} names issuer {meta.get('issuer')!r}")
    _discovery[issuer] = (time.monotonic() + 3600, meta)
    return meta


def _client(settings: Any) -> Any:
    from authlib.integrations.httpx_client import OAuth2Client

    return OAuth2Client(
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        scope="openid email",
        redirect_uri=f"{settings.web_base_url}/login/oidc/callback",
        code_challenge_method="S256",
        timeout=10,
    )


@router.get("/login/oidc", response_model=None)
def start(request: Request, core: CoreDep, next: str = "/") -> Response:
    settings = _settings(core)
    meta = _metadata(settings.oidc_issuer)
    nonce = browser_nonce(request)
    assert nonce is not None
    flow = {
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "verifier": secrets.token_urlsafe(48),
        "next": safe_next(next),
        "browser": digest(nonce),
        "until": int(time.time()) + FLOW_SECONDS,
    }
    with _client(settings) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"],
            state=flow["state"],
            nonce=flow["nonce"],
            code_verifier=flow["verifier"],
        )
    value = json.dumps(flow, separators=(",", ":"))
    signed = f"{value.encode().hex()}.{sign(settings.secret_key, 'oidc', value)}"
    # SameSite=Lax still travels on the identity provider's top-level redirect back.
    set_cookie(request, cookies_of(request).header(COOKIE, signed, FLOW_SECONDS))
    return RedirectResponse(url, status_code=303)


def _flow(request: Request, secret: str) -> dict[str, Any] | None:
    raw = request.cookies.get(COOKIE, "")
    if "." not in raw:
        return None
    hexed, mac = raw.rsplit(".", 1)
    try:
        value = bytes.fromhex(hexed).decode()
    except ValueError:
        return None
    if not secrets.compare_digest(mac, sign(secret, "oidc", value)):
        return None
    flow: dict[str, Any] = json.loads(value)
    nonce = browser_nonce(request, create=False)
    if flow["until"] < time.time() or nonce is None or digest(nonce) != flow["browser"]:
        return None
    return flow


@router.get("/login/oidc/callback", response_model=None)
def callback(
    request: Request, core: CoreDep, code: str = "", state: str = "", error: str = ""
) -> Response:
    settings = _settings(core)
    flow = _flow(request, settings.secret_key)
    # Used once: whatever happens next, this browser's flow cookie is spent.
    set_cookie(request, cookies_of(request).header(COOKIE, "", 0))
    if error or flow is None or not code or not secrets.compare_digest(state, flow["state"]):
        raise HTTPException(400, N_("This sign-in could not be completed; please start again."))
    meta = _metadata(settings.oidc_issuer)
    with _client(settings) as client:
        token = client.fetch_token(
            meta["token_endpoint"], code=code, code_verifier=flow["verifier"]
        )
    email = _verified_email(settings, meta, token.get("id_token", ""), flow["nonce"])
    if email is None:
        raise HTTPException(403, N_("The identity provider did not vouch for an e-mail address."))
    now = utcnow()
    with writer(core.engine).begin() as conn:
        person = conn.execute(select(P.c.id, P.c.disabled).where(P.c.email == email)).first()
        if person is not None and person.disabled:
            raise HTTPException(403, N_("This account is disabled."))
        if person is None:
            pid = conn.execute(
                insert(P).values(
                    email=email, name="", created_at=now, is_admin=False, disabled=False
                )
            ).inserted_primary_key[0]  # type: ignore[index]  # one row inserted: its key is there
        else:
            pid = person.id
        if old := session_id(request):
            conn.execute(delete(S).where(S.c.id_hash == digest(old)))
        sid = open_session(conn, pid, settings.session_hours)
    request.state.viewer = None
    start_session(request, sid, settings.session_hours * 3600)
    return RedirectResponse(flow["next"], status_code=303)


def _verified_email(settings: Any, meta: dict[str, Any], id_token: str, nonce: str) -> str | None:
    import httpx
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    keys = KeySet.import_key_set(httpx.get(meta["jwks_uri"], timeout=10).raise_for_status().json())
    try:
        token = jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256", "EdDSA"])
        jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": settings.oidc_issuer},
            aud={"essential": True, "value": settings.oidc_client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except (JoseError, ValueError):
        return None
    claims = token.claims
    if claims.get("email_verified") is not True:
        return None
    return try_normalize(str(claims.get("email", "")))
