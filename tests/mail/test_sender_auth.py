"""Sender authentication (mail/sender_auth): DKIM, ARC, SPF, DMARC against a real DNS server.

Keys are generated here, published on a DNS stub on loopback (tests/support/dnsstub.py)
and messages signed and sealed for real with dkimpy (tests/support/dkimkeys.py).
Domains: org.example (the sender's organisation), lists.example (a mailing
list that rewrites and ARC-seals), attacker.example (signs with its own key).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mail.parse import parse_message
from mail.sender_auth import Resolver, Verdict, trusted_verdict, verify
from mail.sender_auth.dns import DNSTempError, _nameserver
from mail.sender_auth.signatures import MAX_SIGNATURES
from tests.support.dkimkeys import DkimKey
from tests.support.dnsstub import DNSStub, silent_udp
from tests.support.messages import corpus_messages, make_mail

ORG = "org.example"
FROM = "Ana Lima <ana@org.example>"


@pytest.fixture
def org(dns_stub: DNSStub) -> DNSStub:
    """org.example publishing a DKIM key, SPF for 127.0.0.1 and DMARC p=reject."""
    DkimKey.generate("org").publish(dns_stub, "sel", ORG)
    dns_stub.add_txt(ORG, "v=spf1 ip4:127.0.0.1 -all")
    dns_stub.add_txt(f"_dmarc.{ORG}", "v=DMARC1; p=reject; rua=mailto:dmarc@org.example")
    return dns_stub


def signed(raw: bytes | None = None, key: str = "org", domain: str = ORG) -> bytes:
    return DkimKey.generate(key).sign(raw or make_mail(sender=FROM), "sel", domain)


def check(stub: DNSStub, raw: bytes, from_domain: str = ORG, **envelope: str) -> Verdict:
    return verify(raw, resolver=Resolver([stub.address]), from_domain=from_domain, **envelope)


def test_signed_by_from_domain_passes_and_aligns(org: DNSStub) -> None:
    """A message signed by its From domain passes DKIM and DMARC."""
    verdict = check(org, signed())
    assert (verdict.dkim, verdict.dkim_domains, verdict.dmarc) == ("pass", (ORG,), "pass")
    assert verdict.dmarc_policy == "reject"
    assert verdict.aligned
    assert verdict.by == "bridge"
    assert verdict.summary() == "dkim=pass spf=none dmarc=pass (by bridge)"


def test_body_altered_after_signing_fails(org: DNSStub) -> None:
    """A body changed after signing fails DKIM, and with it DMARC."""
    raw = signed().replace(b"please see the plan", b"please wire the money")
    verdict = check(org, raw)
    assert (verdict.dkim, verdict.dmarc, verdict.aligned) == ("fail", "fail", False)


def test_unsigned_spf_fail_under_reject_policy(org: DNSStub) -> None:
    """No signature and a client SPF does not allow: DMARC fails with policy reject."""
    verdict = check(org, make_mail(sender=FROM), client_ip="192.0.2.7", mail_from="ana@org.example")
    assert (verdict.dkim, verdict.spf, verdict.spf_domain) == ("none", "fail", ORG)
    assert (verdict.dmarc, verdict.dmarc_policy, verdict.aligned) == ("fail", "reject", False)


def test_signed_by_another_domain_is_not_aligned(org: DNSStub) -> None:
    """The attacker's valid signature for its own domain does not vouch for the From."""
    DkimKey.generate("attacker").publish(org, "sel", "attacker.example")
    verdict = check(org, signed(key="attacker", domain="attacker.example"))
    assert (verdict.dkim, verdict.dkim_domains) == ("pass", ("attacker.example",))
    assert (verdict.dmarc, verdict.aligned) == ("fail", False)


def test_spf_pass_for_aligned_mail_from_without_dkim(org: DNSStub) -> None:
    """SPF pass for the From's own domain aligns without any signature."""
    verdict = check(
        org, make_mail(sender=FROM), client_ip="127.0.0.1", mail_from="bounces@org.example"
    )
    assert (verdict.dkim, verdict.spf, verdict.dmarc, verdict.aligned) == (
        "none",
        "pass",
        "pass",
        True,
    )


