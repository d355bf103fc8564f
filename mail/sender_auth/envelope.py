"""SPF (RFC 7208): may this client IP send mail for the MAIL FROM (or HELO) domain?

pyspf evaluates the record -- mechanisms, macros, includes and redirects, the
10-lookup and 2-void-lookup limits of RFC 7208 section 4.6.4. Its DNS goes
through our resolver rather than its module-global lookup function:
`spf.query.dns` is the one method every lookup of a query passes through, so
a subclass overrides it (keeping pyspf's own name checks and void-lookup
count). A lookup that fails for now is pyspf's TempError, hence temperror.
With an empty MAIL FROM (a bounce) the HELO name is the identity checked
(RFC 7208 section 2.4).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import spf

from mail.errors import DNSTempError
from mail.sender_auth.dns import Lookups
from mail.sender_auth.domains import address_domain, normalize_domain

_log = logging.getLogger(__name__)
_TYPES = frozenset({"A", "AAAA", "MX", "PTR", "TXT"})


class _Query(spf.query):  # type: ignore[misc]
    """A pyspf query whose lookups go to `lookups` (with its cache and timeout)."""

    def __init__(self, lookups: Lookups, ip: str, sender: str, helo: str) -> None:
        super().__init__(i=ip, s=sender, h=helo, strict=True)
        self._lookups = lookups

    def dns(
        self, name: str, qtype: str, cnames: Any = None, ignore_void: bool = False
    ) -> list[Any]:
        name = str(name or "").rstrip(".").lower()
        if not name:
            raise spf.PermError("empty domain name in SPF evaluation")
        if not all(0 < len(label) < 64 for label in name.split(".")):
            return []  # as pyspf: a name that cannot exist has no records
        if qtype not in _TYPES:
            return []  # type SPF (99) is obsolete (RFC 7208 section 3.1)
        try:
            values = self._lookups.lookup(name, qtype)
        except DNSTempError as exc:
            raise spf.TempError(str(exc)) from exc
        # pyspf wants TXT records as lists of strings, the rest as plain values.
        result: list[Any] = [[v] for v in values] if qtype == "TXT" else list(values)
        if not result and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                raise spf.PermError(f"void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
        return result


def spf_identity(mail_from: str, helo: str) -> str:
    """The domain SPF checks: the MAIL FROM's, or the HELO name for a null sender."""
    sender = mail_from.strip().strip("<>").strip()
    return normalize_domain(address_domain(sender) if sender else helo)


def check_spf(lookups: Lookups, client_ip: str, mail_from: str, helo: str) -> tuple[str, str]:
    """(result, domain checked): pass|fail|softfail|neutral|none|temperror|permerror."""
    domain = spf_identity(mail_from, helo)
    if not domain:
        return "none", ""
    try:
        ip = str(ipaddress.ip_address(client_ip.strip().strip("[]")))
    except ValueError:
        return "none", domain  # no usable client address, nothing to check
    sender = mail_from.strip().strip("<>").strip()
    if sender and "@" not in sender:
        sender = "postmaster@" + sender
    try:
        result, _code, _explanation = _Query(lookups, ip, sender, helo.strip()).check()
    except Exception as exc:  # pyspf on input it did not foresee
        _log.debug("SPF evaluation failed: %r", exc)
        return "permerror", domain
    result = str(result).lower()
    if result in ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"):
        return result, domain
    return "permerror", domain
