"""Sender authentication: verifications/s of a DKIM-signed message, DNS cached and uncached.

    python bench/sender_auth.py                 # 2,000 verifications each way, 3 rounds
    python bench/sender_auth.py -n 500 --rounds 5 --bits 1024

A 2048-bit RSA key for org.example, SPF and DMARC p=reject are published on the
test suite's DNS stub on loopback (tests/support/dnsstub.py); one message of about 2 kB
is signed once with dkimpy. Each verification is the full `verify`: the DKIM
signature, the (absent) ARC chain, SPF for 127.0.0.1 and DMARC.
"cached" reuses one Resolver, so after the first message nothing is asked of
DNS; "uncached" gives every verification a new Resolver, so each asks the stub
for the key, the SPF record and the DMARC record (three loopback round trips).
The figure is the median round; rounds alternate the two ways.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from mail.sender_auth import Resolver, verify  # noqa: E402
from tests.support.dkimkeys import DkimKey  # noqa: E402
from tests.support.dnsstub import DNSStub  # noqa: E402
from tests.support.messages import make_mail  # noqa: E402

ORG = "org.example"


def _round(raw: bytes, count: int, resolver_for: Callable[[], Resolver]) -> float:
    started = time.perf_counter()
    for _ in range(count):
        verdict = verify(
            raw,
            resolver=resolver_for(),
            from_domain=ORG,
            client_ip="127.0.0.1",
            mail_from="ana@org.example",
        )
        if not verdict.aligned or verdict.dkim != "pass":
            raise SystemExit(f"verification failed: {verdict.summary()}")
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="verifications per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bits", type=int, default=2048, help="RSA key size")
    args = parser.parse_args()
    key = DkimKey.generate("bench", bits=args.bits)
    body = "Hello all,\nplease see the plan for the next quarter.\n" * 40
    raw = key.sign(make_mail(sender=f"Ana Lima <ana@{ORG}>", body=body), "sel", ORG)
    with DNSStub() as stub:
        key.publish(stub, "sel", ORG)
        stub.add_txt(ORG, "v=spf1 ip4:127.0.0.1 -all")
        stub.add_txt(f"_dmarc.{ORG}", "v=DMARC1; p=reject")
        shared = Resolver([stub.address])
        rates: dict[str, list[float]] = {"cached": [], "uncached": []}
        for _ in range(args.rounds):
            rates["cached"].append(_round(raw, args.n, lambda: shared))
            before = stub.queries
            rates["uncached"].append(_round(raw, args.n, lambda: Resolver([stub.address])))
            asked = (stub.queries - before) / args.n
    print(f"message {len(raw)} bytes, RSA-{args.bits}, {args.rounds} rounds of {args.n}")
    for way, values in rates.items():
        spread = ", ".join(f"{v:.0f}" for v in values)
        print(f"{way:9} {statistics.median(values):8.0f} verifications/s  (rounds: {spread})")
    print(f"uncached: {asked:.1f} DNS queries per verification")


if __name__ == "__main__":
    main()
