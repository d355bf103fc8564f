"""Whether a string is a DNS name or a DKIM selector, by its labels alone (no lookup).

Apart from mail/signing.py so that checking the settings does not import the DKIM
and cryptography libraries a command that signs nothing never uses.
"""

from __future__ import annotations

import re

# A DNS label (RFC 1035 2.3.1, with digits first allowed as RFC 1123 does).
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def valid_selector(selector: str) -> bool:
    """A selector is one or more DNS labels (RFC 6376 3.1); no slash, no dots at the ends."""
    return bool(selector) and all(_LABEL.match(part) for part in selector.lower().split("."))


def valid_domain(domain: str) -> bool:
    parts = domain.lower().split(".")
    return len(parts) >= 2 and all(_LABEL.match(part) for part in parts)
