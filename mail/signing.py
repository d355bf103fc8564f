"""DKIM signatures on the mail we send (RFC 6376), made with dkimpy, and the keys for them.

Pure: a `DkimSigner` holds a selector, a domain and a private key (PEM) and
turns the bytes of one message into the same bytes with a DKIM-Signature on
top; where the key lives and when signing is on is bridge/dkim_keys.py's job.

Why these choices:
- relaxed/simple canonicalization (dkimpy's default): relays re-fold and
  re-space headers often, bodies rarely; relaxed headers survive the former.
- The signed headers are the ones a reader or a receiver acts on: who it is
  from and to, what it says it is, where it threads, how to leave the list,
  and the MIME structure. Reply-To, Cc, In-Reply-To, References and the List
  headers are signed even when absent (an absent header signs as empty, RFC
  6376 5.4), so nobody on the way can add a Reply-To or an unsubscribe link
  of their own; From, Subject and List-Unsubscribe are signed twice over, so
  a second copy cannot be prepended either (5.4.2).
- RSA 2048: what every receiver verifies. ed25519 (RFC 8463) is not offered:
  dkimpy needs pynacl for it, and receivers still require an RSA signature
  beside it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_BITS = 2048

SIGNED_HEADERS: tuple[bytes, ...] = (
    b"from",
    b"from",
    b"to",
    b"cc",
    b"reply-to",
    b"subject",
    b"subject",
    b"date",
    b"message-id",
    b"in-reply-to",
    b"references",
    b"list-id",
    b"list-post",
    b"list-archive",
    b"list-unsubscribe",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"auto-submitted",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
)

# A DNS label (RFC 1035 2.3.1, with digits first allowed as RFC 1123 does).
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class SigningKeyError(ValueError):
    """The private key cannot sign: unreadable, not a PEM RSA key, or too short."""


def valid_selector(selector: str) -> bool:
    """A selector is one or more DNS labels (RFC 6376 3.1); no slash, no dots at the ends."""
    return bool(selector) and all(_LABEL.match(part) for part in selector.lower().split("."))


def valid_domain(domain: str) -> bool:
    parts = domain.lower().split(".")
    return len(parts) >= 2 and all(_LABEL.match(part) for part in parts)


@dataclass(frozen=True, slots=True)
class DkimSigner:
    """Signs messages as `selector._domainkey.domain` with one RSA key."""

    selector: str
    domain: str
    private_pem: bytes

    def __post_init__(self) -> None:
        public_record(self.private_pem)  # refuse a key that cannot sign, now rather than later

    @property
    def record_name(self) -> str:
        return record_name(self.selector, self.domain)

    def sign(self, raw: bytes) -> bytes:
        """`raw` (CRLF line endings) with our DKIM-Signature header prepended."""
        header: bytes = dkim.sign(
            raw,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.private_pem,
            include_headers=list(SIGNED_HEADERS),
            linesep=b"\r\n",
        )
        return header + raw


def record_name(selector: str, domain: str) -> str:
    """Where the public key is published (RFC 6376 3.6.2.1)."""
    return f"{selector}._domainkey.{domain}"


def generate_key() -> bytes:
    """A new RSA 2048 private key, PEM (PKCS#1, the form dkimpy reads), unencrypted."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def public_record(private_pem: bytes) -> str:
    """The TXT record value that publishes the public half of `private_pem`."""
    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError) as exc:
        # The library's message names the format problem, never the key's content.
        raise SigningKeyError(f"not a usable PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningKeyError("not an RSA key: DKIM signing here uses RSA")
    if key.key_size < 1024:
        raise SigningKeyError(f"RSA key of {key.key_size} bits: receivers want 1024 at least")
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode("ascii")


def record_key(record: str) -> str:
    """The p= value of a DKIM key record ('' when it has none): what has to match."""
    for tag in record.split(";"):
        name, _, value = tag.strip().partition("=")
        if name.strip() == "p":
            return "".join(value.split())
    return ""
