"""Sender authentication done here: DKIM, ARC, SPF and DMARC for one raw message.

The pipeline calls `verify` when no trusted receiving server vouches for a
message. It never raises: whatever the input -- fifty signatures, garbage in
a DKIM-Signature, a From without a domain -- the answer is a `Verdict`, and a
check that could not be completed is temperror or permerror, never a pass.
The work is bounded: at most `MAX_SIGNATURES` DKIM signatures and
`MAX_ARC_SETS` ARC sets are checked, and all DNS lookups of one message share
a `budget` of seconds (plus at most one lookup timeout beyond it).
"""

from __future__ import annotations

import logging

from mail.sender_auth.dmarc import evaluate
from mail.sender_auth.dns import Deadline, Resolver
from mail.sender_auth.domains import normalize_domain
from mail.sender_auth.envelope import check_spf
from mail.sender_auth.signatures import check_arc, check_dkim
from mail.sender_auth.verdict import BRIDGE, Verdict

# Well above a healthy verification (a few lookups, milliseconds each) and
# below what a sender would notice as a stalled SMTP session.
VERIFY_BUDGET = 10.0

_log = logging.getLogger(__name__)


def verify(
    raw: bytes,
    *,
    resolver: Resolver,
    from_domain: str,
    client_ip: str = "",
    helo: str = "",
    mail_from: str = "",
    budget: float = VERIFY_BUDGET,
) -> Verdict:
    """Verify here: every DKIM signature, the ARC chain, SPF (only when client_ip is known),
    DMARC (alignment and policy). Never raises on bad input: a malformed signature is
    permerror, a DNS failure temperror -- never a pass."""
    domain = normalize_domain(from_domain)
    try:
        return _verify(raw, Deadline(resolver, budget), domain, client_ip, helo, mail_from)
    except Exception:
        # A bug here must not lose or pass the message: it is "try again later".
        _log.exception("sender authentication failed unexpectedly")
        return Verdict(from_domain=domain, dkim="temperror", dmarc="temperror", by=BRIDGE)


def _verify(
    raw: bytes, lookups: Deadline, domain: str, client_ip: str, helo: str, mail_from: str
) -> Verdict:
    dkim = check_dkim(raw, lookups, domain)
    arc, sealer = check_arc(raw, lookups)
    spf, spf_domain = check_spf(lookups, client_ip, mail_from, helo) if client_ip else ("none", "")
    if domain:
        dmarc = evaluate(
            lookups,
            domain,
            dkim=dkim.result,
            dkim_domains=dkim.domains,
            spf=spf,
            spf_domain=spf_domain,
        )
        dmarc_result, policy = dmarc.result, dmarc.policy
        dkim_strict, spf_strict = dmarc.dkim_strict, dmarc.spf_strict
    else:
        # No From domain (or not a valid one): DMARC cannot even be looked up.
        dmarc_result, policy, dkim_strict, spf_strict = "permerror", "", False, False
    return Verdict(
        from_domain=domain,
        dkim=dkim.result,
        dkim_domains=dkim.domains,
        spf=spf,
        spf_domain=spf_domain,
        dmarc=dmarc_result,
        dmarc_policy=policy,
        arc=arc,
        arc_sealer=sealer,
        by=BRIDGE,
        dkim_strict=dkim_strict,
        spf_strict=spf_strict,
    )