def test_spf_of_empty_mail_from_checks_helo(org: DNSStub) -> None:
    """A null MAIL FROM (a bounce) has SPF checked for the HELO name."""
    org.add_txt("mx.org.example", "v=spf1 ip4:127.0.0.1 -all")
    verdict = check(
        org, make_mail(sender=FROM), client_ip="127.0.0.1", mail_from="", helo="mx.org.example"
    )
    assert (verdict.spf, verdict.spf_domain) == ("pass", "mx.org.example")
    assert verdict.aligned  # relaxed: mx.org.example is in org.example


def test_spf_ten_lookup_limit_is_permerror(org: DNSStub) -> None:
    """An SPF record needing more than ten lookups is permerror (RFC 7208 4.6.4)."""
    includes = " ".join(f"include:i{n}.example" for n in range(11))
    org.add_txt("many.example", f"v=spf1 {includes} -all")
    for n in range(11):
        org.add_txt(f"i{n}.example", "v=spf1 ip4:192.0.2.1 -all")
    verdict = check(org, make_mail(sender=FROM), client_ip="127.0.0.1", mail_from="x@many.example")
    assert verdict.spf == "permerror"


def test_arc_seal_of_a_rewriting_list(org: DNSStub) -> None:
    """A list that tags the subject, adds a footer and seals: ARC passes, original DKIM fails."""
    DkimKey.generate("lists").publish(org, "arc", "lists.example")
    original = signed()
    rewritten = original.replace(b"Subject: Budget review", b"Subject: [team] Budget review")
    rewritten += b"--\nteam mailing list: https://lists.example/team\n"
    stamped = (
        b"Authentication-Results: lists.example; dkim=pass header.d=org.example;"
        b" spf=pass smtp.mailfrom=org.example\r\n" + rewritten
    )
    sealed = DkimKey.generate("lists").arc_seal(stamped, "arc", "lists.example", "lists.example")
    verdict = check(org, sealed)
    assert (verdict.arc, verdict.arc_sealer) == ("pass", "lists.example")
    assert verdict.arc_trusted(frozenset({"lists.example"}))
    assert not verdict.arc_trusted(frozenset({"other.example"}))
    assert (verdict.dkim, verdict.dmarc) == ("fail", "fail")
    assert verdict.summary().endswith("arc=pass (lists.example) (by bridge)")
    # The seal covers the list's changes: one more byte breaks the chain.
    assert check(org, sealed + b"x\n").arc == "fail"


def test_subdomain_from_uses_the_organisation_policy(org: DNSStub) -> None:
    """A From at a subdomain without its own record gets the org record's sp=."""
    org.clear()
    DkimKey.generate("org").publish(org, "sel", ORG)
    org.add_txt(f"_dmarc.{ORG}", "v=DMARC1; p=reject; sp=quarantine")
    raw = signed(make_mail(sender="Ana <ana@eu.org.example>"))
    verdict = check(org, raw, from_domain="eu.org.example")
    assert (verdict.dmarc, verdict.dmarc_policy, verdict.aligned) == ("pass", "quarantine", True)
    assert ("_dmarc.eu.org.example", "TXT") in org.asked


def test_strict_dkim_alignment(org: DNSStub) -> None:
    """adkim=s: a signature by the organisation does not align with a subdomain From."""
    org.clear()
    DkimKey.generate("org").publish(org, "sel", ORG)
    org.add_txt("_dmarc.eu.org.example", "v=DMARC1; p=reject; adkim=s")
    raw = signed(make_mail(sender="Ana <ana@eu.org.example>"))
    verdict = check(org, raw, from_domain="eu.org.example")
    assert (verdict.dkim, verdict.dmarc, verdict.aligned) == ("pass", "fail", False)
    assert verdict.dkim_strict


