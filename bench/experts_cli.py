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

`--serve` first starts `bridge serve --role worker` on the store (the role that
needs no port; every role set answers on the socket), waits for its socket
(DATA/run/bridge.sock), checks that a command really gets its answer there
(it must not import SQLAlchemy), then runs the same per-process loop: each
`bridge experts` hands its question to the service (bridge/local_socket.py).
It also prints the service's CPU per question, which the command's own figures
leave out.

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
import signal
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


# A `bridge experts` process that reports whether it loaded SQLAlchemy (it falls back
# to its own path, which does, when the service does not answer).
PROBE = """
import sys
from bridge.cli import main
try:
    main(["experts", "budget review", "--json"], prog_name="bridge")
except SystemExit as exc:
    assert not exc.code, exc.code
print("sqlalchemy" in sys.modules, file=sys.stderr)
"""


def start_service(data: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`bridge serve --role worker` on the store, once its socket is there."""
    sock = data / "run" / "bridge.sock"
    service = subprocess.Popen(
        [str(BRIDGE), "serve", "--role", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not sock.exists():
        if service.poll() is not None or time.monotonic() > deadline:
            service.kill()
            sys.exit("bridge serve did not open its socket")
        time.sleep(0.1)
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=False
    )
    if probe.returncode != 0 or probe.stderr.strip().splitlines()[-1:] != ["False"]:
        stop_service(service)
        sys.exit(f"the command did not get its answer from the service:\n{probe.stderr[-2000:]}")
    return service


def stop_service(service: subprocess.Popen[bytes]) -> None:
    service.send_signal(signal.SIGTERM)
    service.wait(60)


def cpu_of(pid: int) -> float:
    """User + system seconds a running process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    parser.add_argument("--serve", action="store_true", help="ask a running bridge serve")
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
    service = start_service(args.data, env) if args.serve else None
    served_from = cpu_of(service.pid) if service else 0.0
    for _ in range(0 if args.in_process else args.rounds):
        for query in QUESTIONS:
            if args.cold:
                shutil.rmtree(args.data / "cache", ignore_errors=True)
            wall, cpu = ask(query, env)
            walls.append(wall)
            cpus.append(cpu)
            loads.append(os.getloadavg()[0])
    if service is not None:
        served = cpu_of(service.pid) - served_from
        stop_service(service)
        print(
            f"service CPU {served * 1000 / len(walls):6.0f} ms a question (mean over {len(walls)})"
        )
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
