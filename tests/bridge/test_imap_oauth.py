"""Connected mailboxes over OAuth2: the bridge fetches, caches and renews its own tokens.

A real Dovecot whose oauth2 passdb accepts only JWTs it validates itself
(tests/support/dovecot.py, `oauth_key`) and a token endpoint on loopback that
issues tokens living three seconds (tests/support/token_endpoint.py), so a
test sees several token lifetimes. The Microsoft and Google presets talk to the
same endpoint standing in for their token URLs, which checks the shape of
their requests and verifies their signed assertions.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bridge import route_admin
from bridge.cli import main
from bridge.core import Core
from bridge.errors import UsageError
from bridge.worker import drain
from mail.oauth import oauth_client
from tests.support.dovecot import USER, Dovecot
from tests.support.factories import create_community
from tests.support.imap import crlf, raw_count, running, tuned, wait_for
from tests.support.messages import conversation
from tests.support.token_endpoint import (
    Client,
    TokenEndpoint,
    certificate_client,
    service_account,
)
from threads.db import writer
from threads.models import AuditEntry, ImapFolder

FOLDERS = ImapFolder.__table__
SECRET_ENV = "BRIDGE_TEST_OAUTH_SECRET"
CLIENT_ID = "bridge-test-app"


@pytest.fixture
def endpoint() -> Iterator[TokenEndpoint]:
    server = TokenEndpoint(dovecot_key=secrets.token_bytes(32), user=USER, lifetime=3)
    yield server
    server.close()


@pytest.fixture
def oauth_dovecot(endpoint: TokenEndpoint) -> Iterator[Dovecot]:
    server = Dovecot(oauth_key=endpoint.dovecot_key)
    yield server
    server.close()


@pytest.fixture
def eng(core: Core, endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch) -> Core:
    """Community `eng`, and a client registered at the endpoint with its secret in the env."""
    secret = "client-secret-" + secrets.token_hex(8)
    endpoint.clients[CLIENT_ID] = Client(CLIENT_ID, secret=secret)
    monkeypatch.setenv(SECRET_ENV, secret)
    create_community(core)
    return core


def add_folder(core: Core, dovecot: Dovecot, **oauth: str) -> int:
    oauth.setdefault("provider", "generic")
    client = oauth_client(oauth.pop("provider"), **oauth)
    with writer(core.engine).begin() as conn:
        url = route_admin.add_imap_route(
            conn, "eng", dovecot.url(auth=";AUTH=XOAUTH2"), oauth=client, policy="open"
        )
    with core.engine.connect() as conn:
        return int(conn.execute(select(FOLDERS.c.id).where(FOLDERS.c.url == url)).scalar_one())


def generic(endpoint: TokenEndpoint) -> dict[str, str]:
    return {"token_url": endpoint.url, "client_id": CLIENT_ID, "secret_env": SECRET_ENV}


def folder_row(core: Core, folder_id: int) -> Any:
    with core.engine.connect() as conn:
        return conn.execute(select(FOLDERS).where(FOLDERS.c.id == folder_id)).one()


def cli(core: Core, *args: str) -> Any:
    env = {
        "BRIDGE_DATA": str(core.settings.data),
        "BRIDGE_DATABASE_URL": core.settings.database_url,
        "BRIDGE_VERIFY_SENDERS": "off",
    }
    return CliRunner().invoke(main, list(args), env=env)


def leaked(endpoint: TokenEndpoint, text: str) -> list[str]:
    """Tokens, secrets and assertions the endpoint saw or issued that appear in `text`."""
    sent = [
        value
        for form in endpoint.requests
        for key, value in form.items()
        if key in ("client_secret", "client_assertion", "assertion")
    ]
    return [s for s in [*endpoint.issued, *sent] if s in text]


# -- the poller over several token lifetimes ----------------------------------------------


def test_mail_keeps_arriving_across_token_lifetimes_and_a_restart(
    eng: Core,
    endpoint: TokenEndpoint,
    oauth_dovecot: Dovecot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tokens live 3 s: the poller logs in again with fresh ones, survives a Dovecot
    restart, misses nothing, and no token or secret reaches the logs or the status."""
    caplog.set_level(logging.DEBUG)
    folder = add_folder(eng, oauth_dovecot, **generic(endpoint))
    mail = [crlf(raw) for raw in conversation(5, "oauth")]
    with running(eng, tuned(eng, imap_idle_seconds=60)):
        for n, raw in enumerate(mail, start=1):
            tokens = len(endpoint.issued)
            oauth_dovecot.append("INBOX", raw)
            wait_for(lambda n=n: raw_count(eng) == n, f"message {n} stored")
            if n == 3:
                oauth_dovecot.restart()  # the session dies; the next login needs a token
            # The next message waits for a new token, so each one spans a token lifetime.
            wait_for(lambda t=tokens: len(endpoint.issued) > t, "a fresh token")
        wait_for(lambda: folder_row(eng, folder).status == "connected", "status connected")
    drain(eng)
    assert raw_count(eng) == 5
    assert len(endpoint.issued) >= 5
    # The endpoint only ever saw client credentials, and Dovecot logged in with tokens.
    assert {f["grant_type"] for f in endpoint.requests} == {"client_credentials"}
    assert "method=XOAUTH2" in oauth_dovecot.log_text()
    row = folder_row(eng, folder)
    assert row.token_expires_at is not None
    assert row.status_error == ""
    listed = cli(eng, "route", "list")
    assert "state: connected" in listed.output
    assert "token expires:" in listed.output
    assert "generic client bridge-test-app" in listed.output
    assert leaked(endpoint, caplog.text) == []
    assert leaked(endpoint, listed.output + json.dumps(row._asdict(), default=str)) == []


