"""Sender authentication: is the From of a message real? DKIM, ARC, SPF, DMARC, trusted stamps.

Pure of the bridge (imports nothing of bridge/, threads/ or web/). Two ways
to a `Verdict`: `trusted_verdict` reads the Authentication-Results of a
receiving server the admin trusts (results.py); `verify` checks the message
here (verify.py: signatures.py for DKIM and ARC, envelope.py for SPF,
dmarc.py for the policy), with DNS through one cached, time-bounded
`Resolver` (dns.py). `Verdict.aligned` is the answer the pipeline acts on.
"""

from mail.errors import DNSTempError
from mail.sender_auth.dns import Resolver
from mail.sender_auth.results import parse_authentication_results, trusted_verdict
from mail.sender_auth.verdict import Verdict
from mail.sender_auth.verify import verify

__all__ = [
    "DNSTempError",
    "Resolver",
    "Verdict",
    "parse_authentication_results",
    "trusted_verdict",
    "verify",
]
