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
import hashlib
import time
from dataclasses import dataclass, field

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from dkim.canonicalization import CanonicalizationPolicy

from mail.dns_names import valid_domain as valid_domain
from mail.dns_names import valid_selector as valid_selector
from mail.errors import SigningKeyError, UnsignableMessage
from mail.wire import fold_items

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

# relaxed headers (relays re-fold them), simple body (RFC 6376 3.4).
_CANON = CanonicalizationPolicy.from_c_value(b"relaxed/simple")


@dataclass(frozen=True, slots=True)
class DkimSigner:
    """Signs messages as `selector._domainkey.domain` with one RSA key.

    The parsing, canonicalization and header selection are dkimpy's; the RSA
    operation is OpenSSL's (cryptography). dkimpy's own signing does RSA in
    pure Python, some 15 ms a message here against half a millisecond: the
    difference between signing costing most of the sender's time and little
    of it (bench/outbound.py). Tests verify every kind of our mail with dkimpy.
    """

    selector: str
    domain: str
    private_pem: bytes = field(repr=False)  # never in a log line or a traceback's locals
    _key: rsa.RSAPrivateKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Refuses a key that cannot sign now, at start, rather than at the first message.
        object.__setattr__(self, "_key", _load(self.private_pem))

    @property
    def record_name(self) -> str:
        return record_name(self.selector, self.domain)

    def sign(self, raw: bytes, *, now: float | None = None) -> bytes:
        """`raw` (CRLF line endings) with our DKIM-Signature header prepended (RFC 6376 5)."""
        try:
            headers, body = dkim.rfc822_parse(raw)
        except dkim.MessageFormatError as exc:
            raise UnsignableMessage(str(exc)[:200]) from None
        body_hash = base64.b64encode(hashlib.sha256(_CANON.canonicalize_body(body)).digest())
        when = int(time.time() if now is None else now)
        tags = (
            f"v=1; a=rsa-sha256; c=relaxed/simple; d={self.domain}; s={self.selector}; "
            f"t={when}; h={' : '.join(h.decode() for h in SIGNED_HEADERS)}; "
            f"bh={body_hash.decode()}; b="
        )
        # Folded once, before hashing: what is hashed is what is sent (b= left empty).
        field_bytes = fold_items("DKIM-Signature", tags).encode("ascii").removesuffix(b"\r\n")
        name, _, value = field_bytes.partition(b":")
        digest = hashlib.sha256()
        dkim.hash_headers(
            digest, _CANON, _CANON.canonicalize_headers(headers), SIGNED_HEADERS, (name, value), {}
        )
        signature = self._key.sign(
            digest.digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
        )
        b64 = base64.b64encode(signature)
        lines = [b64[i : i + 72] for i in range(0, len(b64), 72)]
        return field_bytes + b"\r\n " + b"\r\n ".join(lines) + b"\r\n" + raw


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


def _load(private_pem: bytes) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError) as exc:
        # The library's message names the format problem, never the key's content.
        raise SigningKeyError(f"not a usable PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningKeyError("not an RSA key: DKIM signing here uses RSA")
    if key.key_size < 1024:
        raise SigningKeyError(f"RSA key of {key.key_size} bits: receivers want 1024 at least")
    return key


def public_record(private_pem: bytes) -> str:
    """The TXT record value that publishes the public half of `private_pem`."""
    public = (
        _load(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode("ascii")


def record_key(record: str) -> str:
    """The p= value of a DKIM key record ('' when it has none): what has to match."""
    for tag in record.split(";"):
        name, _, value = tag.strip().partition("=")
        if name.strip() == "p":
            return "".join(value.split())
    return ""