def test_wrong_secret_says_so_in_plain_words_and_loses_nothing(
    eng: Core,
    endpoint: TokenEndpoint,
    oauth_dovecot: Dovecot,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A rejected secret: the folder shows the plain error; the mail waits in the mailbox
    and arrives once the secret is put right (read again at the next fetch, no restart)."""
    caplog.set_level(logging.DEBUG)
    good = endpoint.clients[CLIENT_ID].secret
    monkeypatch.setenv(SECRET_ENV, "not-the-secret-" + secrets.token_hex(4))
    folder = add_folder(eng, oauth_dovecot, **generic(endpoint))
    oauth_dovecot.append("INBOX", *[crlf(raw) for raw in conversation(2, "wrong")])
    plain = "the client secret was rejected by the token endpoint"
    with running(eng):
        wait_for(lambda: plain in folder_row(eng, folder).status_error, "the plain error")
        assert folder_row(eng, folder).status == "retrying"
        listed = cli(eng, "route", "list")
        assert f"last error: {plain}" in listed.output
        assert raw_count(eng) == 0
        assert len(oauth_dovecot.uids()) == 2
        monkeypatch.setenv(SECRET_ENV, good)
        wait_for(lambda: raw_count(eng) == 2, "both messages once the secret is right")
        wait_for(lambda: folder_row(eng, folder).status == "connected", "connected")
    assert folder_row(eng, folder).status_error == ""
    assert leaked(endpoint, caplog.text) == []
    assert good not in caplog.text


def test_token_the_server_refuses_is_replaced(
    eng: Core, endpoint: TokenEndpoint, oauth_dovecot: Dovecot
) -> None:
    """A token Dovecot refuses (signed with a key it does not know) is dropped at once: the
    poller fetches another instead of retrying the cached one until it expires."""
    endpoint.lifetime = 3600  # a cached token would otherwise be reused for an hour
    endpoint.signing_key = secrets.token_bytes(32)
    folder = add_folder(eng, oauth_dovecot, **generic(endpoint))
    oauth_dovecot.append("INBOX", crlf(conversation(1, "refused")[0]))
    with running(eng):
        wait_for(lambda: len(endpoint.issued) >= 2, "a second token after the refusal")
        assert "refused the access token" in folder_row(eng, folder).status_error
        endpoint.signing_key = endpoint.dovecot_key
        wait_for(lambda: raw_count(eng) == 1, "the message, with a token Dovecot accepts")


def test_endpoint_down_keeps_the_session_until_the_token_expires(
    eng: Core, endpoint: TokenEndpoint
) -> None:
    """Renewal failing: the still-valid token keeps being used and the error is kept;
    once it has expired, asking for a token says the endpoint cannot answer."""
    from mail.errors import OAuthError
    from mail.oauth import TokenSource

    now = [1000.0]
    source = TokenSource(oauth_client("generic", **generic(endpoint)), USER, clock=lambda: now[0])
    first = source.token()
    assert source.token() == first
    assert not source.due()
    now[0] += 0.81 * endpoint.lifetime
    assert source.due()
    endpoint.down = True
    assert source.token() == first  # renewal failed; the token is still good
    assert "HTTP 503" in source.last_error
    assert not source.due()
    now[0] += endpoint.lifetime
    with pytest.raises(OAuthError, match="HTTP 503"):
        source.token()
    endpoint.down = False
    now[0] += 2
    assert source.token() != first
    assert source.last_error == ""


# -- presets against the stand-in endpoint -------------------------------------------


def test_microsoft_certificate_preset(
    eng: Core, endpoint: TokenEndpoint, oauth_dovecot: Dovecot, tmp_path: Path
) -> None:
    """Entra ID app-only access with a certificate: the assertion is RS256 with the
    certificate's x5t, for this client and this token URL; `route test` works end to end."""
    pem = tmp_path / "app.pem"
    certificate_client(endpoint, "00000000-app", pem)
    token_url = f"{endpoint.base}/contoso.example/oauth2/v2.0/token"
    add_folder(
        eng,
        oauth_dovecot,
        provider="microsoft",
        tenant="contoso.example",
        client_id="00000000-app",
        certificate_file=str(pem),
        token_url=token_url,
    )
    oauth_dovecot.append("INBOX", crlf(conversation(1, "ms")[0]))
    tested = cli(eng, "route", "test", "eng")
    assert tested.exit_code == 0, tested.output
    assert "token    ok" in tested.output
    assert "select   ok  INBOX: 1 messages" in tested.output
    (form,) = endpoint.requests
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "https://outlook.office365.com/.default"
    assert form["client_assertion_type"].endswith(":client-assertion-type:jwt-bearer")
    assert "client_secret" not in form
    assert leaked(endpoint, tested.output) == []


def test_microsoft_secret_preset_fills_in_tenant_url_and_scope(
    eng: Core, endpoint: TokenEndpoint, oauth_dovecot: Dovecot
) -> None:
    """With a secret: the tenant's token URL and Exchange's scope, the secret in the form."""
    client = oauth_client(
        "microsoft", tenant="contoso.example", client_id=CLIENT_ID, secret_env=SECRET_ENV
    )
    assert client.endpoint() == (
        "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token"
    )
    # The stand-in endpoint in place of login.microsoftonline.com, as a test needs it.
    add_folder(
        eng,
        oauth_dovecot,
        provider="microsoft",
        tenant="contoso.example",
        client_id=CLIENT_ID,
        secret_env=SECRET_ENV,
        token_url=endpoint.url,
    )
    tested = cli(eng, "route", "test", "eng")
    assert tested.exit_code == 0, tested.output
    (form,) = endpoint.requests
    assert set(form) == {"grant_type", "client_id", "client_secret", "scope"}
    assert form["scope"] == "https://outlook.office365.com/.default"
    assert form["client_secret"] == endpoint.clients[CLIENT_ID].secret


def test_google_service_account_preset(
    eng: Core, endpoint: TokenEndpoint, oauth_dovecot: Dovecot, tmp_path: Path
) -> None:
    """Domain-wide delegation: a JWT bearer grant whose assertion, signed by the account's
    key, names the mailbox user as sub; the token URL comes from the key file."""
    key_file = tmp_path / "sa.json"
    service_account(endpoint, key_file, "bridge@project.iam.example")
    add_folder(eng, oauth_dovecot, provider="google", service_account_file=str(key_file))
    tested = cli(eng, "route", "test", "eng")
    assert tested.exit_code == 0, tested.output
    (form,) = endpoint.requests
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert set(form) == {"grant_type", "assertion"}
    assert leaked(endpoint, tested.output) == []


def test_google_key_not_registered_is_refused_in_plain_words(
    eng: Core, endpoint: TokenEndpoint, oauth_dovecot: Dovecot, tmp_path: Path
) -> None:
    """A service account key the endpoint does not know: the grant refused, said plainly."""
    key_file = tmp_path / "sa.json"
    service_account(endpoint, key_file, "bridge@project.iam.example")
    endpoint.clients.clear()  # the key was deleted in the console
    add_folder(eng, oauth_dovecot, provider="google", service_account_file=str(key_file))
    tested = cli(eng, "route", "test", "eng")
    assert tested.exit_code == 1
    assert "token    FAILED  the token endpoint refused the grant" in tested.output


# -- configuration -----------------------------------------------------------------


def test_route_add_oauth_stores_names_never_secrets(
    eng: Core, endpoint: TokenEndpoint, oauth_dovecot: Dovecot
) -> None:
    """The CLI records the variable's name; the row, the audit trail and the listing hold
    neither the secret nor a token."""
    url = oauth_dovecot.url(auth=";AUTH=XOAUTH2")
    added = cli(
        eng,
        *("route", "add", "eng", "--imap", url, "--oauth-token-url", endpoint.url),
        *("--oauth-client-id", CLIENT_ID, "--oauth-client-secret-env", SECRET_ENV),
    )
    assert added.exit_code == 0, added.output
    secret = endpoint.clients[CLIENT_ID].secret
    with eng.engine.connect() as conn:
        row = conn.execute(select(FOLDERS)).one()
        audit = conn.execute(select(AuditEntry.__table__)).all()
    assert json.loads(row.oauth)["secret_env"] == SECRET_ENV
    stored = json.dumps([row._asdict(), *[a._asdict() for a in audit]], default=str)
    assert secret not in stored
    assert SECRET_ENV in stored
    tested = cli(eng, "route", "test", "eng", url)
    assert tested.exit_code == 0, tested.output
    assert leaked(endpoint, tested.output) == []
    assert secret not in tested.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--oauth-client-id", "x"), "token URL"),
        (("--oauth", "microsoft", "--oauth-client-id", "x"), "give the tenant"),
        (
            (
                "--oauth",
                "microsoft",
                "--oauth-tenant",
                "t",
                "--oauth-client-id",
                "x",
                "--oauth-certificate-file",
                "app.pem",
            ),
            "exactly one of",
        ),
        (("--oauth", "google"), "service account"),
        (("--oauth-token-url", "http://idp.example/t", "--oauth-client-id", "x"), "https"),
    ],
)
def test_route_add_oauth_refuses_incomplete_clients(
    eng: Core, oauth_dovecot: Dovecot, args: tuple[str, ...], says: str
) -> None:
    """A client missing what its provider needs is refused with what is missing."""
    url = oauth_dovecot.url(auth=";AUTH=XOAUTH2")
    added = cli(eng, "route", "add", "eng", "--imap", url, "--oauth-client-secret-env", "V", *args)
    assert added.exit_code != 0
    assert says in added.output