@pytest.mark.parametrize(
    ("records", "dmarc", "policy"),
    [
        (["v=DMARC1; p=bogus"], "permerror", ""),
        (["v=DMARC1; rua=mailto:r@org.example"], "fail", "none"),
        (["v=DMARC1; p=reject", "v=DMARC1; p=none"], "permerror", ""),
        (["v=spf1 -all", "something else"], "none", ""),
        (["v=dmarc1;p=QUARANTINE"], "fail", "quarantine"),
    ],
)
def test_dmarc_records_as_rfc_7489_reads_them(
    dns_stub: DNSStub, records: list[str], dmarc: str, policy: str
) -> None:
    """Invalid, report-only, duplicate and non-DMARC records give the RFC's answers."""
    for record in records:
        dns_stub.add_txt(f"_dmarc.{ORG}", record)
    verdict = check(dns_stub, make_mail(sender=FROM))
    assert (verdict.dmarc, verdict.dmarc_policy, verdict.aligned) == (dmarc, policy, False)


def test_dns_answers_are_cached_for_their_ttl(dns_stub: DNSStub) -> None:
    """A second verification asks DNS nothing; after the TTL it asks again."""
    DkimKey.generate("org").publish(dns_stub, "sel", ORG, ttl=1)
    dns_stub.add_txt(f"_dmarc.{ORG}", "v=DMARC1; p=reject", ttl=1)
    resolver = Resolver([dns_stub.address])
    raw = signed()
    assert verify(raw, resolver=resolver, from_domain=ORG).dmarc == "pass"
    first = dns_stub.queries
    assert first == 2  # the key and the DMARC record
    assert verify(raw, resolver=resolver, from_domain=ORG).dmarc == "pass"
    assert dns_stub.queries == first
    time.sleep(1.1)
    assert verify(raw, resolver=resolver, from_domain=ORG).dmarc == "pass"
    assert dns_stub.queries == 2 * first


def test_missing_records_are_cached_too(dns_stub: DNSStub) -> None:
    """NXDOMAIN is remembered (RFC 2308): a flood of unsigned mail costs one lookup."""
    resolver = Resolver([dns_stub.address])
    for _ in range(5):
        assert resolver.txt(f"_dmarc.{ORG}") == []
    assert dns_stub.queries == 1


def test_resolver_is_shared_safely_between_threads(dns_stub: DNSStub) -> None:
    """Eight threads asking the same names all get the right answers from one cache."""
    names = [f"n{i}.org.example" for i in range(10)]
    for name in names:
        dns_stub.add_txt(name, f"value of {name}")
    resolver = Resolver([dns_stub.address])

    def ask(round_: int) -> list[bool]:
        return [resolver.txt(n) == [f"value of {n}".encode()] for n in names[round_ % 10 :]]

    with ThreadPoolExecutor(8) as pool:
        answers = [ok for batch in pool.map(ask, range(200)) for ok in batch]
    assert len(answers) == sum(10 - r % 10 for r in range(200))
    assert all(answers)
    assert len(names) <= dns_stub.queries <= 8 * len(names)  # races may ask again, once a thread


@pytest.mark.parametrize(
    ("spec", "host", "port"),
    [
        ("192.0.2.1", "192.0.2.1", 53),
        ("127.0.0.1:5353", "127.0.0.1", 5353),
        ("::1", "::1", 53),
        ("[::1]:5353", "::1", 5353),
    ],
)
def test_nameserver_forms(spec: str, host: str, port: int) -> None:
    """Name servers are given as address, address:port, IPv6, or [IPv6]:port."""
    server = _nameserver(spec)
    assert (server.address, server.port) == (host, port)


def test_lookup_times_out_after_two_seconds() -> None:
    """A name server that never answers costs the 2 s timeout, then DNSTempError."""
    with silent_udp() as address:
        resolver = Resolver([address])
        started = time.monotonic()
        with pytest.raises(DNSTempError):
            resolver.txt(f"sel._domainkey.{ORG}")
        elapsed = time.monotonic() - started
    assert 1.9 <= elapsed < 4


