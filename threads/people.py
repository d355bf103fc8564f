"""People are e-mail addresses: one normal form to store and compare them by.

`normalize_email` is the key a `Person` is stored under. The local part and
the domain are NFKC-normalised and case-folded, so `Ana@Example.COM`,
`ana@example.com` and the full-width `ａｎａ@ｅｘａｍｐｌｅ.com` are one
person; the domain is then written in its IDNA (punycode) form, which is how
the mail system routes it. Characters from other scripts are not "confusable
folded": a Cyrillic `а` stays a Cyrillic `а`, so `аna@example.com` is a
different person from `ana@example.com`, and its domain is not an org domain.
Invisible characters (controls, zero-width joiners, bidi marks) are refused
outright: they only ever serve to make two addresses look the same.
Plus-addressing is kept: `ana+lists@` is whatever its mail server says it is,
and merging it with `ana@` would let one mailbox speak for the other.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from threads.errors import InvalidAddress

_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"}
_LOCAL_SPECIALS = re.compile(r'[\s"(),:;<>@\[\\\]]')
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")  # letters, digits, hyphens


def _fold(text: str) -> str:
    # casefold can un-normalise (e.g. U+0390), so normalise on both sides of it.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def normalize_email(address: str) -> str:
    """The stored, compared form of `address`; raises InvalidAddress."""
    value = address.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    if len(value) > 320 or value.count("@") != 1:
        raise InvalidAddress("an address has exactly one @ and at most 320 characters")
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in value):
        raise InvalidAddress("an address has no spaces, control or invisible characters")
    local, domain = (_fold(part) for part in value.split("@"))
    if not local or len(local) > 64 or _LOCAL_SPECIALS.search(local):
        raise InvalidAddress("the part before @ is empty, too long or has special characters")
    domain = domain.rstrip(".")
    try:
        labels = [_ascii_label(label) for label in domain.split(".")]
    except UnicodeError as exc:
        raise InvalidAddress("the domain is not a valid domain name") from exc
    # One label (root@localhost) is a valid domain for mail inside a network.
    if any(not label for label in labels):
        raise InvalidAddress("the domain has an empty part, like example..com")
    return f"{local}@{'.'.join(labels)}"


def _ascii_label(label: str) -> str:
    if label.isascii():
        if not _LDH_LABEL.fullmatch(label):
            raise UnicodeError(label)
        return label
    # Python's IDNA 2003 codec: nameprep (itself NFKC + case folding), then punycode.
    return label.encode("idna").decode("ascii")


def try_normalize(address: str) -> str | None:
    try:
        return normalize_email(address)
    except InvalidAddress:
        return None


def domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1]


def is_org_address(email: str | None, org_domains: Iterable[str]) -> bool:
    """Whether a normalised address belongs to one of the organisation's domains (exactly)."""
    if not email:
        return False
    return domain_of(email) in _domain_set(tuple(org_domains))


@lru_cache(maxsize=64)
def _domain_set(org_domains: tuple[str, ...]) -> frozenset[str]:
    # Settings hold a handful of domains; every page asks about dozens of addresses.
    return frozenset(normalize_domain(d) for d in org_domains)


def normalize_domain(domain: str) -> str:
    try:
        return normalize_email(f"x@{domain.strip().lstrip('@')}").split("@", 1)[1]
    except InvalidAddress:
        return domain.strip().lower()


# --- External participants: shown by name, their addresses kept from web readers ----------

HIDDEN_ADDRESS = "(address hidden)"


def is_external(email: str | None, org_domains: Iterable[str]) -> bool:
    """Whether a normalised address is outside the organisation.

    With no BRIDGE_ORG_DOMAINS configured the bridge cannot tell colleagues
    from outsiders, so nobody is external (and every address is shown, as
    before): hiding everyone's would make the archive unreadable.
    """
    domains = tuple(org_domains)
    if not email or not domains:
        return False
    return not is_org_address(email, domains)


def usable_name(name: str | None, email: str | None) -> str:
    """A display name fit to stand for an external person, or "" when it gives the address away.

    Clients often put the address itself in the name ("bob@example.net"
    <bob@example.net>) or write "Bob (bob@example.net)": any name holding an
    @ is treated as absent.
    """
    value = (name or "").strip().strip("'\"").strip()
    if not value or "@" in value:
        return ""
    if email and email.split("@", 1)[0] and value.lower() == email.split("@", 1)[0]:
        return ""  # the local part alone is the address minus its domain
    return value


def external_label(name: str | None, email: str) -> str:
    """How an external person is named to web readers: their name, else their organisation.

    The domain is kept when there is no name: "someone at vendor.example" tells
    a reader which company joined the conversation, which the thread usually
    needs, while the mailbox part is what identifies and reaches a person.
    """
    return usable_name(name, email) or f"someone at {domain_of(email)}"


def distinct_writers(writers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(name, address) of each person among a thread's writers, once, in the given order.

    The same address is one person; so is the same full name (two words or more)
    under two addresses, as when someone writes from home and from work. A lone
    word or a bare address is too common to merge on. An empty address (hidden
    from the reader) leaves only the name to go by. The thread page and the
    community list both count participants with this, so their counts agree.
    """
    found: list[tuple[str, str]] = []
    addresses: set[str] = set()
    names: set[str] = set()
    for name, address in writers:
        address = (address or "").lower()
        shown = " ".join((name or address).split())
        key = shown.casefold()
        same_name = key in names and (not address or " " in key)
        if (address and address in addresses) or same_name:
            addresses.add(address)
            continue
        addresses.add(address)
        names.add(key)
        found.append((shown, address))
    return found