def test_oauth_needs_xoauth2_in_the_url(eng: Core, endpoint: TokenEndpoint) -> None:
    """Tokens go with ;AUTH=XOAUTH2: a client on a password URL is refused at once."""
    with writer(eng.engine).begin() as conn, pytest.raises(UsageError, match="AUTH=XOAUTH2"):
        route_admin.add_imap_route(
            conn,
            "eng",
            "imaps://bridge@mail.example.com/INBOX",
            oauth=oauth_client("generic", **generic(endpoint)),
        )


def test_bridge_toml_oauth_folder_is_polled(
    eng: Core, endpoint: TokenEndpoint, oauth_dovecot: Dovecot
) -> None:
    """`[[imap_folders]]` with an `oauth` table: written into the table at start, polled."""
    from bridge.settings import ImapFolderSetting, OAuthSetting

    oauth = OAuthSetting(token_url=endpoint.url, client_id=CLIENT_ID, client_secret_env=SECRET_ENV)
    item = ImapFolderSetting(
        community="eng", url=oauth_dovecot.url(auth=";AUTH=XOAUTH2"), oauth=oauth, policy="open"
    )
    oauth_dovecot.append("INBOX", crlf(conversation(1, "toml")[0]))
    with running(eng, tuned(eng, imap_folders=[item])):
        wait_for(lambda: raw_count(eng) == 1, "the message")
    with eng.engine.connect() as conn:
        row = conn.execute(select(FOLDERS)).one()
    assert (row.origin, json.loads(row.oauth)["client_id"]) == ("settings", CLIENT_ID)


