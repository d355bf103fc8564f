"""The admin pages for OAuth2 folders: adding one from the form, and its status in plain
words (state, token expiry, last error) without any token or secret on the page."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from bridge.core import Core
from tests.support.dovecot import USER, Dovecot
from tests.support.factories import create_community
from tests.support.imap import running, tuned, wait_for
from tests.support.sessions import sign_in
from tests.support.token_endpoint import Client, TokenEndpoint, certificate_client
from threads.models import ImapFolder
from web.app import create_app

SECRET_ENV = "BRIDGE_TEST_WEB_OAUTH_SECRET"


@pytest.fixture
def endpoint() -> Iterator[TokenEndpoint]:
    server = TokenEndpoint(dovecot_key=secrets.token_bytes(32), user=USER)
    yield server
    server.close()


def admin_client(core: Core) -> TestClient:
    client = TestClient(create_app(core), follow_redirects=False)
    sign_in(client, core, "boss@example.com", is_admin=True)
    return client


def post(client: TestClient, path: str, **form: str) -> Any:
    page = BeautifulSoup(client.get("/me").text, "html.parser")
    token = page.find("input", attrs={"name": "csrf_token"})["value"]
    return client.post(path, data={**form, "csrf_token": token})


def test_admin_adds_a_microsoft_certificate_folder(
    core: Core, endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    """The form's OAuth2 fields make the same client as `route add --oauth microsoft`."""
    create_community(core)
    pem = tmp_path / "app.pem"
    certificate_client(endpoint, "app-id", pem)
    client = admin_client(core)
    form = {
        "url": "imaps://shared%40contoso.example;AUTH=XOAUTH2@outlook.office365.com/INBOX",
        "kept_in": "oauth",
        "oauth_provider": "microsoft",
        "oauth_tenant": "contoso.example",
        "oauth_client_id": "app-id",
        "oauth_certificate_file": str(pem),
    }
    done = post(client, "/admin/c/eng/folders", **form)
    page = client.get(done.headers["location"]).text
    assert "Polling imaps://shared%40contoso.example;AUTH=XOAUTH2@" in page
    assert "microsoft client app-id (tenant contoso.example, certificate app.pem)" in page
    assert "state: not polled yet" in page
    with core.engine.connect() as conn:
        row = conn.execute(select(ImapFolder)).one()
    assert json.loads(row.oauth)["certificate_file"] == str(pem)
    assert (row.password_env, row.secret_file) == ("", "")
    refused = post(client, "/admin/c/eng/folders", **{**form, "oauth_tenant": ""})
    assert "give the tenant" in client.get(refused.headers["location"]).text


def test_folder_page_shows_the_plain_error_and_no_secret(
    core: Core,
    endpoint: TokenEndpoint,
    dovecot: Dovecot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A running poller's plain error on the community and routes pages; no secret there."""
    create_community(core)
    good = "the-real-secret-" + secrets.token_hex(6)
    endpoint.clients["app"] = Client("app", secret=good)
    wrong = "a-wrong-secret-" + secrets.token_hex(6)
    monkeypatch.setenv(SECRET_ENV, wrong)
    client = admin_client(core)
    form = {
        "url": dovecot.url(auth=";AUTH=XOAUTH2"),
        "kept_in": "oauth",
        "secret": SECRET_ENV,
        "oauth_token_url": endpoint.url,
        "oauth_client_id": "app",
    }
    assert post(client, "/admin/c/eng/folders", **form).status_code == 303
    plain = "the client secret was rejected by the token endpoint"
    with running(core, tuned(core)):
        wait_for(lambda: plain in client.get("/admin/c/eng").text, "the error on the page")
    pages = client.get("/admin/c/eng").text + client.get("/admin/routes").text
    assert "state: retrying" in pages
    assert f"last error: {plain}" in client.get("/admin/routes").text
    for secret in (good, wrong, *endpoint.issued):
        assert secret not in pages