def test_unanswered_dns_is_temperror_within_the_budget() -> None:
    """With DNS silent, verify answers temperror, bounded by its budget, never pass."""
    with silent_udp() as address:
        started = time.monotonic()
        verdict = verify(
            signed(),
            resolver=Resolver([address], timeout=0.5),
            from_domain=ORG,
            client_ip="127.0.0.1",
            mail_from="ana@org.example",
            budget=0.2,
        )
        elapsed = time.monotonic() - started
    assert (verdict.dkim, verdict.spf, verdict.dmarc) == ("temperror",) * 3
    assert not verdict.aligned
    assert elapsed < 1.5  # one lookup's timeout past the budget, not one per lookup


def test_servfail_on_the_key_is_temperror(org: DNSStub) -> None:
    """SERVFAIL for the key is temperror for DKIM and DMARC, never a pass."""
    org.fail(f"sel._domainkey.{ORG}")
    verdict = check(org, signed())
    assert (verdict.dkim, verdict.dmarc, verdict.aligned) == ("temperror", "temperror", False)


def test_missing_key_is_permerror(dns_stub: DNSStub) -> None:
    """A signature whose key is not published is permerror (RFC 6376 6.1.2)."""
    assert check(dns_stub, signed()).dkim == "permerror"


def test_fifty_signatures_are_capped_and_the_aligned_one_found(org: DNSStub) -> None:
    """Junk signatures stacked on top cost at most the cap and cannot hide the real one."""
    raw = signed()
    for n in range(50):
        raw = signed(raw, key="attacker", domain=f"junk{n}.example")
    started = time.monotonic()
    verdict = check(org, raw)
    assert time.monotonic() - started < 5
    assert (verdict.dkim, verdict.dmarc, verdict.aligned) == ("pass", "pass", True)
    keys = [name for name, _ in org.asked if "._domainkey." in name]
    assert len(keys) == MAX_SIGNATURES


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"DKIM-Signature: garbage\r\nFrom: a@org.example\r\n\r\nbody\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=org.example; s=sel; h=from; bh=!!; b=??\r\n"
        b"From: a@org.example\r\n\r\nbody\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=; s=; h=; bh=; b=\r\nFrom: x\r\n\r\n",
        b"DKIM-Signature: " + b"a=" * 50_000 + b"\r\nFrom: a@org.example\r\n\r\n",
        b"Subject: " + b"x" * 2_000_000 + b"\r\nFrom: a@org.example\r\n\r\nbody\r\n",
        b"ARC-Seal: i=999; cv=pass; d=x\r\nARC-Seal: i=x\r\nFrom: a@org.example\r\n\r\n",
        b"From: a@org.example\r\nno blank line and no body",
    ],
    ids=[
        "empty",
        "binary",
        "garbage",
        "bad-base64",
        "empty-tags",
        "huge-sig",
        "huge-header",
        "bad-arc",
        "no-body",
    ],
)
def test_hostile_input_never_raises(org: DNSStub, raw: bytes) -> None:
    """Garbage gets an answer -- permerror or none, never a pass -- and quickly."""
    started = time.monotonic()
    verdict = check(org, raw, client_ip="not an ip", mail_from="@@")
    assert time.monotonic() - started < 5
    assert verdict.dkim in ("none", "permerror", "fail")
    assert verdict.arc in ("none", "fail")
    assert not verdict.aligned


@pytest.mark.parametrize("from_domain", ["", "org..example", "-bad-.example", "x" * 300])
def test_from_without_a_usable_domain(org: DNSStub, from_domain: str) -> None:
    """A From with no (valid) domain: DMARC permerror, nothing aligned, no exception."""
    verdict = check(org, signed(), from_domain=from_domain)
    assert (verdict.from_domain, verdict.dmarc, verdict.aligned) == ("", "permerror", False)
    assert verdict.dkim == "pass"  # the signature itself is still good


def test_sha1_signature_is_not_accepted(org: DNSStub) -> None:
    """rsa-sha1 signatures that verify count as policy, not pass (RFC 8301)."""
    raw = DkimKey.generate("org").sign(
        make_mail(sender=FROM), "sel", ORG, signature_algorithm=b"rsa-sha1"
    )
    verdict = check(org, raw)
    assert (verdict.dkim, verdict.aligned) == ("policy", False)