def test_bridge_toml_oauth_refuses_a_password_as_well() -> None:
    """In bridge.toml too, a folder has one way to log in."""
    from pydantic import ValidationError

    from bridge.settings import ImapFolderSetting, OAuthSetting

    oauth = OAuthSetting(provider="google", service_account_file="/etc/sa.json")
    with pytest.raises(ValidationError, match="exactly one of"):
        ImapFolderSetting(community="eng", url="imaps://u@h/INBOX", oauth=oauth, password_env="P")


@pytest.mark.parametrize("name", ["BRIDGE_SECRET_KEY", "BRIDGE_DATABASE_URL", "bridge_smtp_relay"])
def test_no_folder_may_send_the_bridges_own_settings_as_its_secret(
    eng: Core, endpoint: TokenEndpoint, name: str
) -> None:
    """An admin naming the signing key or the database URL as a folder's secret would have
    it sent to a server they choose: refused, as a password and as a client secret."""
    url = "imaps://bridge;AUTH=XOAUTH2@mail.example.com/INBOX"
    client = oauth_client("generic", token_url=endpoint.url, client_id="x", secret_env=name)
    with writer(eng.engine).begin() as conn, pytest.raises(UsageError, match="own settings"):
        route_admin.add_imap_route(conn, "eng", url, oauth=client)
    with writer(eng.engine).begin() as conn, pytest.raises(UsageError, match="own settings"):
        route_admin.add_imap_route(conn, "eng", url.replace(";AUTH=XOAUTH2", ""), password_env=name)


