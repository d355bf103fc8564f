"""Import and search at scale, on SQLite or PostgreSQL: rates, search latency, memory, size.

    python bench/scale.py --messages 1000000 --backend sqlite
    python bench/scale.py --messages 1000000 --backend postgres     # private cluster
    python bench/scale.py --messages 100000 --backend postgres --pg-url postgresql+psycopg://...

The corpus is bench/corpus.py's (cached in bench/out/). The import runs as
`bridge import` in a subprocess, measured like bench/ingest.py (wall, CPU,
peak RSS). Search runs in-process against the imported store: queries are
drawn from the imported text itself (rare and common words, word pairs,
two-word phrases, words with operators, word starts with `*`, CJK words and
accented words typed without their accents), each timed with
`threads.search.search` as the web page calls it; the script prints
p50/p95/p99 per kind and overall.

`--code DIR` runs another checkout's code (an export of an older commit), for
the import and the search alike, against the same corpus and the same queries:

    python bench/scale.py --messages 100000 --backend sqlite --code /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

# --code DIR: another checkout's code, ahead of this one's (the bench stays this one).
CODE = Path(sys.argv[sys.argv.index("--code") + 1]).resolve() if "--code" in sys.argv else None
if CODE is not None:
    sys.path.insert(0, str(CODE))

import ingest  # noqa: E402  (bench/ingest.py: corpus, timed import)
from sqlalchemy import Connection, func, select, text  # noqa: E402

from tests.support.backend import PostgresCluster  # noqa: E402
from threads import search  # noqa: E402
from threads.db import make_engine  # noqa: E402
from threads.models import Message  # noqa: E402

WORD_MIN = 4
# Han, kana and Hangul: what the corpus's Japanese and Chinese mail is written in.
CJK_RUN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]{2,}")


def sample_queries(url: str, count: int, seed: int) -> dict[str, list[str]]:
    """Queries from the archive's own words: single words, AND pairs, two-word phrases,
    and a word with an operator (a sender, has:attachment, or -word after:)."""
    rng = random.Random(seed)
    engine = make_engine(url)
    with engine.connect() as conn:
        top = conn.execute(select(func.max(Message.id))).scalar_one()
        texts: list[tuple[str, str]] = []
        while len(texts) < count:
            pk = rng.randint(1, top)
            row = conn.execute(
                select(Message.visible_text, Message.from_addr).where(Message.id == pk)
            ).first()
            if row and row[0]:
                texts.append((row[0], row[1]))
    engine.dispose()
    kinds: dict[str, list[str]] = {"word": [], "two words": [], "phrase": [], "operators": []}
    for n, (body, sender) in enumerate(texts):
        words = [w for w in body.split() if w.isalpha() and len(w) >= WORD_MIN]
        if len(words) < 3:
            continue
        i = rng.randrange(len(words) - 1)
        kinds["word"].append(words[i])
        kinds["two words"].append(f"{rng.choice(words)} {rng.choice(words)}")
        kinds["phrase"].append(f'"{words[i]} {words[i + 1]}"')
        operator = (
            f"from:{sender.split('@')[0]}",
            "has:attachment",
            f"-{words[i + 1]} after:2024",
        )[n % 3]
        kinds["operators"].append(f"{words[i]} {operator}")
    # The kinds added later draw from a generator of their own, so the kinds above
    # keep the queries earlier runs timed.
    more = random.Random(seed + 1)
    kinds["prefix"] = []
    kinds["accented"] = []
    for body, _ in texts:
        words = [w for w in body.split() if w.isalpha() and len(w) >= WORD_MIN]
        if words:
            word = more.choice(words)
            kinds["prefix"].append(word[: more.randint(3, min(6, len(word) - 1))] + "*")
        accented = [w for w in words if not w.isascii() and _plain(w).isascii()]
        if accented:
            kinds["accented"].append(_plain(more.choice(accented)))
    kinds["cjk"] = cjk_queries(url, count // 4, more)
    return kinds


def cjk_queries(url: str, count: int, rng: random.Random) -> list[str]:
    """Two to four characters from inside the CJK text of random messages (rare in
    the corpus: messages are drawn until `count` are found, or 50 times as many tried)."""
    engine = make_engine(url)
    found: list[str] = []
    with engine.connect() as conn:
        top = conn.execute(select(func.max(Message.id))).scalar_one()
        for _ in range(count * 50):
            if len(found) >= count:
                break
            pk = rng.randint(1, top)
            body = conn.execute(select(Message.visible_text).where(Message.id == pk)).scalar()
            runs = CJK_RUN.findall(body or "")
            if runs:
                run = rng.choice(runs)
                size = rng.randint(2, min(4, len(run)))
                start = rng.randrange(len(run) - size + 1)
                found.append(run[start : start + size])
    engine.dispose()
    return found


def _plain(word: str) -> str:
    """The word without its accents, as someone typing on an English keyboard writes it."""
    return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))


def time_queries(
    url: str, kinds: dict[str, list[str]], passes: int = 1
) -> dict[str, dict[str, float]]:
    """Per kind: wall-time percentiles, and CPU time, which a shared machine's load
    disturbs far less: this process's per query (SQLite does all its work here), and on
    PostgreSQL the server process's too, as a mean (the kernel counts it in 10 ms ticks).
    With `passes` over 1 the queries are run that many times and the last pass counts
    (the earlier ones bring the store's pages into memory)."""
    for _ in range(passes - 1):
        _run_all(url, kinds)
    return _run_all(url, kinds)


def _run_all(url: str, kinds: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    engine = make_engine(url)
    results: dict[str, dict[str, float]] = {}
    all_ms: list[float] = []
    all_cpu: list[float] = []
    with engine.connect() as conn:
        server = _server_cpu(conn)
        search.search(conn, search.parse_query("warmup"), limit=20)
        for kind, queries in kinds.items():
            if len(queries) < 2:  # too few for percentiles (no CJK text, say)
                continue
            ms, cpu = [], []
            served = server()
            for q in queries:
                started, busy = time.perf_counter(), time.process_time()
                search.search(conn, search.parse_query(q), limit=20)
                ms.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - busy) * 1000)
            results[kind] = _summary(ms)
            results[kind] |= {f"cpu_{k}": v for k, v in _summary(cpu).items() if k != "n"}
            if served is not None:
                results[kind]["server_cpu_mean"] = (server() or 0) - served
                results[kind]["server_cpu_mean"] *= 1000 / len(queries)
            all_ms += ms
            all_cpu += cpu
    engine.dispose()
    results["all"] = _summary(all_ms)
    results["all"] |= {f"cpu_{k}": v for k, v in _summary(all_cpu).items() if k != "n"}
    return results


