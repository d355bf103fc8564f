"""Search quality on the judged set: success@10 and MRR per kind, on SQLite and PostgreSQL.

    python bench/search_quality.py                     # both backends
    python bench/search_quality.py --backend sqlite
    python bench/search_quality.py --make              # draw the corpus queries anew
    python bench/search_quality.py --code /tmp/old     # an export of older code, same set

The store holds the first 5,000 messages of the linux-usb corpus and the
judged set's fictional messages (tests/support/judged.py). Every query of
tests/data/search_judged.json is run as the search page runs it; a query
succeeds when the thread of its message is among the first ten. The last
line compares the backends: the share of queries whose first ten threads
are the same set on both.

--make draws the corpus queries from the store by fixed rules (seeded), for
messages of at least 40 words, from the words the index holds (no address):
`exact`, three of the message's rarest words (each in 2-40 messages);
`inflected`, a form the message does not contain of one of its words
(another word of the corpus with the same English stem) with two rare words;
`prefix`, a rare word of 7 letters or more cut by three letters, with `*`,
and two rare words. The fictional messages and their queries are kept.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
# --code DIR: measure another checkout's search code (an export of an older commit)
# on the same judged set; its packages are found before this one's.
if "--code" in sys.argv:
    sys.path.insert(0, str(Path(sys.argv[sys.argv.index("--code") + 1]).resolve()))

from sqlalchemy import text  # noqa: E402

from tests.support import judged  # noqa: E402
from tests.support.backend import PostgresCluster  # noqa: E402

KINDS = ("exact", "inflected", "prefix", "cjk", "folding")


def build(data_dir: Path, url: str | None) -> Any:
    from bridge.core import open_core
    from bridge.settings import load_settings
    from tests.support.factories import create_community

    core = open_core(load_settings(data=data_dir, database_url=url, verify_senders="off"))
    create_community(core)
    started = time.perf_counter()
    n = judged.import_corpus(core, data_dir)
    n += judged.deliver_all(core, judged.fictional_mail(judged.load()))
    print(f"  stored {n:,} messages in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return core


def evaluate(core: Any) -> tuple[dict[str, list[int | None]], dict[str, list[int]]]:
    from threads import search

    ranks: dict[str, list[int | None]] = defaultdict(list)
    tops: dict[str, list[int]] = {}
    by_id: dict[str, str] = {}
    with core.engine.connect() as conn:
        for q in judged.queries(judged.load()):
            ranks[q.kind].append(judged.rank_of(conn, q, search))
            found = search.run(conn, search.parse_query(q.query), limit=judged.PAGE)
            # Threads by their first message's Message-ID: ids differ between stores.
            ids = [t.thread_id for t in found.threads]
            for tid in ids:
                if tid not in by_id:
                    by_id[str(tid)] = conn.execute(
                        text("SELECT min(message_id) FROM message WHERE thread_id = :t"),
                        {"t": tid},
                    ).scalar_one()
            tops[q.query] = sorted(by_id[str(t)] for t in ids)  # type: ignore[misc]
    return ranks, tops


def report(name: str, ranks: dict[str, list[int | None]]) -> None:
    every: list[int | None] = []
    for kind in KINDS:
        if kind in ranks:
            s, m = judged.scores(ranks[kind])
            print(f"{name:<10} {kind:<10} n={len(ranks[kind]):>3}  success@10 {s:.3f}  MRR {m:.3f}")
            every += ranks[kind]
    s, m = judged.scores(every)
    print(f"{name:<10} {'all':<10} n={len(every):>3}  success@10 {s:.3f}  MRR {m:.3f}")


def make(core: Any, seed: int, per_kind: int) -> None:
    from threads.privacy import index_text
    from threads.search.analysis import stem_words, words_of

    rng = random.Random(seed)
    with core.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT message_id, subject, visible_text FROM message "
                "WHERE message_id NOT LIKE 'judged-%' ORDER BY id"
            )
        ).all()
    # Words as the index holds them: addresses are never indexed (threads/privacy.py).
    plain = [
        [
            w
            for w in words_of(index_text(f"{r.subject} {r.visible_text or ''}"))
            if w.isascii() and w.isalpha()
        ]
        for r in rows
    ]
    df: Counter[str] = Counter()
    for words in plain:
        df.update(set(words))
    by_stem: dict[str, set[str]] = defaultdict(set)
    for w in df:
        by_stem[stem_words([w], "english")[0]].add(w)
    rare = lambda words: sorted(  # noqa: E731
        {w for w in words if len(w) >= 4 and 2 <= df[w] <= 40}, key=lambda w: (df[w], w)
    )
    order = list(range(len(rows)))
    rng.shuffle(order)
    made: dict[str, list[dict[str, str]]] = {"exact": [], "inflected": [], "prefix": []}
    for i in order:
        words = plain[i]
        if len(words) < 40:
            continue
        few = rare(words)
        if len(few) < 3:
            continue
        mid = rows[i].message_id
        if len(made["exact"]) < per_kind:
            made["exact"].append({"query": " ".join(few[:3]), "message_id": mid, "kind": "exact"})
            continue
        present = set(words)
        if len(made["inflected"]) < per_kind:
            forms = [
                (w, v)
                for w in sorted(present)
                if len(w) >= 5 and df[w] <= 400
                for v in sorted(by_stem[stem_words([w], "english")[0]] - present)
                if len(v) >= 5 and v.isalpha()
            ]
            if forms:
                _, v = forms[rng.randrange(len(forms))]
                stem = stem_words([v], "english")
                others = [w for w in few if stem_words([w], "english") != stem]
                q = " ".join([v, *others[:2]])
                made["inflected"].append({"query": q, "message_id": mid, "kind": "inflected"})
            continue
        if len(made["prefix"]) < per_kind:
            long = [w for w in few if len(w) >= 7]
            if long:
                head = long[0][:-3] + "*"
                q = " ".join([head, *[w for w in few if w != long[0]][:2]])
                made["prefix"].append({"query": q, "message_id": mid, "kind": "prefix"})
        if all(len(v) >= per_kind for v in made.values()):
            break
    data = judged.load()
    kept = [q for q in data["queries"] if q["kind"] in ("cjk", "folding")]
    data["queries"] = [*made["exact"], *made["inflected"], *made["prefix"], *kept]
    judged.JUDGED.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", "utf-8")
    print(f"wrote {judged.JUDGED}: " + ", ".join(f"{k} {len(v)}" for k, v in made.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--make", action="store_true", help="draw the corpus queries anew")
    parser.add_argument("--per-kind", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--code", metavar="DIR", help="search code of another checkout")
    args = parser.parse_args()
    if not any(judged.corpus_mail(1)):
        print("the linux-usb corpus is not in ../shared/corpora", file=sys.stderr)
        return 2
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if args.make:
        backends = ["sqlite"]
    tops: dict[str, dict[str, list[int]]] = {}
    for backend in backends:
        tmp = Path(tempfile.mkdtemp(prefix="bridge-quality-"))
        cluster = PostgresCluster() if backend == "postgres" else None
        try:
            print(f"{backend}:", file=sys.stderr)
            core = build(tmp / "data", cluster.admin_url if cluster else None)
            try:
                if args.make:
                    make(core, args.seed, args.per_kind)
                    return 0
                ranks, tops[backend] = evaluate(core)
                report(backend, ranks)
            finally:
                core.close()
        finally:
            if cluster is not None:
                cluster.stop()
            shutil.rmtree(tmp, ignore_errors=True)
    if len(tops) == 2:
        a, b = tops.values()
        differ = [q for q in a if a[q] != b.get(q)]
        print(
            f"same first ten threads on both backends: {len(a) - len(differ)} of {len(a)} queries"
        )
        for q in differ:
            print(f"  differs: {q}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
