"""A DNS server on loopback for tests: publish TXT/A/AAAA/MX/PTR records, count the queries.

    with DNSStub() as stub:
        stub.add_txt("sel._domainkey.org.example", "v=DKIM1; k=rsa; p=...", ttl=300)
        resolver = Resolver([stub.address])      # "127.0.0.1:PORT"
        ...; assert stub.queries == 1

It answers over UDP from a thread, authoritative for every name: records it
holds, NODATA for a known name without that type, NXDOMAIN otherwise (both
with an SOA whose minimum is `negative_ttl`), SERVFAIL for names passed to
`fail`. dnslib encodes and decodes the messages. `silent_udp` is its
opposite: a bound socket that never answers, for timeout tests.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from types import TracebackType

from dnslib import AAAA, MX, PTR, QTYPE, RCODE, RR, SOA, TXT, A, DNSRecord
from dnslib.dns import RD, DNSError


def _key(name: str) -> str:
    return name.lower().rstrip(".")


class DNSStub:
    """An authoritative-for-everything UDP DNS server on 127.0.0.1 with a query counter."""

    def __init__(self, negative_ttl: int = 60) -> None:
        self.negative_ttl = negative_ttl
        self.queries = 0
        self.asked: list[tuple[str, str]] = []
        self._records: dict[tuple[str, str], list[tuple[RD, int]]] = {}
        self._failing: set[str] = set()
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.address = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dnsstub", daemon=True)
        self._thread.start()

    def _add(self, name: str, rtype: str, rdata: RD, ttl: int) -> None:
        with self._lock:
            self._records.setdefault((_key(name), rtype), []).append((rdata, ttl))

    def add_txt(self, name: str, value: str | bytes, ttl: int = 300) -> None:
        """A TXT record; values over 255 bytes are split into strings as DNS requires."""
        data = value.encode() if isinstance(value, str) else value
        chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
        self._add(name, "TXT", TXT(chunks), ttl)

    def add_a(self, name: str, address: str, ttl: int = 300) -> None:
        """An A record."""
        self._add(name, "A", A(address), ttl)

    def add_aaaa(self, name: str, address: str, ttl: int = 300) -> None:
        """An AAAA record."""
        self._add(name, "AAAA", AAAA(address), ttl)

    def add_mx(self, name: str, exchange: str, preference: int = 10, ttl: int = 300) -> None:
        """An MX record."""
        self._add(name, "MX", MX(exchange, preference), ttl)

    def add_ptr(self, name: str, target: str, ttl: int = 300) -> None:
        """A PTR record (name is the reverse name, e.g. 1.0.0.127.in-addr.arpa)."""
        self._add(name, "PTR", PTR(target), ttl)

    def fail(self, name: str) -> None:
        """Answer SERVFAIL for every query about `name`."""
        with self._lock:
            self._failing.add(_key(name))

    def clear(self) -> None:
        """Forget every record and failure (the counter stays)."""
        with self._lock:
            self._records.clear()
            self._failing.clear()

    def _answer(self, request: DNSRecord) -> DNSRecord:
        reply = request.reply()
        name = _key(str(request.q.qname))
        rtype = QTYPE.get(request.q.qtype)
        with self._lock:
            failing = name in self._failing
            found = list(self._records.get((name, rtype), []))
            known = any(key[0] == name for key in self._records)
        if failing:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        for rdata, ttl in found:
            reply.add_answer(RR(request.q.qname, QTYPE.reverse[rtype], rdata=rdata, ttl=ttl))
        if not found:
            if not known:
                reply.header.rcode = RCODE.NXDOMAIN
            zone = ".".join(name.split(".")[-2:]) or "."
            soa = SOA(f"ns.{zone}", f"hostmaster.{zone}", (1, 3600, 600, 86400, self.negative_ttl))
            reply.add_auth(RR(zone, QTYPE.SOA, rdata=soa, ttl=self.negative_ttl))
        return reply

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                request = DNSRecord.parse(data)
            except DNSError:
                continue  # not DNS: a real server would drop it too
            with self._lock:
                self.queries += 1
                self.asked.append((_key(str(request.q.qname)), str(QTYPE.get(request.q.qtype))))
            with contextlib.suppress(OSError):
                self._sock.sendto(self._answer(request).pack(), peer)

    def close(self) -> None:
        """Stop serving and release the port."""
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def __enter__(self) -> DNSStub:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextlib.contextmanager
def silent_udp() -> Iterator[str]:
    """The "127.0.0.1:PORT" of a UDP socket that receives queries and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
