"""An OAuth2 token endpoint on loopback for the tests: short-lived tokens Dovecot validates.

It stands in for a generic provider, for Microsoft Entra ID and for Google:
- client credentials with a client secret (`client_secret` in the form);
- client credentials with a certificate assertion (RS256, `x5t` naming the
  certificate), as Entra ID takes them;
- the JWT bearer grant of a Google service account (RS256, `sub` the mailbox).
Every assertion is verified with the public key the test registered, and its
audience must be this endpoint's URL. The tokens it issues are HS256 JWTs
signed with `dovecot_key`, which tests/support/dovecot.py's oauth2 passdb
validates locally, so a token that expired, or that this endpoint did not
sign, is refused by a real IMAP server. Each request's form is kept for the
tests to check its shape; each issued token is kept to grep logs for it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ISSUER = "bridge-test-issuer"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class Client:
    """A registered client: a secret, a certificate (Entra ID), or a service account (Google)."""

    client_id: str
    secret: str = ""
    public_key: Any = None  # verifies the client's assertions
    x5t: str = ""  # the certificate's thumbprint, for certificate assertions


@dataclass
class TokenEndpoint:
    """The server; `url` is its token URL. `lifetime` is each token's life in seconds."""

    dovecot_key: bytes
    user: str  # the mailbox user the client-credentials tokens are for
    lifetime: int = 3
    clients: dict[str, Client] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    signing_key: bytes = b""  # set to another key to issue tokens Dovecot refuses
    down: bool = False  # answer 503, as an endpoint in trouble does
    echo: bool = False  # quote the secret it was sent in its error, as a careless one might

    def __post_init__(self) -> None:
        self.signing_key = self.signing_key or self.dovecot_key
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = endpoint.answer(self.path, form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the tests' output is theirs

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.base}/token"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- answers -------------------------------------------------------------------

    def answer(self, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.requests.append(form)
        if self.down:
            return 503, {"error": "temporarily_unavailable"}
        audience = self.base + path
        grant = form.get("grant_type", "")
        try:
            if grant == "client_credentials":
                client = self._client_credentials(form, audience)
                return 200, self._token(self.user, client.client_id)
            if grant == JWT_BEARER:
                return 200, self._token(*self._service_account(form, audience))
        except Refused as exc:
            return 401 if exc.code == "invalid_client" else 400, {
                "error": exc.code,
                "error_description": exc.description,
            }
        return 400, {"error": "unsupported_grant_type"}

    def _client_credentials(self, form: dict[str, str], audience: str) -> Client:
        client = self.clients.get(form.get("client_id", ""))
        if client is None:
            raise Refused("invalid_client", "TEST0001: no such client")
        if "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE or not client.x5t:
                raise Refused("invalid_client", "TEST0002: not a certificate client")
            header = jwt.get_unverified_header(form["client_assertion"])
            if header.get("x5t") != client.x5t:
                raise Refused("invalid_client", "TEST0003: unknown certificate thumbprint")
            claims = _verify(form["client_assertion"], client.public_key, audience)
            if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
                raise Refused("invalid_client", "TEST0004: assertion not for this client")
            return client
        if not client.secret or not secrets.compare_digest(
            form.get("client_secret", ""), client.secret
        ):
            said = f" '{form.get('client_secret', '')}'" if self.echo else ""
            raise Refused("invalid_client", f"TEST7000215: Invalid client secret{said} provided.")
        return client

    def _service_account(self, form: dict[str, str], audience: str) -> tuple[str, str]:
        assertion = form.get("assertion", "")
        issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss", "")
        client = self.clients.get(str(issuer))
        if client is None or client.public_key is None:
            raise Refused("invalid_grant", "Invalid JWT Signature.")
        claims = _verify(assertion, client.public_key, audience)
        if claims.get("scope") != "https://mail.google.com/":
            raise Refused("invalid_scope", "Not the mail scope.")
        return str(claims.get("sub", "")), client.client_id

    def _token(self, user: str, client_id: str) -> dict[str, Any]:
        now = int(time.time())
        claims = {"sub": user, "iss": ISSUER, "iat": now, "exp": now + self.lifetime}
        claims |= {"client": client_id, "jti": secrets.token_hex(8)}  # each token unique
        token = jwt.encode(claims, self.signing_key, algorithm="HS256")
        self.issued.append(token)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime}


class Refused(Exception):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(code)
        self.code = code
        self.description = description


def _verify(assertion: str, key: Any, audience: str) -> dict[str, Any]:
    try:
        return dict(
            jwt.decode(
                assertion,
                key,
                algorithms=["RS256"],
                audience=audience,
                options={"require": ["exp", "iat", "aud", "iss"]},
            )
        )
    except jwt.PyJWTError as exc:
        raise Refused("invalid_client", f"assertion refused: {type(exc).__name__}") from exc


# -- keys a test registers ---------------------------------------------------------


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def certificate_client(endpoint: TokenEndpoint, client_id: str, pem_file: Path) -> Client:
    """An app with a self-signed certificate: key and certificate written to `pem_file`."""
    key = rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bridge test app")])
    now = time.time()
    from datetime import UTC, datetime, timedelta

    start = datetime.fromtimestamp(now, UTC) - timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    pem_file.write_bytes(private_pem(key) + cert.public_bytes(serialization.Encoding.PEM))
    der = cert.public_bytes(serialization.Encoding.DER)
    thumb = base64.urlsafe_b64encode(hashlib.sha1(der, usedforsecurity=False).digest())
    client = Client(client_id, public_key=key.public_key(), x5t=thumb.rstrip(b"=").decode())
    endpoint.clients[client_id] = client
    return client


def service_account(endpoint: TokenEndpoint, key_file: Path, email: str) -> Client:
    """A Google-style service account key file whose token_uri is this endpoint."""
    key = rsa_key()
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": email,
                "client_id": "1234567890",
                "private_key_id": "test-key-1",
                "private_key": private_pem(key).decode(),
                "token_uri": endpoint.url,
            }
        )
    )
    client = Client(email, public_key=key.public_key())
    endpoint.clients[email] = client
    return client
