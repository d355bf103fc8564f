"""SMTP AUTH for trusted relays: scrypt password hashes, the user list, the authenticator.

AUTH PLAIN/LOGIN is offered only after STARTTLS (the listener wires this);
a relay that authenticated is exempt from the rate limit and is recorded as
`ESMTPA`/`ESMTPSA` in the message's trace. Hashes use the stdlib's scrypt, so
BRIDGE_SMTP_AUTH_USERS never holds a password in the clear.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session
from aiosmtpd.smtp import Envelope as SMTPEnvelope

from mail.errors import InvalidInput
from mail.smtp.trace import peer_ip

log = logging.getLogger("mail.smtp")  # the package's one name, the one admins' filters know

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash` (base64) for BRIDGE_SMTP_AUTH_USERS; the stdlib's scrypt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(stored: str, password: bytes) -> bool:
    """Constant-time check of `password` against a `hash_password` string."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password,
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


@functools.cache
def _dummy_hash() -> str:
    # Checked when the user is unknown, so a wrong name costs as long as a wrong password.
    return hash_password(secrets.token_urlsafe(16))


def load_auth_users(value: str) -> dict[str, str]:
    """`user:hash` pairs, comma-separated, or the path of a file with one pair per line."""
    value = value.strip()
    if not value:
        return {}
    path = Path(value)
    entries = path.read_text().splitlines() if path.is_file() else value.split(",")
    users = {}
    for entry in (e.strip() for e in entries):
        if not entry or entry.startswith("#"):
            continue
        user, sep, stored = entry.partition(":")
        if not sep or not stored.startswith("scrypt$"):
            raise InvalidInput("SMTP AUTH users: expected user:scrypt$... (see hash_password)")
        users[user.strip()] = stored.strip()
    return users


class Authenticator:
    """aiosmtpd's `authenticator` callback: checks a login and password against the users."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = dict(users)

    def __call__(
        self, server: SMTP, session: Session, envelope: SMTPEnvelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = data.login.decode("utf-8", "replace")
        ok = verify_password(self._users.get(user) or _dummy_hash(), data.password)
        if not ok:
            log.warning("SMTP AUTH failed from %s", peer_ip(session))
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=user)
