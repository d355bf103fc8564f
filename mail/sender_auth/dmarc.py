"""DMARC (RFC 7489): finding the From domain's policy and judging alignment against it.

Policy discovery (section 6.6.3): the TXT records at `_dmarc.<From domain>`
that start with `v=DMARC1`; when there are none, those at
`_dmarc.<organisational domain>`, where `sp=` (if given) is the policy for
the subdomain. Several records at one name are a publishing error: no policy
applies (permerror). A record whose `p=` (or `sp=`) is missing or invalid
counts as `p=none` when it names a report address (`rua=`), and as no record
at all -- permerror -- otherwise. `pct=` is not applied (DMARCbis drops it).

The result is pass when DKIM or SPF passed for a domain aligned with the From
(relaxed: same organisational domain; strict with adkim=s / aspf=s), fail
when neither did, temperror when neither did and a DNS failure may be why.
"""

from __future__ import annotations

from dataclasses import dataclass

from mail.errors import DmarcPermError, DNSTempError
from mail.sender_auth.dns import Lookups
from mail.sender_auth.domains import aligned, org_domain

_POLICIES = ("none", "quarantine", "reject")


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """The parts of a DMARC record this library acts on."""

    policy: str  # p=
    subdomain_policy: str  # sp=, or p= when absent
    dkim_strict: bool = False  # adkim=s
    spf_strict: bool = False  # aspf=s


def _tags(text: str) -> list[tuple[str, str]]:
    out = []
    for item in text.split(";"):
        tag, eq, value = item.partition("=")
        if eq:
            out.append((tag.strip().lower(), value.strip()))
    return out


def parse_record(text: str) -> DmarcRecord:
    """A `v=DMARC1; p=...` record; DmarcPermError when its policy is unusable."""
    tags = _tags(text)
    values = dict(reversed(tags))  # the first occurrence of each tag wins
    policy = values.get("p", "").lower()
    sub = values.get("sp", policy).lower()
    if policy not in _POLICIES or sub not in _POLICIES:
        # RFC 7489 section 6.6.3 step 6: with a valid report address, act as p=none.
        reports = values.get("rua", "").split(",")
        if not any(u.strip().lower().startswith("mailto:") for u in reports):
            raise DmarcPermError(f"DMARC record without a valid policy: {text[:200]!r}")
        policy = policy if policy in _POLICIES else "none"
        sub = sub if sub in _POLICIES else policy
    return DmarcRecord(
        policy=policy,
        subdomain_policy=sub,
        dkim_strict=values.get("adkim", "r").lower() == "s",
        spf_strict=values.get("aspf", "r").lower() == "s",
    )


def _records_at(lookups: Lookups, domain: str) -> list[str]:
    texts = [r.decode("utf-8", "replace") for r in lookups.txt(f"_dmarc.{domain}")]
    # "v=DMARC1" must be the first tag; spacing and case vary in the wild.
    return [t for t in texts if t.replace(" ", "").lower().startswith("v=dmarc1")]


def discover(lookups: Lookups, from_domain: str) -> tuple[DmarcRecord | None, str]:
    """(record, the policy that applies to from_domain), or (None, "") when none is published.

    Raises DNSTempError when a lookup fails for now, DmarcPermError for unusable records.
    """
    records = _records_at(lookups, from_domain)
    at_org = False
    if not records:
        org = org_domain(from_domain)
        if org == from_domain:
            return None, ""
        records = _records_at(lookups, org)
        at_org = True
    if not records:
        return None, ""
    if len(records) > 1:
        raise DmarcPermError(f"{len(records)} DMARC records published for one name")
    record = parse_record(records[0])
    return record, record.subdomain_policy if at_org else record.policy


@dataclass(frozen=True, slots=True)
class DmarcOutcome:
    """DMARC result, the policy that applies, and the record's strictness."""

    result: str = "none"
    policy: str = ""
    dkim_strict: bool = False
    spf_strict: bool = False


def evaluate(
    lookups: Lookups,
    from_domain: str,
    *,
    dkim: str,
    dkim_domains: tuple[str, ...],
    spf: str,
    spf_domain: str,
) -> DmarcOutcome:
    """The DMARC result for a From domain (already normalised) given the DKIM and SPF results."""
    try:
        record, policy = discover(lookups, from_domain)
    except DNSTempError:
        return DmarcOutcome("temperror")
    except DmarcPermError:
        return DmarcOutcome("permerror")
    if record is None:
        return DmarcOutcome()
    dkim_ok = dkim == "pass" and any(
        aligned(d, from_domain, strict=record.dkim_strict) for d in dkim_domains
    )
    spf_ok = spf == "pass" and aligned(spf_domain, from_domain, strict=record.spf_strict)
    if dkim_ok or spf_ok:
        result = "pass"
    elif "temperror" in (dkim, spf):
        result = "temperror"
    else:
        result = "fail"
    return DmarcOutcome(result, policy, record.dkim_strict, record.spf_strict)
