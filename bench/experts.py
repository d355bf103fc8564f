"""Who knows X, judged and timed: success@5 and MRR over the linux-usb judged set, and latency.

    python bench/experts.py --url sqlite:////path/to/bridge.sqlite3
    python bench/experts.py --url postgresql+psycopg://...   # an imported store on PostgreSQL

The store is the linux-usb corpus imported with `bridge import` (docs/benchmarks.md has
the commands). Each query of tests/data/experts_judged.json is asked as the shell's local
admin (every community, every address), as `bridge experts` asks it; a query succeeds at
5 when one of its expected people (the area's maintainers in the kernel's MAINTAINERS
file) is among the first five. Latency is each query's `find_experts` in-process, the
background sample already warm (its first, cold build is printed apart), repeated
`--rounds` times: p50 and p95 over all of them, as wall time and as this process's CPU
time (the machine's load average is printed: on a shared machine wall time mostly
measures the neighbours).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from threads.db import make_engine, migrate  # noqa: E402
from threads.expert_reads import find_experts  # noqa: E402
from threads.privacy import Privacy  # noqa: E402

JUDGED = ROOT / "tests" / "data" / "experts_judged.json"


def judge(ranked: list[str], expected: set[str]) -> int | None:
    """The 1-based rank of the first expected person, or None."""
    return next((n for n, a in enumerate(ranked, start=1) if a in expected), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="the imported store's database URL")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--verbose", action="store_true", help="print each query's top five")
    args = parser.parse_args()
    judged = json.loads(JUDGED.read_text())["queries"]
    engine = make_engine(args.url)
    migrate(engine)  # a store imported by an older bridge
    with engine.connect() as conn:
        start = time.perf_counter()
        find_experts(conn, "warm", community_ids=None, privacy=Privacy())
        cold = time.perf_counter() - start
        ranks: dict[str, list[int | None]] = {}
        times: list[float] = []
        cpu: list[float] = []
        for item in judged:
            for _ in range(args.rounds):
                start, busy = time.perf_counter(), time.process_time()
                found = find_experts(conn, item["query"], community_ids=None, privacy=Privacy())
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - busy)
            top = [p.address for p in found.people]
            rank = judge(top, set(item["expected"]))
            ranks.setdefault(item["kind"], []).append(rank)
            ranks.setdefault("all", []).append(rank)
            if args.verbose:
                print(f"{item['kind']:6} {rank!s:>4}  {item['query']!r}  +{list(found.expanded)}")
                for p in found.people[:5]:
                    print(f"         {p.score:8.2f}  {p.address}")
    engine.dispose()
    for kind in ("jargon", "plain", "all"):
        got = ranks.get(kind, [])
        success = sum(1 for r in got if r is not None and r <= 5) / max(len(got), 1)
        mrr = sum(1 / r for r in got if r is not None) / max(len(got), 1)
        print(f"{kind:6}  queries {len(got):3}  success@5 {success:.2f}  MRR {mrr:.2f}")
    print(f"latency  cold background {cold * 1000:.0f} ms; over {len(times)} warm questions:")
    for label, values in (("wall", times), ("cpu", cpu)):
        values.sort()
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        print(f"  {label:4} p50 {statistics.median(values) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
    print(f"  load average while measured: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
