"""Whether a message's From is proven: the verdict the authorization rules read.

Every inbound message is judged once, before its transaction (DNS lookups
must never hold the database's write lock): from the Authentication-Results
of a receiving server the admin trusts, else, when `BRIDGE_VERIFY_SENDERS`
is `auto`, by the bridge's own DKIM, ARC, SPF and DMARC checks
(mail/sender_auth). `trusted` reads only trusted headers; `off` proves
nothing and holds nothing (unsafe: anyone can write a From line).

Provenance counts as well: mail fetched over IMAP from an Exchange Online
mailbox carries `X-MS-Exchange-Organization-AuthAs: Internal` when Exchange
itself authenticated the sender (Exchange removes that header from mail
arriving from outside, so only IMAP's copy is believed). An archive import
is an admin's act: its verdict is recorded from trusted headers only and
holds nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bridge.config import SenderTrustConfig
from mail.parse import ParsedMessage

if TYPE_CHECKING:
    from mail.sender_auth.dns import Resolver
    from mail.sender_auth.verdict import Verdict

MODES = ("auto", "trusted", "off")
# Sources checked for real; the others (import, demo) are history recorded as it is.
CHECKED_SOURCES = frozenset({"smtp", "imap"})
# Our own Received clause in an SMTP message's source_ref (mail/smtp/trace.py `trace`).
_RECEIVED = re.compile(r"^from (?P<helo>\S*) \(\[?(?:IPv6:)?(?P<ip>[0-9A-Fa-f:.]+)\]?\)")
_EXCHANGE_AUTH_AS = "x-ms-exchange-organization-authas"


@dataclass(frozen=True, slots=True)
class Trust:
    """What is known of a message's From; `proven` is what the rules read."""

    verdict: Verdict | None = None
    proven: bool = False
    # Why, in words for `bridge log` and the admin pages, when there is no verdict.
    note: str = ""
    # False with BRIDGE_VERIFY_SENDERS=off: nothing was asked, so nothing is held.
    checked: bool = True

    def summary(self) -> str:
        if self.verdict is not None:
            return self.verdict.summary()
        return self.note

    def to_json(self) -> dict[str, object] | None:
        if self.verdict is None and not self.note:
            return None
        data: dict[str, object] = dict(self.verdict.to_json()) if self.verdict else {}
        data["proven"] = self.proven
        if self.note:
            data["note"] = self.note
        return data


UNCHECKED = Trust(note="not checked: BRIDGE_VERIFY_SENDERS=off", checked=False)


@dataclass(slots=True)
class SenderChecker:
    """The settings of sender authentication, and the resolver its DNS lookups share."""

    config: SenderTrustConfig
    _resolver: Resolver | None = field(default=None, repr=False)

    @property
    def resolver(self) -> Resolver:
        """One resolver per process, so its cache is shared (made on first use: dnspython
        and dkimpy are imported only where senders are checked)."""
        if self._resolver is None:
            from mail.sender_auth.dns import Resolver

            self._resolver = Resolver(self.config.dns_servers)
        return self._resolver

    def check(
        self, data: bytes, parsed: ParsedMessage, *, source: str, source_ref: str, mail_from: str
    ) -> Trust:
        """The trust one message earns; never raises (a failed check proves nothing)."""
        if self.config.verify_senders == "off":
            return UNCHECKED
        if source == "web":
            # bridge/posting.py writes the From of the signed-in person itself.
            return Trust(proven=True, note="posted on the web by a signed-in person")
        from mail.sender_auth.results import trusted_verdict
        from mail.sender_auth.verify import verify

        from_domain = _domain(parsed.from_.address if parsed.from_ else "")
        if not from_domain:
            return Trust(note="no From domain to check")
        verdict = trusted_verdict(parsed.headers, self.config.trusted_authserv_ids, from_domain)
        if source == "imap" and _exchange_internal(parsed.headers):
            return Trust(verdict, proven=True, note="authenticated by Exchange (AuthAs: Internal)")
        if verdict is None and source in CHECKED_SOURCES and self.config.verify_senders == "auto":
            helo, ip = _client(source_ref) if source == "smtp" else ("", "")
            verdict = verify(
                data,
                resolver=self.resolver,
                from_domain=from_domain,
                client_ip=ip,
                helo=helo,
                mail_from=mail_from,
            )
        if verdict is None and source not in CHECKED_SOURCES:
            return Trust(note=f"not checked: {source} mail is history, recorded as it is")
        if verdict is None:
            return Trust(note="no trusted Authentication-Results")
        proven = verdict.aligned or verdict.arc_trusted(self.config.trusted_arc_sealers)
        return Trust(verdict, proven=proven)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def _client(source_ref: str) -> tuple[str, str]:
    """(HELO name, client IP) from the Received clause the SMTP listener recorded."""
    match = _RECEIVED.match(source_ref)
    return (match["helo"], match["ip"]) if match else ("", "")


def _exchange_internal(headers: list[tuple[str, str]]) -> bool:
    """The topmost AuthAs stamp says Internal (Exchange writes it on top of what arrived)."""
    for name, value in headers:
        if name.lower() == _EXCHANGE_AUTH_AS:
            return value.strip().lower() == "internal"
    return False