def test_an_endpoint_quoting_the_secret_back_does_not_leak_it(
    eng: Core, endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Providers add their own line to errors; should one quote what it was sent, the
    error the bridge keeps and shows has it blanked out."""
    from mail.errors import OAuthError
    from mail.oauth import TokenSource

    wrong = "wrong-secret-" + secrets.token_hex(6)
    monkeypatch.setenv(SECRET_ENV, wrong)
    endpoint.echo = True
    source = TokenSource(oauth_client("generic", **generic(endpoint)), USER)
    with pytest.raises(OAuthError) as refused:
        source.token()
    assert str(refused.value).startswith("the client secret was rejected by the token endpoint")
    assert "[hidden]" in str(refused.value)
    assert wrong not in str(refused.value)
    assert wrong not in source.last_error


def _outward_address() -> str:
    """This machine's own non-loopback IPv4 address (no packet is sent), or skip."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe_socket:
        try:
            probe_socket.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the route
            address = str(probe_socket.getsockname()[0])
        except OSError:
            pytest.skip("no non-loopback IPv4 address on this machine")
    if address.startswith("127."):
        pytest.skip("no non-loopback IPv4 address on this machine")
    return address


def test_no_token_is_sent_where_starttls_was_stripped(endpoint: TokenEndpoint) -> None:
    """imap:// to a host that is not this one, whose greeting offers no STARTTLS (as when
    someone on the path strips it): the token is not even fetched, let alone sent."""
    import socket
    import threading

    from mail.imap import ImapUrl, PollerConfig, log_in

    address = _outward_address()
    server = socket.create_server((address, 0))
    seen: list[bytes] = []

    def answer() -> None:
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] a server without TLS\r\n")
            for line in lines:
                seen.append(line)
                tag, _, command = line.decode().strip().partition(" ")
                if command.upper() == "CAPABILITY":
                    conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\n")
                conn.sendall(f"{tag} OK done\r\n".encode())

    threading.Thread(target=answer, daemon=True).start()
    fetched: list[str] = []
    url = ImapUrl(False, USER, address, server.getsockname()[1], "INBOX", xoauth2=True)
    config = PollerConfig(url, lambda: fetched.append("token") or "a-token", "eng", timeout=10)
    try:
        with pytest.raises(ConnectionError, match="never sent unencrypted"):
            log_in(config)
    finally:
        server.close()
    assert fetched == []
    assert not any(b"AUTHENTICATE" in line.upper() for line in seen)


def test_route_test_names_the_step_that_failed(
    eng: Core, endpoint: TokenEndpoint, oauth_dovecot: Dovecot
) -> None:
    """Token and login work, the folder does not exist: `route test` says select failed."""
    client = oauth_client("generic", **generic(endpoint))
    url = oauth_dovecot.url("Missing", auth=";AUTH=XOAUTH2")
    with writer(eng.engine).begin() as conn:
        route_admin.add_imap_route(conn, "eng", url, oauth=client)
    tested = cli(eng, "route", "test", "eng", url)
    assert tested.exit_code == 1
    assert "token    ok" in tested.output
    assert "login    ok" in tested.output
    assert "select   FAILED" in tested.output


def test_token_endpoint_answers_in_plain_words() -> None:
    """Each answer an endpoint may give becomes a token or a sentence an admin can act on."""
    from mail.errors import OAuthError
    from mail.oauth import read_answer

    secret = oauth_client(
        "generic", token_url="https://idp.example/t", client_id="a", secret_env="V"
    )
    google = oauth_client("google", service_account_file="/etc/sa.json")
    answer = json.dumps({"access_token": "t", "expires_in": 1e12}).encode()
    assert read_answer(200, answer, secret, 0.0).lifetime == 86400.0
    cases = [
        (503, b"<html>down</html>", secret, "answered HTTP 503 without JSON"),
        (503, b"{}", secret, "refused the request (HTTP 503)"),
        (400, b'{"error": "odd_error"}', secret, "refused the request (HTTP 400, odd_error)"),
        (401, b'{"error": "invalid_client"}', secret, "the client secret was rejected"),
        (400, b'{"error": "invalid_grant"}', google, "refused the grant (the service account key"),
        (400, b'{"error": "unauthorized_client"}', google, "domain-wide delegation"),
        (200, b'{"token_type": "Bearer"}', secret, "holds no access token"),
    ]
    for status, body, client, says in cases:
        with pytest.raises(OAuthError) as refused:
            read_answer(status, body, client, 0.0)
        assert says in str(refused.value)