def test_body_length_tag_with_text_appended_is_not_accepted(org: DNSStub) -> None:
    """l= covering only part of the body: appended text makes the signature "policy"."""
    raw = DkimKey.generate("org").sign(make_mail(sender=FROM), "sel", ORG, length=True)
    assert check(org, raw).dkim == "pass"
    verdict = check(org, raw + b"\nForged instructions: wire the money.\n")
    assert (verdict.dkim, verdict.dmarc, verdict.aligned) == ("policy", "fail", False)


GMAIL = (
    "mx.google.com;\r\n       dkim=pass header.i=@org.example header.s=s1 header.b=Ab3dEf9h;\r\n"
    "       spf=pass (google.com: domain of ana@org.example designates 192.0.2.10 as "
    "permitted sender) smtp.mailfrom=ana@org.example;\r\n"
    "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=org.example"
)
MICROSOFT = (
    "spf=pass (sender IP is 192.0.2.10) smtp.mailfrom=org.example; dkim=pass "
    "(signature was verified) header.d=org.example;dmarc=pass action=none "
    "header.from=org.example;compauth=pass reason=100"
)


def test_trusted_gmail_results() -> None:
    """Gmail's header gives its DKIM, SPF and DMARC results, policy from the comment."""
    headers = [("Authentication-Results", GMAIL), ("From", FROM)]
    verdict = trusted_verdict(headers, frozenset({"mx.google.com"}), ORG)
    assert verdict is not None
    assert (verdict.dkim, verdict.dkim_domains, verdict.spf, verdict.spf_domain) == (
        "pass",
        (ORG,),
        "pass",
        ORG,
    )
    assert (verdict.dmarc, verdict.dmarc_policy, verdict.by) == ("pass", "reject", "mx.google.com")
    assert verdict.aligned
    assert verdict.summary() == "dkim=pass spf=pass dmarc=pass (by mx.google.com)"


def test_trusted_microsoft_results_without_authserv_id() -> None:
    """Exchange Online names no authserv-id: trusted only as "unnamed"."""
    headers = [("Authentication-Results", MICROSOFT)]
    assert trusted_verdict(headers, frozenset({"mx.google.com"}), ORG) is None
    verdict = trusted_verdict(headers, frozenset({"unnamed"}), ORG)
    assert verdict is not None
    assert verdict.summary() == "dkim=pass spf=pass dmarc=pass (by unnamed)"
    assert verdict.aligned
    failed = MICROSOFT.replace("dmarc=pass action=none", "dmarc=fail action=oreject")
    verdict = trusted_verdict([("Authentication-Results", failed)], frozenset({"unnamed"}), ORG)
    assert verdict is not None
    assert (verdict.dmarc, verdict.dmarc_policy, verdict.aligned) == ("fail", "reject", False)


def test_forged_results_below_the_trusted_server_are_ignored() -> None:
    """Only the topmost header of the trusted id counts; forged copies below do not."""
    forged = "mx.google.com; dkim=pass header.d=org.example; dmarc=pass header.from=org.example"
    genuine = "mx.google.com; dkim=fail header.d=org.example; spf=softfail smtp.mailfrom=x.example"
    headers = [
        ("Authentication-Results", genuine),
        ("Received", "from attacker"),
        ("Authentication-Results", forged),
    ]
    verdict = trusted_verdict(headers, frozenset({"mx.google.com"}), ORG)
    assert verdict is not None
    assert verdict.summary() == "dkim=fail spf=softfail dmarc=none (by mx.google.com)"
    assert not verdict.aligned


def test_untrusted_servers_are_ignored() -> None:
    """A header from a server not on the list gives no verdict at all."""
    headers = [("Authentication-Results", GMAIL.replace("mx.google.com", "mx.attacker.example"))]
    assert trusted_verdict(headers, frozenset({"mx.google.com"}), ORG) is None
    assert trusted_verdict(headers, frozenset(), ORG) is None


