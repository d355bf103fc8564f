"""Web pages of one kind rendered in-process, for counting instructions under valgrind.

    valgrind --tool=callgrind --callgrind-out-file=OUT \
        .venv/bin/python bench/web_inprocess.py --data bench/out/web-100000 --kind thread -n 100

Wall and CPU time on the shared 2-core machine move by a third between runs
minutes apart; the number of instructions a page executes does not move with
the neighbours' load. This script opens the store as bench/web.py does (the
same organisation reader, the same pages to pick from), warms the app with
three pages of every kind, then renders N pages of KIND through the app
(FastAPI's TestClient: routing, session, access, queries, scrubbing,
templates; no socket). Run it with -n 0 and with -n N: the difference of the
two totals, divided by N, is one page's instructions. PYTHONHASHSEED=0 keeps
the runs alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from fastapi.testclient import TestClient  # noqa: E402

from bridge.core import open_core  # noqa: E402
from bridge.settings import load_settings  # noqa: E402
from web.app import create_app  # noqa: E402

# bench/web.py, loaded by path: as a module it would be named `web`, like the package.
_spec = importlib.util.spec_from_file_location("bench_web", ROOT / "bench" / "web.py")
assert _spec is not None
assert _spec.loader is not None
bench_web = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_web)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a store made by bench/web.py")
    parser.add_argument("--kind", choices=bench_web.KINDS, required=True)
    parser.add_argument("-n", type=int, default=100, help="pages after the warm-up")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.environ["BRIDGE_ORG_DOMAINS"] = bench_web.ORG_DOMAIN  # as bench/web.py's server
    data = Path(args.data)
    headers, paths = bench_web.prepare(data, None, args.seed)
    core = open_core(load_settings(data=data, database_url=None))
    rng = random.Random(args.seed + 1)
    plan = [rng.choice(paths[kind]) for kind in bench_web.KINDS for _ in range(3)]
    plan += [rng.choice(paths[args.kind]) for _ in range(args.n)]
    failed = 0
    try:
        with TestClient(create_app(core), base_url="http://127.0.0.1") as client:
            for path in plan:
                failed += client.get(path, headers=headers).status_code not in (200, 404)
    finally:
        core.close()
    print(f"{len(plan)} pages ({args.n} {args.kind}), {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
