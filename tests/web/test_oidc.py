"""Single sign-on against a real (small) OpenID Connect provider served on loopback.

The provider below speaks the parts of OIDC the bridge uses: discovery, an
authorization endpoint that signs a fixed test person in at once, a token
endpoint that checks the code and the PKCE verifier, and its signing keys.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Form, HTTPException
from fastapi.responses import RedirectResponse
from fastapi.testclient import TestClient

pytest.importorskip("authlib")
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from bridge import admin
from bridge.core import Core, open_core
from tests.support.csrf_checks import assert_token_rotated, form_token
from tests.support.env import settings_for
from tests.support.net import free_port
from threads.db import writer
from web.app import create_app


class Provider:
    """What the test person looks like to the provider, and the codes it handed out."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.email = "ana@example.com"
        self.email_verified = True
        self.codes: dict[str, dict[str, str]] = {}
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, str]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
            }

        @app.get("/authorize")
        def authorize(
            redirect_uri: str, state: str, nonce: str, code_challenge: str, client_id: str
        ) -> RedirectResponse:
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"nonce": nonce, "challenge": code_challenge, "client": client_id}
            return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}")

        @app.post("/token")
        def token(code: str = Form(...), code_verifier: str = Form(...)) -> dict[str, Any]:
            grant = self.codes.pop(code, None)
            digest = hashlib.sha256(code_verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if grant is None or challenge != grant["challenge"]:
                raise HTTPException(400, "invalid_grant")
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "aud": grant["client"],
                "sub": "u-1",
                "email": self.email,
                "email_verified": self.email_verified,
                "nonce": grant["nonce"],
                "iat": now,
                "exp": now + 300,
            }
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)
            return {"access_token": "at", "token_type": "Bearer", "id_token": id_token}

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return KeySet([self.key]).as_dict(private=False)

        return app


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    idp = Provider()
    server = uvicorn.Server(
        uvicorn.Config(idp.app(), host="127.0.0.1", port=idp.port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield idp
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def core(tmp_path: Path, provider: Provider) -> Iterator[Core]:
    c = open_core(
        settings_for(
            tmp_path / "data",
            public_url="https://bridge.example.com",
            oidc_issuer=provider.issuer,
            oidc_client_id="bridge",
            oidc_client_secret="s3cret",
        )
    )
    yield c
    c.close()


def browser(core: Core) -> TestClient:
    return TestClient(create_app(core), base_url="https://testserver", follow_redirects=False)


def sign_in_at_provider(client: TestClient, next: str = "/") -> str:
    """Start at the bridge, let the provider sign in; returns the callback path and query."""
    start = client.get("/login/oidc", params={"next": next})
    assert start.status_code == 303
    back = httpx.get(start.headers["location"], follow_redirects=False)
    assert back.status_code in (302, 303, 307)
    target = urlsplit(back.headers["location"])
    assert target.netloc == "bridge.example.com"  # built from the public URL
    return f"{target.path}?{target.query}"


def whoami(client: TestClient) -> str | None:
    response = client.get("/me")
    return response.text.split("<h1>")[1].split("</h1>")[0] if response.status_code == 200 else None


def test_single_sign_on_logs_in(core: Core) -> None:
    """The login page offers SSO; the provider's verified address becomes the session."""
    client = browser(core)
    assert "/login/oidc" in client.get("/login").text
    response = client.get(sign_in_at_provider(client, next="/c/eng"))
    assert response.status_code == 303
    assert response.headers["location"] == "/c/eng"
    assert whoami(client) == "ana@example.com"


def test_single_sign_on_retires_the_token_of_before(core: Core) -> None:
    """After an SSO login the pre-login CSRF token gets 403; the new one works."""
    client = browser(core)
    before = form_token(client, "/login")
    assert client.get(sign_in_at_provider(client)).status_code == 303
    assert whoami(client) == "ana@example.com"
    assert_token_rotated(client, before)


def test_callback_works_once_and_only_in_the_browser_that_started(core: Core) -> None:
    """A callback URL replayed, or opened in another browser, does not log in."""
    client = browser(core)
    callback = sign_in_at_provider(client)
    other = browser(core)
    assert other.get(callback).status_code == 400
    assert whoami(other) is None
    assert client.get(callback).status_code == 303
    assert client.get(callback).status_code == 400  # the flow cookie is spent


def test_unverified_address_or_disabled_person_is_refused(core: Core, provider: Provider) -> None:
    """The provider must vouch for the address; a disabled person stays out."""
    client = browser(core)
    provider.email_verified = False
    try:
        assert client.get(sign_in_at_provider(client)).status_code == 403
    finally:
        provider.email_verified = True
    with writer(core.engine).begin() as conn:
        admin.set_disabled(conn, "ana@example.com")
    assert client.get(sign_in_at_provider(client)).status_code == 403
    assert whoami(client) is None


def test_without_an_issuer_there_is_no_sso(tmp_path: Path) -> None:
    """Unconfigured, the routes do not exist and the login page shows no button."""
    c = open_core(settings_for(tmp_path / "plain"))
    try:
        client = browser(c)
        assert client.get("/login/oidc").status_code == 404
        assert "/login/oidc" not in client.get("/login").text
    finally:
        c.close()