def test_trusted_dmarc_fail_is_read_as_fail() -> None:
    """dmarc=fail with a (p=reject) comment is a failure with policy reject."""
    value = (
        "mx.example.net 1; dkim=none; spf=fail smtp.mailfrom=ana@org.example;"
        " dmarc=fail (p=reject dis=reject) header.from=org.example"
    )
    verdict = trusted_verdict(
        [("Authentication-Results", value)], frozenset({"MX.example.net"}), ORG
    )
    assert verdict is not None
    assert (verdict.dmarc, verdict.dmarc_policy, verdict.aligned) == ("fail", "reject", False)


@pytest.mark.parametrize(
    ("value", "aligned"),
    [
        ("mx.example.net; dkim=pass header.d=mail.org.example", True),
        ("mx.example.net; dkim=pass header.d=attacker.example", False),
        ("mx.example.net; spf=pass smtp.mailfrom=bounce@org.example", True),
        ("mx.example.net; spf=pass smtp.mailfrom=bounce@esp.example", False),
        ("mx.example.net; dkim=fail header.d=org.example", False),
        ("mx.example.net; none", False),
        ("mx.example.net; dmarc=pass header.from=other.example", False),
    ],
)
def test_alignment_computed_when_the_server_gives_no_dmarc(value: str, aligned: bool) -> None:
    """Without a dmarc result, alignment comes from header.d and smtp.mailfrom."""
    verdict = trusted_verdict(
        [("Authentication-Results", value)], frozenset({"mx.example.net"}), ORG
    )
    assert verdict is not None
    assert verdict.aligned is aligned


def test_trusted_arc_result_names_the_newest_sealer() -> None:
    """arc=pass in a trusted header takes its sealer from the newest ARC-Seal."""
    headers = [
        ("ARC-Seal", "i=2; a=rsa-sha256; cv=pass; d=lists.example; s=arc; b=xyz"),
        ("Authentication-Results", "mx.google.com; arc=pass (i=2); dkim=fail header.d=org.example"),
        ("ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=relay.example; s=arc; b=abc"),
    ]
    verdict = trusted_verdict(headers, frozenset({"mx.google.com"}), ORG)
    assert verdict is not None
    assert (verdict.arc, verdict.arc_sealer) == ("pass", "lists.example")
    assert verdict.arc_trusted(frozenset({"lists.example"}))


def test_verdict_json_round_trip_and_bad_input() -> None:
    """to_json/from_json round-trip; unknown keys are ignored, wrong types refused."""
    verdict = Verdict(
        from_domain=ORG, dkim="pass", dkim_domains=(ORG,), arc="pass", arc_sealer="lists.example"
    )
    data = verdict.to_json()
    assert data["dkim_domains"] == [ORG]
    assert Verdict.from_json({**data, "future": 1}) == verdict
    with pytest.raises(ValueError, match="dkim_domains"):
        Verdict.from_json({"from_domain": ORG, "dkim_domains": "org.example"})
    with pytest.raises(ValueError, match="from_domain"):
        Verdict.from_json({"dkim": "pass"})
    # A sealer's organisational domain counts as that sealer.
    assert Verdict(ORG, arc="pass", arc_sealer="mx.lists.example").arc_trusted(
        frozenset({"lists.example"})
    )


@pytest.mark.corpus
@pytest.mark.parametrize("corpus", ["ksummit-3k", "cgroups-vger-36k"])
def test_real_mail_against_empty_dns(dns_stub: DNSStub, corpus: str) -> None:
    """Real list mail verified with no DNS records: never raises, never passes."""
    resolver = Resolver([dns_stub.address])
    seen: dict[str, int] = {}
    for raw in corpus_messages(corpus, limit=300):
        parsed = parse_message(raw)
        domain = parsed.from_.address.rpartition("@")[2] if parsed.from_ else ""
        verdict = verify(raw, resolver=resolver, from_domain=domain)
        assert verdict.dkim in ("none", "permerror", "fail"), verdict
        assert verdict.dmarc in ("none", "permerror"), verdict
        assert not verdict.aligned
        seen[verdict.dkim] = seen.get(verdict.dkim, 0) + 1
    assert sum(seen.values()) == 300
