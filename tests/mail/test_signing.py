"""DKIM signing (mail/signing.py) judged by dkimpy's verifier, on our mail and real-world mail.

The signer builds the header itself and uses OpenSSL for RSA, so its output
is checked by an independent verifier against the published record, on
messages of many shapes: CPython's test_email samples, this repository's
samples and real mailing-list mail (the corpora). Then that the check can
fail: a changed body, a changed or added header, another key.
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from pathlib import Path

import pytest

from mail.errors import SigningKeyError, UnsignableMessage
from mail.signing import (
    DkimSigner,
    generate_key,
    public_record,
    record_key,
    valid_domain,
    valid_selector,
)
from tests.support.dkimkeys import DkimKey
from tests.support.dnsstub import DNSStub
from tests.support.messages import corpus_messages, make_mail
from tests.support.paths import MAIL_SAMPLES
from tests.support.wire import dkim_verifies

STDLIB_SAMPLES = Path(email.__file__).parent.parent / "test" / "test_email" / "data"
DOMAIN = "bridge.example"


@pytest.fixture(scope="module")
def pem() -> bytes:
    return generate_key()


@pytest.fixture
def signer(pem: bytes, dns_stub: DNSStub) -> DkimSigner:
    dns_stub.add_txt(f"s1._domainkey.{DOMAIN}", public_record(pem))
    return DkimSigner("s1", DOMAIN, pem)


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def samples() -> Iterator[bytes]:
    for path in sorted(STDLIB_SAMPLES.glob("msg_*.txt")) + sorted(MAIL_SAMPLES.glob("*.eml")):
        raw = crlf(path.read_bytes())
        # dkimpy verifies From-signed mail only (RFC 6376 5.4: From is required).
        if b"\r\nfrom:" in b"\r\n" + raw.split(b"\r\n\r\n", 1)[0].lower():
            yield raw


def test_signature_verifies_on_varied_samples(signer: DkimSigner, dns_stub: DNSStub) -> None:
    """CPython's and our samples (folded, repeated, odd headers; MIME bodies) all verify."""
    checked = refused = 0
    for raw in samples():
        try:
            signed = signer.sign(raw)
        except UnsignableMessage:
            refused += 1  # CPython's sample of a header without its blank line, on purpose
            continue
        assert dkim_verifies(signed, dns_stub), raw[:200]
        checked += 1
    assert checked >= 40
    assert refused <= 2


@pytest.mark.corpus
@pytest.mark.parametrize("corpus", ["ksummit-3k", "cgroups-vger-36k"])
def test_signature_verifies_on_real_list_mail(
    corpus: str, signer: DkimSigner, dns_stub: DNSStub
) -> None:
    """Real mailing-list mail as a relay would hand it on, signed by us, verifies."""
    checked = 0
    for raw in corpus_messages(corpus, limit=150):
        wire = crlf(raw)
        if b"\r\nfrom:" not in b"\r\n" + wire.split(b"\r\n\r\n", 1)[0].lower():
            continue
        assert dkim_verifies(signer.sign(wire), dns_stub)
        checked += 1
    assert checked >= 100


def test_tampering_and_another_key_fail(signer: DkimSigner, dns_stub: DNSStub) -> None:
    """A changed body, a changed Subject, a prepended From, or another key: no pass."""
    raw = crlf(make_mail("Plan", sender="Ana <ana@example.com>", body="Ship on Monday.\n"))
    signed = signer.sign(raw)
    assert dkim_verifies(signed, dns_stub)
    assert not dkim_verifies(signed.replace(b"Ship on Monday", b"Ship on Friday"), dns_stub)
    assert not dkim_verifies(signed.replace(b"Subject: Plan", b"Subject: Pay"), dns_stub)
    head, _, body = signed.partition(b"\r\n\r\n")
    second_from = head + b"\r\nFrom: Boss <boss@example.com>\r\n\r\n" + body
    assert not dkim_verifies(second_from, dns_stub)
    other = DkimKey.generate("signing-other")
    dns_stub.add_txt(f"s2._domainkey.{DOMAIN}", other.record)
    impostor = DkimSigner("s2", DOMAIN, generate_key())
    assert not dkim_verifies(impostor.sign(raw), dns_stub)


def test_relaxed_header_canonicalization_survives_refolding(
    signer: DkimSigner, dns_stub: DNSStub
) -> None:
    """A relay that re-folds a header or changes its spacing does not break the signature."""
    raw = crlf(make_mail("A subject long enough to be folded by a relay", body="Text.\n"))
    signed = signer.sign(raw)
    refolded = signed.replace(b"long enough to be", b"long enough\r\n  to   be")
    assert dkim_verifies(refolded, dns_stub)


def test_key_never_in_repr_and_bad_keys_refused(pem: bytes) -> None:
    """The private key stays out of repr (logs, tracebacks); unusable keys are refused."""
    signer = DkimSigner("s1", DOMAIN, pem)
    assert b"PRIVATE" in pem
    assert "PRIVATE" not in repr(signer)
    assert pem.decode().splitlines()[1] not in repr(signer)
    with pytest.raises(SigningKeyError, match="not a usable PEM"):
        DkimSigner("s1", DOMAIN, b"-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA")
    with pytest.raises(SigningKeyError, match="not a usable PEM"):
        DkimSigner("s1", DOMAIN, b"")


def test_record_and_names(pem: bytes) -> None:
    """The printed record carries the public key only; selectors and domains are DNS names."""
    record = public_record(pem)
    assert record.startswith("v=DKIM1; k=rsa; p=")
    assert record_key(record) == record.split("p=", 1)[1]
    assert record_key("v=DKIM1; k=rsa; p=AB CD") == "ABCD"
    assert record_key("v=DKIM1; k=rsa") == ""
    assert valid_selector("s20261206")
    assert valid_selector("mail.2026")
    assert not valid_selector("../etc")
    assert not valid_selector("a/b")
    assert not valid_selector("")
    assert valid_domain("lists.example.org")
    assert not valid_domain("localhost")
    assert not valid_domain("evil.example/../x")
