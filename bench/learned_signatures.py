"""Learnt signatures on real mail: how many senders get one, what is removed, what it costs.

Reads a corpus mbox in arrival order, parses each message as the pipeline does,
and replays what filing does with the learnt signatures (threads/signatures.py,
without the database): each sender address's tails, the block learnt with each
new message, the message trimmed, and when a block is new or changed the
sender's messages that taught it trimmed too. Prints:

- senders with at least MIN_MESSAGES messages, and those with a learnt block;
- messages trimmed and lines removed;
- removals that break a rule a test can check (tests/support/learned_signatures.py:
  a removed quote line, patch trailer or diff line) and the share without one;
- the cost: time in the learnt-signature steps over time in parsing, one run.

`--show N` prints N random removals (seeded) for a hand check; real names appear
there, so read them in the terminal and never paste them into docs.

    .venv/bin/python bench/learned_signatures.py [CORPUS_DIR] [-n LIMIT] [--show 30]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mail.archive import read_archive  # noqa: E402
from mail.parse import parse_message  # noqa: E402
from mail.trim.learned import MIN_MESSAGES  # noqa: E402
from tests.support.learned_signatures import Replay  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"


def _corpus_file(folder: Path) -> Path:
    files = sorted(folder.glob("*.mbox.xz"))
    if not files:
        raise SystemExit(f"no *.mbox.xz in {folder}")
    return files[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", default=str(CORPORA / "cgroups-vger-36k"))
    parser.add_argument("-n", "--limit", type=int, default=0, help="first N messages (0: all)")
    parser.add_argument("--show", type=int, default=0, help="print N random removals")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    replay = Replay()
    parse_seconds = 0.0
    total = 0
    for total, item in enumerate(read_archive(_corpus_file(Path(args.corpus))), start=1):
        started = time.perf_counter()
        parsed = parse_message(item.raw)
        parse_seconds += time.perf_counter() - started
        if parsed.from_ is not None and parsed.from_.address:
            replay.file(total, parsed.from_.address.lower(), parsed.visible_text)
        if args.limit and total >= args.limit:
            break
    senders = sum(1 for n in replay.counts.values() if n >= MIN_MESSAGES)
    learnt = sum(1 for s in replay.senders.values() if s.block)
    ever = {a for a, s in replay.senders.items() if s.block}
    lines = replay.lines_removed()
    broken = replay.broken()
    trimmed = len(replay.removed)
    print(
        f"messages: {total:,}  senders: {len(replay.counts):,}  with >= {MIN_MESSAGES}: {senders:,}"
    )
    print(f"senders with a learnt block at the end: {learnt:,}  ({len(ever):,} had one)")
    print(
        f"messages trimmed: {trimmed:,} ({trimmed / max(total, 1):.1%})  lines removed: {lines:,}"
    )
    print(
        f"removals breaking a rule (quote, trailer or diff line): {len(broken)}; "
        f"rule precision {1 - len(broken) / max(trimmed, 1):.3f}"
    )
    print(
        f"cost: learnt-signature steps {replay.seconds * 1e3:.0f} ms, parsing "
        f"{parse_seconds * 1e3:.0f} ms, ratio {replay.seconds / max(parse_seconds, 1e-9):.3f}"
    )
    if args.show:
        chosen = random.Random(args.seed).sample(sorted(replay.removed), min(args.show, trimmed))
        for i in chosen:
            print(f"--- message {i}: kept ends {replay.texts[i][-120:]!r}")
            print(replay.removed[i])


if __name__ == "__main__":
    main()
