"""What a reader may see of people outside the organisation: one decision, one scrubber.

`Privacy` decides, for one reader, which addresses are hidden (those outside
BRIDGE_ORG_DOMAINS that are not the bridge's own) and names hidden people by
their display name or "someone at domain". `Privacy.redact` is the one pass
every value read from the archive for a reader goes through (web/archive.py
calls it on every query's result): it walks dataclasses, rows, dicts and
lists, gives each (name, address) pair its shown form, and scrubs every
other text. The scrubber does not need to know who took part: it finds each
`@` (and `%40`), reads the domain after it and the mailbox part before it,
and replaces the whole address when the reader may not see it. So an address
written in a subject, a signature, a quoted header, an attachment's name or
a percent-encoded `mailto:` goes too, in any case. In HTML it also finds an
address that markup splits (`<b>vera</b>@partner.example`, seen from
Outlook's auto-linking and from mail clients that style the mailbox part).
Identifiers (Message-IDs, hashes) are left alone: they are not prose, and the
mbox export needs them to thread. The full-text index stores texts with every
address scrubbed (`index_text`), so a word search cannot confirm one either.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection, Row, select

from threads.models import Route, RouteKind
from threads.people import HIDDEN_ADDRESS, domain_of, external_label, is_external

# The atext of RFC 5322 section 3.2.3, the dot, `%` of a percent-escape, and the
# \x02 \x03 that search puts around matched words (a snippet's "\x02vera\x03.v@...").
_LOCAL_CHARS = frozenset("!#$%&'*+-/=?^_`{|}~.\x02\x03")
_LABEL = r"(?:[\w\x02\x03-]|%(?!2[eE])[0-9A-Fa-f]{2})+"
_DOMAIN = re.compile(rf"{_LABEL}(?:(?:\.|%2[eE]){_LABEL})+")
_AT_SIGNS = ("@", "%40")
_MAX_LOCAL = 3 * 64  # RFC 5321's 64 characters, each perhaps written as %XX
_TAG = re.compile(r"<[^>]*>")
_MARKERS = str.maketrans("", "", "\x02\x03")

# (address field, name field): a hidden address is emptied and its name becomes the label.
ADDRESS_FIELDS: Mapping[str, str] = {
    "from_addr": "from_name",
    "last_from_addr": "last_from",
    "starter_addr": "starter",
    "address": "name",
}
# Identifiers, not text a person wrote: kept as stored.
IDENTIFIERS = frozenset({"message_id", "chain", "thread_key", "sha256", "content_id", "parent"})
HTML_FIELDS = frozenset({"html"})


class Record(dict[str, Any]):
    """A redacted row: read by attribute like the row it replaces (`row.subject`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class Privacy:
    """Which addresses one reader may see, and how the others are named.

    `own` are the bridge's own addresses (community list addresses, anything at
    the bridge's mail domain): never a person, never hidden. `reveal`: an admin,
    or no organisation domains configured; nothing is changed.
    """

    org_domains: tuple[str, ...] = ()
    own: frozenset[str] = frozenset()
    mail_domain: str = ""
    reveal: bool = True
    # domain -> whether its addresses are outside (a page asks about the same few often)
    _outside: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def external(self, address: str | None) -> bool:
        if not address or address in self.own:
            return False
        return self.outside(domain_of(address))

    def outside(self, domain: str) -> bool:
        """Whether addresses at `domain` (lower case) are external, but for our own."""
        found = self._outside.get(domain)
        if found is None:
            found = domain != self.mail_domain and is_external(f"x@{domain}", self.org_domains)
            self._outside[domain] = found
        return found

    @property
    def search_domains(self) -> tuple[str, ...] | None:
        """For search's from:/to:/cc: the domains whose addresses this reader sees (None: all)."""
        if self.reveal:
            return None
        return (*self.org_domains, *((self.mail_domain,) if self.mail_domain else ()))

    def hidden(self, address: str | None) -> bool:
        """Whether this reader must not see `address`."""
        return not self.reveal and self.external((address or "").lower())

    def name(self, name: str | None, address: str | None) -> str:
        """The label for a sender or recipient (a visible one's name is still scrubbed)."""
        if self.hidden(address):
            return external_label(name, (address or "").lower())
        return self.scrub((name or "").strip()) or address or ""

    def address(self, address: str | None) -> str:
        """The address to show, or "" when hidden."""
        return "" if self.hidden(address) else address or ""

    def person(self, entry: Mapping[str, Any] | None) -> dict[str, str]:
        """A {"name", "address"} entry (To, Cc, an organiser) as this reader may see it."""
        entry = entry or {}
        address = str(entry.get("address") or "").lower()
        return {"name": self.name(entry.get("name"), address), "address": self.address(address)}

    def scrub(self, text: str | None, *, html: bool = False) -> str:
        """`text` with every address this reader may not see replaced by HIDDEN_ADDRESS."""
        if self.reveal or not text:
            return text or ""
        return scrub_addresses(text, self.hidden, html=html, domains=self.outside)

    def redact(self, value: Any) -> Any:
        """Anything read from the archive, as this reader may see it (a copy; see module doc)."""
        if self.reveal:
            return value
        return self._value(value, "")

    def _value(self, value: Any, key: str) -> Any:
        if isinstance(value, str):
            if key in IDENTIFIERS or ("@" not in value and "%40" not in value):
                return value  # most texts: two fast scans, nothing to do
            return self.scrub(value, html=key in HTML_FIELDS)
        if value is None or isinstance(value, (int, float)) or key in IDENTIFIERS:
            return value
        if isinstance(value, Row | Record):
            return Record(self._fields(value._mapping if isinstance(value, Row) else value))
        if isinstance(value, Mapping):
            return self._fields(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self._value(v, "") for v in value)
        if is_dataclass(value) and not isinstance(value, type):
            found = {f.name: getattr(value, f.name) for f in fields(value) if f.init}
            return replace(value, **self._fields(found))
        return value  # dates, enums, bytes: no text a person wrote

    def _fields(self, values: Mapping[Any, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for address_key, name_key in ADDRESS_FIELDS.items():
            if address_key in values:
                address = values[address_key]
                if name_key in values:
                    out[name_key] = self.name(values[name_key], address)
                out[address_key] = self.address(address)
        for key, value in values.items():
            if key not in out:
                out[key] = self._value(value, key)
        return out


def scrub_addresses(
    text: str,
    hide: Callable[[str], bool],
    *,
    html: bool = False,
    domains: Callable[[str], bool] = lambda _domain: True,
) -> str:
    """`text` with each address for which `hide(address)` holds replaced by HIDDEN_ADDRESS.

    `hide` gets the address in lower case, percent-escapes decoded; `domains`,
    asked first, says whether any address at a domain may be hidden (a
    colleague's address is then passed over without reading its mailbox
    part). With `html`, an address split by tags is found in the text between
    them and replaced there, the tags kept.
    """
    if "@" not in text and "%40" not in text:
        return text
    spans = _addresses(text, hide, domains)
    text = _splice(text, [(s, e, HIDDEN_ADDRESS) for s, e in spans])
    if html and "<" in text and any(at in text for at in _AT_SIGNS):
        text = _scrub_between_tags(text, hide, domains)
    return text


def index_text(text: str | None) -> str:
    """What the full-text index stores: the text with every address scrubbed.

    Who may see which address depends on the reader and on settings that can
    change; the index is one for all readers and outlives both, so it holds
    none (from:/to:/cc: search the stored addresses instead, for those a reader
    may see).
    """
    return scrub_addresses(text or "", _always) if text else ""


def _always(_address: str) -> bool:
    return True


def _addresses(
    text: str, hide: Callable[[str], bool], domains: Callable[[str], bool]
) -> list[tuple[int, int]]:
    """Spans of the addresses to hide, in order, not overlapping.

    Found from each @ (str.find is a fast scan: most texts have none or a few)
    rather than by a regex run from every position of the text.
    """
    found = []
    for sign in _AT_SIGNS:
        at = text.find(sign)
        while at != -1:
            after = at + len(sign)
            domain = _DOMAIN.match(text, after)
            if domain is not None and domains(name := _plain(domain[0])):
                start = _local_start(text, at)
                if start < at:
                    address = f"{_plain(text[start:at])}@{name}"
                    if hide(address):
                        found.append((start, domain.end()))
                        after = domain.end()
            at = text.find(sign, after)
    kept: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if not kept or start >= kept[-1][1]:
            kept.append((start, end))
    return kept


def _local_start(text: str, at: int) -> int:
    """Where the mailbox part before the @ at `at` starts (== at: there is none)."""
    start, limit = at, max(0, at - _MAX_LOCAL)
    while start > limit and (text[start - 1].isalnum() or text[start - 1] in _LOCAL_CHARS):
        start -= 1
    while start < at and text[start] in ".\x03":  # not part of the mailbox, or a closing marker
        start += 1
    return start


def _plain(part: str) -> str:
    part = part.translate(_MARKERS)
    return (unquote(part, errors="replace") if "%" in part else part).lower()


def _splice(text: str, edits: Iterable[tuple[int, int, str]]) -> str:
    parts, last = [], 0
    for start, end, new in edits:
        parts += [text[last:start], new]
        last = end
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def _scrub_between_tags(
    html: str, hide: Callable[[str], bool], domains: Callable[[str], bool]
) -> str:
    """Addresses in the text of `html` with the tags taken out, replaced in place."""
    pieces: list[tuple[int, int, int]] = []  # (start in the joined text, start in html, length)
    joined, at = [], 0
    for match in _iter_text(html):
        start, end = match
        pieces.append((at, start, end - start))
        joined.append(html[start:end])
        at += end - start
    edits: list[tuple[int, int, str]] = []
    for span_start, span_end in _addresses("".join(joined), hide, domains):
        new = HIDDEN_ADDRESS
        for text_at, html_at, length in pieces:
            lo, hi = max(span_start, text_at), min(span_end, text_at + length)
            if lo < hi:
                edits.append((html_at + lo - text_at, html_at + hi - text_at, new))
                new = ""  # the label once, where the address began
    return _splice(html, edits)


def _iter_text(html: str) -> Iterable[tuple[int, int]]:
    last = 0
    for tag in _TAG.finditer(html):
        if tag.start() > last:
            yield last, tag.start()
        last = tag.end()
    if last < len(html):
        yield last, len(html)


def reader_privacy(
    conn: Connection, *, org_domains: Iterable[str], mail_domain: str | None, reveal: bool
) -> Privacy:
    """One reader's Privacy: `reveal` (an admin) or no org domains shows every address.

    The community addresses routed to the bridge are its own: never hidden.
    """
    domains = tuple(org_domains)
    if reveal or not domains:
        return Privacy()
    route = Route.__table__
    values = conn.execute(
        select(route.c.value).where(route.c.kind == RouteKind.address.value)
    ).scalars()
    return Privacy(
        org_domains=domains,
        own=frozenset(str(v).lower() for v in values),
        mail_domain=str(mail_domain or "").lower(),
        reveal=False,
    )
