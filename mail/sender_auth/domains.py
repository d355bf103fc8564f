"""Domain names as DMARC compares them: normalising, organisational domains, alignment.

The organisational domain (RFC 7489 section 3.2) is the registrable name one
label below the public suffix: `mail.example.co.uk` -> `example.co.uk`. It is
taken from the Public Suffix List that the publicsuffixlist package ships, so
nothing is fetched at run time. Relaxed alignment means the same
organisational domain, strict the same name (RFC 7489 section 3.1).
"""

from __future__ import annotations

import functools
import re

from publicsuffixlist import PublicSuffixList

# LDH labels (and underscores, which real DKIM d= values carry), 1-63 octets,
# at most 253 in all (RFC 1035 section 2.3.4). Anything else is not a domain
# this code will look up or align.
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)\Z")


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def normalize_domain(name: str) -> str:
    """`name` lower-cased, without a trailing dot, IDNA-encoded; "" when it is not a domain."""
    name = name.strip().rstrip(".").lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return ""
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(x) for x in labels):
        return ""
    return name


def org_domain(name: str) -> str:
    """The organisational domain of `name` (the name itself when it is a public suffix)."""
    name = name.lower().rstrip(".")
    return _suffixes().privatesuffix(name) or name


def aligned(identifier: str, from_domain: str, *, strict: bool = False) -> bool:
    """Whether an authenticated domain (DKIM d=, SPF domain) aligns with the From domain."""
    identifier = identifier.lower().rstrip(".")
    from_domain = from_domain.lower().rstrip(".")
    if not identifier or not from_domain:
        return False
    if identifier == from_domain:
        return True
    return not strict and org_domain(identifier) == org_domain(from_domain)


def address_domain(address: str) -> str:
    """The domain of `user@domain`, `<user@domain>` or a bare domain, lower-cased."""
    address = address.strip().strip("<>").strip()
    return address.rpartition("@")[2].lower().rstrip(".")
