"""DKIM keys for tests: generate, publish on a DNSStub, sign and ARC-seal messages for real.

key = DkimKey.generate("org")
key.publish(stub, "sel", "org.example")
signed = key.sign(raw, "sel", "org.example")
sealed = key.arc_seal(raw_with_ar, "arc", "lists.example")
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.dnsstub import DNSStub

SIGNED_HEADERS = [b"from", b"to", b"cc", b"subject", b"date", b"message-id"]


@dataclass(frozen=True)
class DkimKey:
    """An RSA key pair: the PEM dkimpy signs with, the TXT record verifiers fetch."""

    private_pem: bytes
    record: str

    @classmethod
    def generate(cls, name: str = "key", bits: int = 2048) -> DkimKey:
        """A fresh key, one per name (cached: generating one costs tens of milliseconds)."""
        return _generate(name, bits)

    def publish(self, stub: DNSStub, selector: str, domain: str, ttl: int = 300) -> None:
        """Publish the public key at selector._domainkey.domain."""
        stub.add_txt(f"{selector}._domainkey.{domain}", self.record, ttl=ttl)

    def sign(self, raw: bytes, selector: str, domain: str, **options: object) -> bytes:
        """`raw` with a DKIM-Signature by `domain` on top."""
        header = dkim.sign(
            raw,
            selector.encode(),
            domain.encode(),
            self.private_pem,
            include_headers=options.pop("include_headers", SIGNED_HEADERS),
            **options,
        )
        return header + raw

    def arc_seal(self, raw: bytes, selector: str, domain: str, authserv_id: str) -> bytes:
        """`raw` (which holds an Authentication-Results by `authserv_id`) with a new ARC set."""
        headers = dkim.arc_sign(
            raw, selector.encode(), domain.encode(), self.private_pem, authserv_id.encode()
        )
        if not headers:
            raise AssertionError(f"no Authentication-Results by {authserv_id} to seal")
        return b"".join(headers) + raw


@functools.cache
def _generate(name: str, bits: int) -> DkimKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return DkimKey(pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode())
