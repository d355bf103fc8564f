"""Where one `bridge experts QUERY` process spends its time, step by step.

    python bench/experts_phases.py --data bench/out/scale-sqlite-100k "budget review"
    PYTHONPATH=/tmp/before python bench/experts_phases.py --data DIR QUERY   # older code

Does in order what the command does without a running `bridge serve`
(bridge/cli/context.py `open_store`, then bridge/expert_answers.py) and prints
each step's wall and CPU time: importing the command line, the settings, the
database module; reading the settings; opening the engine; the schema check
(`migrate`); importing what the question needs; the question itself
(`find_experts`; its background sample from the data directory's cache/ when
kept there). The interpreter's own start is not in it: compare `python -c
pass`. Run it with the console script's interpreter so the same packages load.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

started = (time.perf_counter(), time.process_time())
steps: list[tuple[str, float, float]] = []


def step(name: str) -> None:
    steps.append((name, time.perf_counter(), time.process_time()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the store's data directory")
    parser.add_argument("query")
    args = parser.parse_args()
    step("(this script's argparse)")
    import bridge.cli  # noqa: F401  (what the console script loads first)

    step("import bridge.cli")
    from bridge.settings import load_settings

    step("import bridge.settings")
    from threads.db import make_engine, migrate

    step("import threads.db")
    settings = load_settings(data=args.data)
    step("load_settings()")
    engine = make_engine(settings.effective_database_url)
    step("make_engine()")
    migrate(engine)
    step("migrate(): the schema check")
    try:
        from bridge.expert_answers import FileSamples
    except ImportError:  # older code (PYTHONPATH=/tmp/before) kept it in the command's module
        from bridge.cli.experts import FileSamples  # type: ignore[attr-defined,no-redef]
    from threads.access import LOCAL_ADMIN, readable_community_ids
    from threads.expert_reads import find_experts
    from threads.privacy import reader_privacy

    step("import the question's modules")
    with engine.connect() as conn:
        readable = readable_community_ids(conn, LOCAL_ADMIN)
        shield = reader_privacy(
            conn, org_domains=settings.org_domains, mail_domain=settings.mail_domain, reveal=True
        )
        found = find_experts(
            conn,
            args.query,
            community_ids=readable,
            privacy=shield,
            limit=10,
            store=FileSamples(settings.data / "cache"),
        )
    step(f"the question ({len(found.people)} people)")
    engine.dispose()
    before = started
    for name, wall, cpu in steps:
        print(f"{name:32} {_times(wall - before[0], cpu - before[1])}")
        before = (wall, cpu)
    last = steps[-1]
    print(f"{'total after start-up':32} {_times(last[1] - started[0], last[2] - started[1])}")


def _times(wall: float, cpu: float) -> str:
    return f"wall {1000 * wall:7.1f} ms  cpu {1000 * cpu:7.1f} ms"


if __name__ == "__main__":
    main()
