"""An admin connects a mailbox over OAuth2 in a real Chromium and watches its status.

`bridge serve --demo` runs the web and imap roles; a real Dovecot accepts only
JWTs it validates itself, and a token endpoint on loopback issues tokens that
live three seconds (tests/support/token_endpoint.py). The admin fills the
community page's form twice: once naming a variable that holds a wrong client
secret (the page says so in plain words), once the right one (the folder is
connected, its mail arrives, its token expiry is shown). No token or secret
ever appears on a page.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.browser import (
    ROOT,
    Server,
    new_context,
    session_cookie,
    wait_for_server,
)
from tests.support.dovecot import USER, Dovecot
from tests.support.env import bridge_env
from tests.support.messages import conversation
from tests.support.net import free_port
from tests.support.token_endpoint import Client, TokenEndpoint

pytestmark = pytest.mark.browser

GOOD_ENV, WRONG_ENV = "BRIDGE_TEST_GOOD_OAUTH_SECRET", "BRIDGE_TEST_WRONG_OAUTH_SECRET"
GOOD = "good-secret-" + secrets.token_hex(6)
WRONG = "wrong-secret-" + secrets.token_hex(6)
SLUG = "engineering"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[TokenEndpoint]:
    server = TokenEndpoint(dovecot_key=secrets.token_bytes(32), user=USER, lifetime=3)
    server.clients["bridge-app"] = Client("bridge-app", secret=GOOD)
    yield server
    server.close()


@pytest.fixture(scope="module")
def oauth_dovecot(endpoint: TokenEndpoint) -> Iterator[Dovecot]:
    server = Dovecot(oauth_key=endpoint.dovecot_key)
    yield server
    server.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, playwright_api: Any) -> Iterator[Server]:
    """The demo with the web and imap roles; both secrets' variables in its environment."""
    data = tmp_path_factory.mktemp("oauth-browser") / "data"
    web_port, smtp_port = free_port(), free_port()
    url = f"http://127.0.0.1:{web_port}"
    env = bridge_env(
        data,
        BRIDGE_ORG_DOMAINS="example.com",
        PYTHONPATH=str(ROOT),
        BRIDGE_IMAP_POLL_SECONDS="0.2",
        BRIDGE_IMAP_BACKOFF_MAX_SECONDS="1",
        **{GOOD_ENV: GOOD, WRONG_ENV: WRONG},
    )
    cmd = [sys.executable, "-m", "bridge", "serve", "--demo", "--data", str(data)]
    cmd += ["--web-port", str(web_port), "--smtp-port", str(smtp_port)]
    cmd += ["--role", "web", "--role", "imap"]
    log_path = data.parent / "serve.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_server(url + "/login", proc, log_path)
        srv = Server(url, smtp_port, data, env)
        srv.cookie = session_cookie(data, env, url)
        _make_admin(data, env)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _core(data: Path, env: dict[str, str]) -> Any:
    from bridge.core import open_core
    from bridge.settings import load_settings

    return open_core(load_settings(data=data, database_url=env.get("BRIDGE_DATABASE_URL") or None))


def _make_admin(data: Path, env: dict[str, str]) -> None:
    from bridge import admin
    from tests.support.browser import READER
    from threads.db import writer

    core = _core(data, env)
    try:
        with writer(core.engine).begin() as conn:
            admin.set_admin(conn, READER, actor="test")
    finally:
        core.close()


def _imap_raws(server: Server) -> int:
    from threads.models import RawMessage

    core = _core(server.data, server.env)
    try:
        raw = RawMessage.__table__
        with core.engine.connect() as conn:
            stmt = select(func.count()).select_from(raw).where(raw.c.source.like("imap%"))
            return int(conn.execute(stmt).scalar_one())
    finally:
        core.close()


def _add_folder(page: Any, folder: str, url: str, secret_env: str, token_url: str) -> None:
    page.locator("#imap-url").fill(url.replace("/INBOX", f"/{folder}"))
    page.locator("#imap-secret-kind").select_option("oauth")
    page.locator("#imap-secret").fill(secret_env)
    page.locator("#oauth-token-url").fill(token_url)
    page.locator("#oauth-client-id").fill("bridge-app")
    page.locator("#imap-policy").select_option("open")
    page.get_by_role("button", name="Add folder").click()
    page.wait_for_load_state()


def _wait_on_page(page: Any, path: str, text: str, timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.goto(path)
        html = page.content()
        if text in html:
            return str(html)
        time.sleep(0.5)
    raise AssertionError(f"'{text}' never showed on {path}")


def test_admin_connects_an_oauth_mailbox_and_sees_its_status(
    chromium: Any, server: Server, endpoint: TokenEndpoint, oauth_dovecot: Dovecot
) -> None:
    """Wrong secret: the plain error; right secret: connected, mail in; no secret shown."""
    context, traffic = new_context(chromium, server)
    page = context.new_page()
    community = f"{server.url}/admin/c/{SLUG}"
    url = oauth_dovecot.url(auth=";AUTH=XOAUTH2")
    oauth_dovecot.append("Wrong", *[raw.replace(b"\n", b"\r\n") for raw in conversation(1, "w")])
    oauth_dovecot.append("INBOX", *[raw.replace(b"\n", b"\r\n") for raw in conversation(2, "g")])
    try:
        page.goto(community)
        _add_folder(page, "Wrong", url, WRONG_ENV, endpoint.url)
        assert "a running bridge picks it up shortly" in page.content()
        plain = "the client secret was rejected by the token endpoint"
        html = _wait_on_page(page, community, f"last error: {plain}")
        assert "state: retrying" in html
        _add_folder(page, "INBOX", url, GOOD_ENV, endpoint.url)
        html = _wait_on_page(page, community, "token expires")
        assert "state: connected" in html
        deadline = time.monotonic() + 90
        while _imap_raws(server) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _imap_raws(server) == 2  # the right folder's two; the wrong one's waits
        page.goto(f"{server.url}/admin/routes")
        pages = html + page.content()
        assert "generic client bridge-app" in pages
        for secret in (GOOD, WRONG, *endpoint.issued):
            assert secret not in pages
        assert traffic.remote == []
    finally:
        context.close()
