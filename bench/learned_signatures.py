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

`--filing N` also files the first N messages through the real pipeline (SQLite, a
fresh data directory each round), with the learnt-signature steps and with them
replaced by pass-throughs, alternating, parsing inline, and prints the ratio of
the two CPU times (the machine is shared: wall-clock time measures the neighbours).

`--show N` prints N random removals (seeded) for a hand check; real names appear
there, so read them in the terminal and never paste them into docs.

    .venv/bin/python bench/learned_signatures.py [CORPUS_DIR] [-n LIMIT] [--show 30]
        [--filing 2000 [--rounds 2]]
"""

from __future__ import annotations

import argparse
import contextlib
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


def _file_all(raws: list[bytes], learning: bool) -> float:
    """CPU seconds to accept and file `raws` in a fresh store, learning or not."""
    import tempfile
    from unittest import mock

    from bridge.core import open_core
    from bridge.settings import load_settings
    from mail.envelope import Envelope
    from tests.support.factories import create_community
    from threads import signatures

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if not learning:
            stack.enter_context(
                mock.patch.object(
                    signatures.Learner,
                    "trim",
                    lambda self, letter, source, tail=None: signatures.Learning(letter),
                )
            )
        # Parsing inline, so that this process's CPU time is the whole cost: on a shared
        # machine wall-clock time measures the neighbours.
        core = open_core(load_settings(data=Path(tmp), verify_senders="off", parse_workers=0))
        try:
            create_community(core, addresses=["bench@lists.example.com"])
            envelope = Envelope(source="import", mail_from="", rcpt_to=("bench@lists.example.com",))
            started = time.process_time()
            for start in range(0, len(raws), 200):
                receipts = [core.inbox.accept(raw, envelope) for raw in raws[start : start + 200]]
                core.pipeline.run([r.raw_id for r in receipts if not r.duplicate])
            return time.process_time() - started
        finally:
            core.close()


def filing(corpus: Path, count: int, rounds: int) -> None:
    raws = [item.raw for _, item in zip(range(count), read_archive(corpus), strict=False)]
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for learning in (False, True):
            times[learning].append(_file_all(raws, learning))
    with_, without = min(times[True]), min(times[False])
    print(
        f"filing {len(raws):,} messages (CPU time, best of {rounds}): with learnt signatures "
        f"{with_:.2f} s, without {without:.2f} s, ratio {with_ / without:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", default=str(CORPORA / "cgroups-vger-36k"))
    parser.add_argument("-n", "--limit", type=int, default=0, help="first N messages (0: all)")
    parser.add_argument("--show", type=int, default=0, help="print N random removals")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--filing", type=int, default=0, help="file N messages, with and without")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.filing:
        filing(_corpus_file(Path(args.corpus)), args.filing, args.rounds)
        return
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
