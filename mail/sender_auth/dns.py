"""DNS lookups for sender authentication: TXT (and A/AAAA/MX/PTR for SPF), cached, bounded.

One `Resolver` serves the whole process: answers are kept for their TTL (and
NXDOMAIN/NODATA for the zone's negative TTL, RFC 2308) so that a busy list's
DKIM key is fetched once, not once a message. Every query gives up after the
timeout (2 s by default; resolvers' own defaults of 5-30 s would stall the
pipeline on one dead name server). "No such record" is an empty list; a
timeout, SERVFAIL or no reachable server raises `DNSTempError`, which callers
turn into temperror -- never into a pass. Thread-safe: the cache sits behind a
lock, the queries themselves run outside it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from mail.errors import DNSTempError

# Positive answers are kept at most a day, negative ones at most 15 minutes
# (a key published minutes ago should not stay invisible for the zone's
# SOA minimum, which is often hours). Without an SOA we keep "nothing" 60 s.
MAX_TTL = 86_400
MAX_NEGATIVE_TTL = 900
DEFAULT_NEGATIVE_TTL = 60
# Hostile mail can name as many selectors and domains as it likes: the cache
# is bounded and sheds its oldest entries when full.
MAX_ENTRIES = 10_000

_TYPES = frozenset({"TXT", "A", "AAAA", "MX", "PTR"})


class Lookups(Protocol):
    """What the checks need of a resolver (a `Resolver`, or one under a `Deadline`)."""

    def txt(self, name: str) -> list[bytes]: ...

    def lookup(self, name: str, rdtype: str) -> list[object]: ...


def _nameserver(spec: str) -> dns.nameserver.Nameserver:
    """`127.0.0.1`, `127.0.0.1:5353`, `::1` or `[::1]:5353` as a UDP/TCP name server."""
    spec = spec.strip()
    host, port = spec, 53
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif spec.count(":") == 1:
        host, _, port_text = spec.partition(":")
        port = int(port_text)
    return dns.nameserver.Do53Nameserver(host, port)


def _negative_ttl(response: dns.message.Message | None) -> int:
    """The negative-caching TTL of a NXDOMAIN/NODATA response (RFC 2308 section 5)."""
    if response is not None:
        for rrset in response.authority:
            if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
                soa: Any = rrset[0]
                return min(rrset.ttl, int(soa.minimum), MAX_NEGATIVE_TTL)
    return DEFAULT_NEGATIVE_TTL


def _value(rdtype: str, rdata: Any) -> object:
    """One record as a plain value: TXT bytes (strings joined), addresses, MX pairs, names."""
    if rdtype == "TXT":
        return b"".join(rdata.strings)
    if rdtype in ("A", "AAAA"):
        return str(rdata.address)
    if rdtype == "MX":
        return (int(rdata.preference), rdata.exchange.to_text(omit_final_dot=True))
    return str(rdata.target.to_text(omit_final_dot=True))


class Resolver:
    """TXT (and A/AAAA/MX/PTR as SPF needs) lookups with a TTL cache, a 2 s timeout, thread-safe."""

    def __init__(self, nameservers: Sequence[str] = (), timeout: float = 2.0) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, tuple[object, ...]]] = {}
        self._unconfigured = ""
        try:
            self._resolver = dns.resolver.Resolver(configure=not nameservers)
        except dns.resolver.NoResolverConfiguration as exc:
            # No /etc/resolv.conf: every lookup is a temporary failure, which
            # the verdict shows, rather than a crash at start.
            self._resolver = dns.resolver.Resolver(configure=False)
            self._unconfigured = f"no DNS resolver configured: {exc}"
        if nameservers:
            self._resolver.nameservers = [_nameserver(spec) for spec in nameservers]
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout
        self._resolver.cache = None  # ours below, which also keeps negative answers

    def txt(self, name: str) -> list[bytes]:
        """The TXT records of `name`, each record's strings joined; [] when there are none."""
        return [v for v in self.lookup(name, "TXT") if isinstance(v, bytes)]

    def lookup(self, name: str, rdtype: str) -> list[object]:
        """Records of one type: TXT -> bytes, A/AAAA -> address text, MX -> (preference,
        exchange), PTR -> name. NXDOMAIN, no data and names that cannot exist give []."""
        if rdtype not in _TYPES:
            raise ValueError(f"unsupported record type {rdtype!r}")
        key = (name.lower().rstrip("."), rdtype)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return list(cached[1])
        ttl, values = self._query(key[0], rdtype)
        self._remember(key, now + ttl, values)
        return list(values)

    def _query(self, name: str, rdtype: str) -> tuple[int, tuple[object, ...]]:
        if self._unconfigured:
            raise DNSTempError(self._unconfigured)
        try:
            qname = dns.name.from_text(name)
        except (dns.exception.DNSException, UnicodeError, ValueError):
            return MAX_NEGATIVE_TTL, ()  # not a valid domain name: nothing can be there
        try:
            answer = self._resolver.resolve(qname, rdtype, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN as exc:
            responses = exc.kwargs.get("responses") or {}
            return _negative_ttl(next(iter(responses.values()), None)), ()
        except dns.exception.Timeout as exc:
            raise DNSTempError(f"DNS timeout for {name} {rdtype}: {exc}") from exc
        except (dns.resolver.NoNameservers, dns.resolver.YXDOMAIN) as exc:
            raise DNSTempError(f"DNS failure for {name} {rdtype}: {exc}") from exc
        except dns.exception.DNSException as exc:
            raise DNSTempError(f"DNS error for {name} {rdtype}: {exc}") from exc
        if answer.rrset is None:
            return _negative_ttl(answer.response), ()
        values = tuple(_value(rdtype, rdata) for rdata in answer.rrset)
        return min(answer.rrset.ttl, MAX_TTL), values

    def _remember(self, key: tuple[str, str], expires: float, values: tuple[object, ...]) -> None:
        with self._lock:
            if len(self._cache) >= MAX_ENTRIES:
                now = time.monotonic()
                for old in [k for k, (exp, _) in self._cache.items() if exp <= now]:
                    del self._cache[old]
                if len(self._cache) >= MAX_ENTRIES:
                    for old in list(self._cache)[: MAX_ENTRIES // 2]:
                        del self._cache[old]
            self._cache[key] = (expires, values)


class Deadline:
    """A resolver's lookups for one message, refused once `seconds` have passed.

    Each lookup may take the resolver's timeout; a message naming many dead
    domains (five DKIM selectors, a long ARC chain, SPF includes) would add
    them up. Past the deadline every further lookup is a DNSTempError, so one
    message costs at most `seconds` plus one timeout.
    """

    def __init__(self, resolver: Lookups, seconds: float) -> None:
        self._resolver = resolver
        self._until = time.monotonic() + seconds
        self.count = 0

    def _check(self, name: str) -> None:
        if time.monotonic() >= self._until:
            raise DNSTempError(f"time for this message's DNS lookups spent before {name}")
        self.count += 1

    def txt(self, name: str) -> list[bytes]:
        """As `Resolver.txt`, unless the deadline has passed."""
        self._check(name)
        return self._resolver.txt(name)

    def lookup(self, name: str, rdtype: str) -> list[object]:
        """As `Resolver.lookup`, unless the deadline has passed."""
        self._check(name)
        return self._resolver.lookup(name, rdtype)
