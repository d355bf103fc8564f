"""What our mail looks like on the wire, read from raw bytes: header values as written,
structured headers free of encoded words, and DKIM signatures checked by dkimpy against
the key published on a DNS stub (tests/support/dnsstub.py)."""

from __future__ import annotations

import re

import dkim

from mail.sender_auth.dns import Resolver
from mail.wire import STRUCTURED
from tests.support.dnsstub import DNSStub

ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bqBQ]\?")


def headers(raw: bytes) -> dict[str, bytes]:
    """Each header's raw value, continuation lines kept (the last of repeated names)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    out: dict[str, bytes] = {}
    for field in re.split(rb"\r\n(?![ \t])", head):
        name, _, value = field.partition(b":")
        out[name.decode().lower()] = value
    return out


def check_wire(raw: bytes) -> dict[str, bytes]:
    """Structured headers ASCII, without encoded words; CRLF only; lines within 998 octets."""
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF on the wire"
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    found = headers(raw)
    for name in STRUCTURED & found.keys():
        # List-Id's description is a phrase (RFC 2919 3), encoded when not ASCII; its id is not.
        value = found[name].rsplit(b"<", 1)[-1] if name == "list-id" else found[name]
        assert value.isascii(), name
        assert not ENCODED_WORD.search(value), f"{name}: {value[:80]!r}"
    return found


def dkim_verifies(raw: bytes, stub: DNSStub) -> bool:
    """dkimpy's verdict on the first DKIM-Signature, its key fetched from the stub."""
    resolver = Resolver([stub.address])

    def fetch(name: bytes, timeout: int = 5) -> bytes | None:
        records = resolver.txt(name.decode().rstrip("."))
        return records[0] if records else None

    return bool(dkim.verify(raw, dnsfunc=fetch))
