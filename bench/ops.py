"""What the operators' and integrators' features cost: a /metrics scrape, a bearer token
against a session cookie on the API, and a backup and restore of the store.

    python bench/ops.py --messages 20000 --seed 1

Builds (once) a store under bench/out/ops-N from the synthetic corpus
(bench/corpus.py, imported with `bridge import`), then, in one process and
one run:

1. scrapes /metrics R times in-process (the database figures are a few
   aggregate queries over raw_message and outbound_mail) and prints the median;
2. asks /api/communities/SLUG/threads R times with a session cookie and R times
   with `Authorization: Bearer`, interleaved, and prints both medians and
   their ratio (the token costs one indexed lookup more per request, and a
   write every five minutes);
3. times `bridge backup` (as a subprocess) to a .tar and a .tar.gz, with the
   archives' sizes, and `bridge restore` of the .tar into a new directory.
Wall times on the shared machine move between runs; compare within a run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
OUT = ROOT / "bench" / "out"

from fastapi.testclient import TestClient  # noqa: E402

from bridge import tokens  # noqa: E402
from bridge.admin import ensure_person  # noqa: E402
from bridge.core import open_core  # noqa: E402
from bridge.settings import load_settings  # noqa: E402
from threads.db import writer  # noqa: E402
from web.app import create_app  # noqa: E402
from web.auth import open_session  # noqa: E402
from web.security import sign_session  # noqa: E402

READER = "ops.reader@example.com"


def bridge(env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bridge", *args], env=env, check=True, cwd=ROOT)
    return time.perf_counter() - start


def store(messages: int, seed: int) -> Path:
    data = OUT / f"ops-{messages}-seed{seed}"
    if (data / "done").exists():
        return data
    shutil.rmtree(data, ignore_errors=True)
    corpus = OUT / f"synthetic-{messages}-seed{seed}.mbox"
    if not corpus.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "corpus.py"),
                "--messages",
                str(messages),
                "--seed",
                str(seed),
                "--out",
                str(corpus),
            ],
            check=True,
        )
    env = {**os.environ, "BRIDGE_DATA": str(data)}
    env.pop("BRIDGE_DATABASE_URL", None)
    bridge(env, "community", "add", "bench", "--name", "Bench")
    took = bridge(env, "import", "--community", "bench", str(corpus))
    print(f"store: imported {messages} messages in {took:.1f} s")
    (data / "done").write_text("")
    return data


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-r", "--repeat", type=int, default=50)
    args = parser.parse_args()
    data = store(args.messages, args.seed)
    core = open_core(load_settings(data=data, database_url=None, org_domains=["example.com"]))
    try:
        with writer(core.engine).begin() as conn:
            token_id, token = tokens.create(conn, READER, "bench", actor="bench")
            pid, _ = ensure_person(conn, READER)
            sid = open_session(conn, pid, hours=1)
        app = create_app(core)
        client = TestClient(app, client=("127.0.0.1", 40000))
        scrapes = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            assert client.get("/metrics").status_code == 200
            scrapes.append(time.perf_counter() - start)
        print(f"/metrics scrape, {args.messages} messages: median {median_ms(scrapes)}")
        cookie = {
            "Cookie": f"{app.state.cookies.session}={sign_session(core.settings.secret_key, sid)}"
        }
        bearer = {"Authorization": f"Bearer {token}"}
        url = "/api/communities/bench/threads"
        timed: dict[str, list[float]] = {"cookie": [], "bearer": []}
        for _ in range(args.repeat):
            for name, headers in (("cookie", cookie), ("bearer", bearer)):
                start = time.perf_counter()
                assert client.get(url, headers=headers).status_code == 200
                timed[name].append(time.perf_counter() - start)
        c, b = (statistics.median(timed[k]) for k in ("cookie", "bearer"))
        print(
            f"GET {url}: cookie median {c * 1000:.2f} ms, bearer median {b * 1000:.2f} ms, "
            f"bearer/cookie {b / c:.3f}"
        )
        with writer(core.engine).begin() as conn:
            tokens.revoke(conn, token_id, actor="bench")
    finally:
        core.close()
    env = {**os.environ, "BRIDGE_DATA": str(data)}
    env.pop("BRIDGE_DATABASE_URL", None)
    work = OUT / "ops-backups"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in ("backup.tar", "backup.tar.gz"):
        took = bridge(env, "backup", str(work / name))
        size = (work / name).stat().st_size / 1e6
        print(f"bridge backup {name}: {took:.1f} s, {size:.1f} MB")
    db = (data / "bridge.sqlite3").stat().st_size / 1e6
    print(f"(database file {db:.1f} MB)")
    target = work / "restored"
    took = bridge(
        {**env, "BRIDGE_DATA": str(target)},
        "restore",
        str(work / "backup.tar"),
        "--data",
        str(target),
    )
    print(f"bridge restore backup.tar: {took:.1f} s")
    print(f"python {sys.version.split()[0]}; command: {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
