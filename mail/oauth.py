"""OAuth2 access tokens for IMAP's XOAUTH2: the bridge fetches and refreshes its own.

A service has no person to sign in, so each provider offers a grant for it:
- client credentials with a secret (RFC 6749 4.4), any provider;
- Microsoft Entra ID's client credentials, with a secret or a certificate: the
  client signs a short assertion (RFC 7523 client authentication, RS256 with
  the certificate's thumbprint as `x5t`) instead of sending a secret;
- Google's service accounts with domain-wide delegation: a JWT bearer grant
  (RFC 7523 2.1) whose assertion, signed with the account's key, names the
  mailbox as `sub`.

A `TokenSource` fetches a token when one is needed, keeps it in memory only,
and fetches the next one at 80 % of its lifetime; a failed fetch is retried
with backoff while the old token still works. Errors say what went wrong in
plain words and never carry a secret, an assertion or a token. Like the rest
of `mail`, this imports nothing of `bridge`, `threads` or `web`.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mail.errors import OAuthError

PROVIDERS = ("generic", "microsoft", "google")
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"  # noqa: S105
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
GOOGLE_SCOPE = "https://mail.google.com/"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_AT = 0.8  # of a token's lifetime
ASSERTION_SECONDS = 600  # how long a signed assertion is good for; it is used at once
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,127}$")


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """How to get tokens for one folder. Names secrets (a variable, key files), holds none."""

    provider: str = "generic"
    token_url: str = ""  # empty: the preset's (Microsoft: from the tenant; Google: the key file's)
    client_id: str = ""
    secret_env: str = ""  # the variable holding the client secret
    scope: str = ""
    tenant: str = ""  # Microsoft: the directory (tenant) id or domain
    certificate_file: str = ""  # Microsoft: PEM with the certificate and its private key
    service_account_file: str = ""  # Google: the service account's JSON key

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> OAuthClient | None:
        if not text:
            return None
        known = {f.name for f in fields(cls)}
        data = json.loads(text)
        return cls(**{k: str(v) for k, v in data.items() if k in known})

    def endpoint(self) -> str:
        """The token URL, the preset's filled in (Google's comes from the key file)."""
        if self.token_url:
            return self.token_url
        if self.provider == "microsoft":
            return MICROSOFT_TOKEN_URL.format(tenant=self.tenant)
        if self.provider == "google":
            return str(_service_account(self.service_account_file).get("token_uri", ""))
        return ""

    def describe(self) -> str:
        """One line for listings: the provider and what authenticates the client."""
        if self.provider == "google":
            return f"google service account {Path(self.service_account_file).name}"
        how = f"certificate {Path(self.certificate_file).name}" if self.certificate_file else ""
        how = how or f"secret in ${self.secret_env}"
        where = f"tenant {self.tenant}" if self.tenant else urlsplit(self.endpoint()).netloc
        return f"{self.provider} client {self.client_id} ({where}, {how})"


def oauth_client(
    provider: str,
    *,
    token_url: str = "",
    client_id: str = "",
    secret_env: str = "",
    scope: str = "",
    tenant: str = "",
    certificate_file: str = "",
    service_account_file: str = "",
) -> OAuthClient:
    """A checked client with the preset's scope filled in; ValueError says what is wrong."""
    if provider not in PROVIDERS:
        raise ValueError(f"OAuth provider '{provider}': choose generic, microsoft or google")
    if secret_env and not _ENV_NAME.match(secret_env):
        raise ValueError(f"'{secret_env}' is not an environment variable name")
    if token_url:
        _check_token_url(token_url)
    if provider == "google":
        if not service_account_file or client_id or secret_env or certificate_file or tenant:
            raise ValueError(
                "google: give the service account's key file (--oauth-service-account-file)"
                " and no client id, secret, certificate or tenant"
            )
        scope = scope or GOOGLE_SCOPE
    elif provider == "microsoft":
        if not client_id or bool(secret_env) == bool(certificate_file) or service_account_file:
            raise ValueError(
                "microsoft: give the application's client id and exactly one of"
                " a secret (--oauth-client-secret-env) or a certificate (--oauth-certificate-file)"
            )
        if not tenant and not token_url:
            raise ValueError("microsoft: give the tenant (--oauth-tenant)")
        if tenant and not _TENANT.match(tenant):
            raise ValueError(f"'{tenant}' is not a tenant id or domain")
        scope = scope or MICROSOFT_SCOPE
    else:
        if not token_url or not client_id or not secret_env:
            raise ValueError(
                "OAuth2 client credentials need a token URL, a client id and the variable"
                " holding the client secret (--oauth-client-secret-env)"
            )
        if tenant or certificate_file or service_account_file:
            raise ValueError("a tenant, certificate or service account goes with a preset")
    return OAuthClient(
        provider=provider,
        token_url=token_url,
        client_id=client_id,
        secret_env=secret_env,
        scope=scope,
        tenant=tenant,
        certificate_file=_absolute(certificate_file),
        service_account_file=_absolute(service_account_file),
    )