def _server_cpu(conn: Connection) -> Callable[[], float | None]:
    """A reader of the PostgreSQL server process's CPU seconds (None on SQLite, or when
    the server runs elsewhere: its /proc entry is not there)."""
    if conn.dialect.name != "postgresql":
        return lambda: None
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    stat = Path(f"/proc/{pid}/stat")
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float | None:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / tick  # utime, stime

    return read


def _summary(ms: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {"n": len(ms), "p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "max": max(ms)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default="", help="use this PostgreSQL instead of a private one")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--code", metavar="DIR", help="another checkout's code (see above)")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        type=Path,
        help="import into this (new) data directory and keep it, to time search again later",
    )
    parser.add_argument(
        "--passes",
        type=int,
        default=1,
        help="time the queries this many times, reporting the last (a warm store)",
    )
    parser.add_argument(
        "--search-only",
        metavar="URL",
        help="skip the import: time search on this existing store (a database URL)",
    )
    args = parser.parse_args()
    if args.search_only:
        latency = time_queries(
            args.search_only,
            sample_queries(args.search_only, args.queries, args.seed),
            args.passes,
        )
        print(json.dumps({"search_ms": latency, "command": " ".join(sys.argv)}, indent=2))
        return 0

    corpus = ingest.synthetic_corpus(args.messages, args.seed, False)
    if CODE is not None:
        # The import's parse children start with the working directory on their path:
        # from this checkout they would load this code, not CODE's.
        args.keep = args.keep.resolve() if args.keep else None
        os.chdir(CODE)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
    data = args.keep or Path(tempfile.mkdtemp(prefix="bridge-scale-", dir=ingest.OUT))
    cluster = None
    env = ingest.bridge_env(data)
    if CODE is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CODE), env.get("PYTHONPATH")]))
    try:
        if args.backend == "postgres":
            url = args.pg_url
            if not url:
                cluster = PostgresCluster()
                url = cluster.admin_url
            env["BRIDGE_DATABASE_URL"] = url
        else:
            url = f"sqlite:///{data / 'bridge.sqlite3'}"
        ingest.create_community(env)
        imported = ingest.timed_import(corpus, env, None)
        kinds = sample_queries(url, args.queries, args.seed)
        latency = time_queries(url, kinds)
        size = _store_size(url, data)
    finally:
        if cluster is not None:
            cluster.stop()
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    report = {
        "backend": args.backend,
        "messages": args.messages,
        "import_summary": imported.summary,
        "import_wall_s": round(imported.wall_s, 1),
        "import_msg_per_s": round(args.messages / imported.wall_s, 1),
        "import_cpu_s": round(imported.cpu_s, 1),
        "import_peak_rss_mb": round(imported.peak_rss_kib / 1024, 1),
        "store_mb": size,
        "search_ms": {k: {m: round(v, 2) for m, v in s.items()} for k, s in latency.items()},
        "command": " ".join(sys.argv),
    }
    print(json.dumps(report, indent=None if args.json else 2))
    return 0 if imported.exit_code == 0 else 1


def _store_size(url: str, data: Path) -> float:
    if url.startswith("sqlite"):
        total = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
        return round(total / 2**20, 1)
    engine = make_engine(url)
    with engine.connect() as conn:
        total = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return round(total / 2**20, 1)


if __name__ == "__main__":
    sys.exit(main())
