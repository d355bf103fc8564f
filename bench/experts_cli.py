"""`bridge experts QUERY` as a person runs it: one process per question, wall and CPU time.

    python bench/experts_cli.py --data bench/out/scale-sqlite-100k            # its store
    python bench/experts_cli.py --data DIR --code /tmp/before                 # older code

Each question runs `bridge experts QUERY --json` in a process of its own against
the store in DIR (BRIDGE_DATA; BRIDGE_DATABASE_URL from the environment for a
PostgreSQL store), `--rounds` times, the questions interleaved; the figures are
p50 and p95 of each process's wall time and of its CPU time (user + system, the
process and its children), and the machine's load average (on a shared machine
wall time mostly measures the neighbours). The first round's questions find no
background sample kept from an earlier run unless one is there already; `--cold`
removes the kept samples before every question.

`--in-process` asks the same questions in this process instead, through the
function the command calls (threads.expert_reads.find_experts, the shell's local
admin, the sample kept between questions as the command keeps it on disk): what
the web's /experts and /api/experts pay per question, without any start-up.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BRIDGE = ROOT / ".venv" / "bin" / "bridge"
# Topics of the synthetic corpus (bench/corpus.py), rare and common, one word and two.
QUESTIONS = (
    "budget review",
    "incident",
    "rollout plan",
    "quarterly forecast",
    "vendor contract",
    "migration",
    "onboarding",
    "security audit",
)


def ask(query: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one `bridge experts` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [str(BRIDGE), "experts", query, "--json"], env=env, capture_output=True, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"bridge experts {query!r} failed:\n{done.stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def in_process(data: Path, rounds: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each question asked through `find_experts` in this process."""
    sys.path.insert(0, str(ROOT))
    from bridge.expert_answers import FileSamples
    from bridge.settings import load_settings
    from threads.access import LOCAL_ADMIN, readable_community_ids
    from threads.db import make_engine, migrate
    from threads.expert_reads import find_experts
    from threads.privacy import reader_privacy

    settings = load_settings(data=data)
    engine = make_engine(settings.effective_database_url)
    migrate(engine)
    walls: list[float] = []
    cpus: list[float] = []
    with engine.connect() as conn:
        for _ in range(rounds):
            for query in QUESTIONS:
                started, cpu = time.perf_counter(), time.process_time()
                readable = readable_community_ids(conn, LOCAL_ADMIN)
                shield = reader_privacy(
                    conn,
                    org_domains=settings.org_domains,
                    mail_domain=settings.mail_domain,
                    reveal=True,
                )
                find_experts(
                    conn,
                    query,
                    community_ids=readable,
                    privacy=shield,
                    limit=10,
                    store=FileSamples(data / "cache"),
                )
                walls.append(time.perf_counter() - started)
                cpus.append(time.process_time() - cpu)
    engine.dispose()
    return walls, cpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the store's data directory")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--code", metavar="DIR", help="another checkout's code")
    parser.add_argument("--cold", action="store_true", help="no kept sample, every question")
    parser.add_argument("--in-process", action="store_true", help="find_experts, no processes")
    args = parser.parse_args()
    env = {**os.environ, "BRIDGE_DATA": str(args.data)}
    if args.code:
        env["PYTHONPATH"] = str(Path(args.code).resolve())
    walls: list[float] = []
    cpus: list[float] = []
    loads: list[float] = [os.getloadavg()[0]]
    if args.in_process:
        walls, cpus = in_process(args.data, args.rounds)
        loads.append(os.getloadavg()[0])
    for _ in range(0 if args.in_process else args.rounds):
        for query in QUESTIONS:
            if args.cold:
                shutil.rmtree(args.data / "cache", ignore_errors=True)
            wall, cpu = ask(query, env)
            walls.append(wall)
            cpus.append(cpu)
            loads.append(os.getloadavg()[0])
    for label, values in (("wall", walls), ("cpu", cpus)):
        values.sort()
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        print(
            f"{label:4} p50 {statistics.median(values) * 1000:6.0f} ms  p95 {p95 * 1000:6.0f} ms"
            f"  ({len(values)} {'questions' if args.in_process else 'processes'})"
        )
    print(f"load average {min(loads):.1f}-{max(loads):.1f}; command: {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