def _absolute(path: str) -> str:
    # `bridge serve` may run from another directory than `route add`.
    return str(Path(path).expanduser().resolve()) if path else ""


def _check_token_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    # Plain HTTP would carry the secret in clear: only to this host (tests, a local proxy).
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return
    raise ValueError(f"token URL '{url}': use https:// (plain http only to this host)")


def is_loopback(host: str) -> bool:
    """This host: where plain HTTP and unencrypted IMAP carry nothing across a network."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- the requests ------------------------------------------------------------------


def token_request(client: OAuthClient, user: str, now: float) -> tuple[str, dict[str, str]]:
    """The token URL and the form to post for `user`'s mailbox; reads secrets and keys."""
    if client.provider == "google":
        account = _service_account(client.service_account_file)
        url = client.token_url or str(account.get("token_uri", ""))
        try:
            _check_token_url(url)
        except ValueError as exc:
            raise OAuthError(f"the service account key file's token_uri: {exc}") from None
        claims = {
            "iss": account.get("client_email", ""),
            "sub": user,  # domain-wide delegation: act as the mailbox's user
            "scope": client.scope,
            "aud": url,
            "iat": int(now),
            "exp": int(now) + ASSERTION_SECONDS,
        }
        header = {"kid": str(account.get("private_key_id", ""))}
        assertion = _sign(claims, str(account.get("private_key", "")), header, "service account")
        return url, {"grant_type": JWT_BEARER, "assertion": assertion}
    url = client.endpoint()
    form = {"grant_type": "client_credentials", "client_id": client.client_id}
    if client.scope:
        form["scope"] = client.scope
    if client.certificate_file:
        form["client_assertion_type"] = ASSERTION_TYPE
        form["client_assertion"] = _certificate_assertion(client, url, now)
    else:
        form["client_secret"] = _secret(client.secret_env)
    return url, form


