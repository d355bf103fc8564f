"""DKIM signatures (RFC 6376) and the ARC chain (RFC 8617), verified with dkimpy.

dkimpy does the cryptography and canonicalisation; this module decides what
to check and what a failure means. Its key lookups go through our resolver
(its `dnsfunc` hook), and a lookup that fails for now raises out of dkimpy as
`DNSTempError`, which becomes temperror -- dkimpy's own timeout handling would
call it a plain failure. A missing or unusable key is permerror (RFC 6376
section 6.1.2: PERMFAIL), a syntactically broken signature too, a body or
signature mismatch fail. Two kinds of signature that verify are "policy"
(valid, but not accepted): rsa-sha1 (RFC 8301 section 3.1: verifiers must not
consider it valid), and a body length l= shorter than the body -- anyone may
append to such a message, and a forged text added after a genuine signed
one would otherwise pass (RFC 6376 section 8.2).

Hostile mail may carry any number of signatures, each costing a DNS lookup
and an RSA operation: at most `MAX_SIGNATURES` are checked, those whose d=
aligns with the From domain first (so junk signatures stacked on top cannot
push the real one out), then the rest in message order. ARC chains longer
than `MAX_ARC_SETS` fail without checking (RFC 8617 allows 50; mail that has
crossed ten sealing intermediaries is not worth 20 lookups).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import dkim
from dkim.canonicalization import CanonicalizationPolicy

from mail.errors import DNSTempError
from mail.sender_auth.dns import Lookups
from mail.sender_auth.domains import aligned
from mail.sender_auth.results import tag_list
from mail.sender_auth.verdict import DKIM_RANK

MAX_SIGNATURES = 5
MAX_ARC_SETS = 10

_log = logging.getLogger(__name__)


class _Quiet(logging.LoggerAdapter):  # type: ignore[type-arg]
    """dkimpy logs every bad signature at ERROR; in mail from strangers that is routine."""

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)


_QUIET = _Quiet(_log, {})


class _KeyFetcher:
    """dkimpy's `dnsfunc`: the first TXT record at the key's name, remembered for diagnosis."""

    def __init__(self, lookups: Lookups) -> None:
        self._lookups = lookups
        self.name = ""
        self.record: bytes | None = None

    def __call__(self, name: bytes | str, timeout: float = 0) -> bytes | None:
        self.name = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        records = self._lookups.txt(self.name)
        # RFC 6376 section 3.6.2.2: with several records the result is undefined; take the first.
        self.record = records[0] if records else None
        return self.record

    def key_unusable(self) -> bool:
        """No key published, revoked (empty p=), or not a key dkimpy can read."""
        if not self.record:
            return True
        try:
            dkim.evaluate_pk(self.name.encode(), self.record)
        except Exception:
            return True
        return False


@dataclass(frozen=True, slots=True)
class DkimOutcome:
    """The best DKIM result, the d= of the signatures that passed, and how many were skipped."""

    result: str = "none"
    domains: tuple[str, ...] = ()
    skipped: int = 0


def _signature_order(message: Any, from_domain: str) -> list[int]:
    """Indexes of the DKIM-Signature fields to check: From-aligned d= first, capped."""
    values = [v for n, v in message.headers if n.lower() == b"dkim-signature"]
    domains = [tag_list(v.decode("ascii", "replace")).get("d", "").lower() for v in values]
    first = [i for i, d in enumerate(domains) if aligned(d, from_domain)]
    rest = [i for i in range(len(values)) if i not in first]
    return first + rest


def _one_signature(message: Any, index: int, lookups: Lookups) -> tuple[str, str]:
    """(result, d=) of the index-th DKIM-Signature."""
    fetch = _KeyFetcher(lookups)
    try:
        ok = message.verify(index, dnsfunc=fetch)
        unacceptable = ok and _not_acceptable(message)
    except DNSTempError:
        return "temperror", ""
    except dkim.ValidationError as exc:
        # dkimpy raises ValidationError for a body hash mismatch and for
        # broken or expired tags alike; only the first is a plain "fail".
        return ("fail" if "body hash mismatch" in str(exc) else "permerror"), ""
    except Exception as exc:  # dkimpy on hostile input: DKIMException, and worse
        _log.debug("DKIM signature %d unreadable: %r", index, exc)
        return "permerror", ""
    domain = bytes(message.domain or b"").decode("ascii", "replace").lower()
    if ok:
        return ("policy" if unacceptable else "pass"), domain
    return ("permerror" if fetch.key_unusable() else "fail"), domain


def _not_acceptable(message: Any) -> bool:
    """A valid signature with rsa-sha1, or whose l= leaves part of the body unsigned."""
    fields = message.signature_fields
    if fields.get(b"a", b"").lower() == b"rsa-sha1":
        return True
    if b"l" not in fields:
        return False
    policy = CanonicalizationPolicy.from_c_value(fields.get(b"c", b"simple/simple"))
    return len(policy.canonicalize_body(message.body)) > int(fields[b"l"])


def check_dkim(raw: bytes, lookups: Lookups, from_domain: str) -> DkimOutcome:
    """Every DKIM signature (up to MAX_SIGNATURES), best result first in DKIM_RANK."""
    try:
        message = dkim.DKIM(raw, logger=_QUIET, minkey=1024)
        order = _signature_order(message, from_domain)
    except Exception as exc:
        _log.debug("message unreadable for DKIM: %r", exc)
        head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0].lower()
        return DkimOutcome("permerror" if b"dkim-signature" in head else "none")
    if not order:
        return DkimOutcome()
    results: list[str] = []
    passed: list[str] = []
    for index in order[:MAX_SIGNATURES]:
        result, domain = _one_signature(message, index, lookups)
        results.append(result)
        if result == "pass" and domain and domain not in passed:
            passed.append(domain)
    best = min(results, key=DKIM_RANK.index)
    return DkimOutcome(best, tuple(passed), max(0, len(order) - MAX_SIGNATURES))


def check_arc(raw: bytes, lookups: Lookups) -> tuple[str, str]:
    """(pass|fail|none, d= of the newest ARC-Seal when the chain passed).

    A DNS failure fails the chain: RFC 8617 knows no temporary result, and
    an unverifiable chain must not be trusted.
    """
    try:
        arc = dkim.ARC(raw, logger=_QUIET, minkey=1024)
        sets, _ = arc.sorted_arc_headers()
        if sets == 0:
            return "none", ""
        if sets > MAX_ARC_SETS:
            return "fail", ""
        cv, results, _reason = arc.verify(dnsfunc=_KeyFetcher(lookups))
    except DNSTempError:
        return "fail", ""
    except Exception as exc:
        _log.debug("ARC chain unreadable: %r", exc)
        return "fail", ""
    if cv == dkim.CV_Pass and results:
        return "pass", bytes(results[0]["as-domain"]).decode("ascii", "replace").lower()
    return ("none" if cv == dkim.CV_None else "fail"), ""