def _secret(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise OAuthError(f"the client secret's environment variable {name} is not set")
    return value


def _service_account(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise OAuthError(f"cannot read the service account key file: {exc.strerror}") from exc
    except ValueError as exc:
        raise OAuthError("the service account key file is not JSON") from exc
    if not isinstance(data, dict) or not data.get("private_key") or not data.get("client_email"):
        raise OAuthError("the service account key file has no client_email or private_key")
    return data


def _certificate_assertion(client: OAuthClient, audience: str, now: float) -> str:
    try:
        pem = Path(client.certificate_file).read_bytes()
    except OSError as exc:
        raise OAuthError(f"cannot read the certificate file: {exc.strerror}") from exc
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise OAuthError("the certificate file holds no PEM certificate") from exc
    # The thumbprint tells Entra ID which of the app's uploaded certificates signed.
    thumb = hashlib.sha1(cert.public_bytes(Encoding.DER), usedforsecurity=False).digest()
    header = {"x5t": base64.urlsafe_b64encode(thumb).rstrip(b"=").decode()}
    claims = {
        "aud": audience,
        "iss": client.client_id,
        "sub": client.client_id,
        "jti": str(uuid.uuid4()),
        "nbf": int(now),
        "iat": int(now),
        "exp": int(now) + ASSERTION_SECONDS,
    }
    return _sign(claims, pem.decode("ascii", "replace"), header, "certificate")


def _sign(claims: dict[str, Any], key: str, header: dict[str, str], what: str) -> str:
    try:
        return jwt.encode(claims, key, algorithm="RS256", headers=header)
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        # The library's message might quote the key material: say only what failed.
        raise OAuthError(f"the {what}'s private key cannot sign (an RSA key in PEM?)") from exc


# -- the answers -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    obtained: float  # wall-clock seconds
    lifetime: float

    @property
    def refresh_at(self) -> float:
        return self.obtained + REFRESH_AT * self.lifetime

    @property
    def expires_at(self) -> float:
        return self.obtained + self.lifetime


def read_answer(status: int, body: bytes, client: OAuthClient, now: float) -> Token:
    """The token in a token endpoint's answer, or a OAuthError in plain words."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise OAuthError(f"the token endpoint answered HTTP {status} without JSON")
    if status == 200 and isinstance(data.get("access_token"), str) and data["access_token"]:
        try:
            lifetime = float(data.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        # A day at most: an endpoint's "forever" must not stop renewals for good.
        return Token(data["access_token"], now, min(86400.0, max(1.0, lifetime)))
    if status == 200:
        raise OAuthError("the token endpoint's answer holds no access token")
    raise OAuthError(
        explain(str(data.get("error", "")), str(data.get("error_description", "")), client, status)
    )


def explain(error: str, description: str, client: OAuthClient, status: int) -> str:
    """An OAuth2 error code (RFC 6749 5.2) as a sentence an admin can act on."""
    credential = (
        "the service account key"
        if client.provider == "google"
        else "the client certificate"
        if client.certificate_file
        else "the client secret"
    )
    known = {
        "invalid_client": f"{credential} was rejected by the token endpoint",
        "unauthorized_client": "the token endpoint does not allow this client this grant"
        " (for Google: domain-wide delegation for this client id and scope)",
        "invalid_grant": f"the token endpoint refused the grant ({credential} or the mailbox user)",
        "invalid_scope": f"the token endpoint refused the scope '{client.scope}'",
        "invalid_request": "the token endpoint found the request malformed",
        "unsupported_grant_type": "the token endpoint does not offer this grant",
    }
    code = f", {error[:60]}" if error else ""
    text = known.get(error) or f"the token endpoint refused the request (HTTP {status}{code})"
    # Providers add a code and a line (Entra ID: "AADSTS7000215: Invalid client secret").
    first = description.strip().splitlines()[0][:160] if description.strip() else ""
    return f"{text}: {first}" if first else text


def scrub(text: str, form: dict[str, str]) -> str:
    """`text` without the secret or assertion sent, should an endpoint echo them back."""
    for name in ("client_secret", "client_assertion", "assertion"):
        if len(form.get(name, "")) >= 4:
            text = text.replace(form[name], "[hidden]")
    return text


def post_form(
    url: str, form: dict[str, str], timeout: float, context: ssl.SSLContext | None
) -> tuple[int, bytes]:
    """POST the form; the HTTP status and body, error statuses included."""
    # The scheme was checked when the client was made (https, or http to this host).
    request = urllib.request.Request(  # noqa: S310
        url,
        data=urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:  # noqa: S310
            return int(answer.status), bytes(answer.read(1 << 20))
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), bytes(exc.read(1 << 20))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OAuthError(f"the token endpoint could not be reached: {reason}") from None


Poster = Callable[[str, dict[str, str], float, "ssl.SSLContext | None"], tuple[int, bytes]]


class TokenSource:
    """One mailbox user's tokens: fetched when needed, kept in memory, renewed at 80 %.

    After a failed fetch the next try waits (1 s doubling up to `backoff_max`),
    and while the previous token has not expired it is still handed out: a
    token endpoint that is down for a while stops nothing.
    """

    def __init__(
        self,
        client: OAuthClient,
        user: str,
        *,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        backoff_max: float = 300.0,
        clock: Callable[[], float] = time.time,
        post: Poster = post_form,
    ) -> None:
        self.client = client
        self._user = user
        self._timeout = timeout
        self._context = ssl_context
        self._backoff_max = backoff_max
        self._clock = clock
        self._post = post
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._failures = 0
        self._retry_at = 0.0
        self.last_error = ""

    @property
    def expires_at(self) -> float | None:
        token = self._token
        return token.expires_at if token is not None else None

    def due(self) -> bool:
        """Time for a new token: none yet, or 80 % of its life gone and no retry pending."""
        now = self._clock()
        token = self._token
        return token is None or (now >= token.refresh_at and now >= self._retry_at)

    def refused(self) -> None:
        """The server refused the token: forget it, so the next login fetches a new one."""
        with self._lock:
            self._token = None
            self._retry_at = 0.0

    def token(self) -> str:
        with self._lock:
            now = self._clock()
            token = self._token
            fresh_enough = token is not None and (now < token.refresh_at or now < self._retry_at)
            if token is not None and fresh_enough and now < token.expires_at:
                return token.value
            form: dict[str, str] = {}
            try:
                url, form = token_request(self.client, self._user, now)
                status, body = self._post(url, form, self._timeout, self._context)
                fresh = read_answer(status, body, self.client, self._clock())
            except OAuthError as exc:
                self._failures += 1
                self.last_error = scrub(str(exc), form)
                delay = min(self._backoff_max, 2.0 ** min(self._failures - 1, 30))
                self._retry_at = now + delay
                if token is not None and now < token.expires_at:
                    return token.value
                raise OAuthError(self.last_error) from None
            self._token, self._failures, self._retry_at = fresh, 0, 0.0
            self.last_error = ""
            return fresh.value
