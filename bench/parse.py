"""Compare `mail.parse.parse_message` with a bare stdlib `policy.default` parse.

Reads the first N messages of an mboxrd file (optionally .xz), then times both
parsers over the same in-memory messages in alternating rounds, counting CPU
time so that other load on the machine does not skew the ratio, and prints
messages per second for each and the ratio, e.g. `.venv/bin/python bench/parse.py
-n 5000 ../shared/corpora/cgroups-vger-36k/cgroups.vger.kernel.org.mbox.xz`.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import lzma
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mail.parse import parse_message

# mboxrd (the corpora's format) escapes body lines matching ">*From " with one more ">".
_MBOXRD_QUOTED = re.compile(rb"^>(>*From )", re.M)


def read_mbox(stream: BinaryIO, limit: int) -> Iterator[bytes]:
    """Messages of an mboxrd stream, separator lines removed and From-quoting undone."""
    lines: list[bytes] = []
    count = 0
    for line in stream:
        if line.startswith(b"From ") and (not lines or lines[-1] in (b"\n", b"\r\n")):
            if lines:
                yield _MBOXRD_QUOTED.sub(rb"\1", b"".join(lines))
                count += 1
                if count >= limit:
                    return
            lines = []
            continue
        lines.append(line)
    if lines:
        yield _MBOXRD_QUOTED.sub(rb"\1", b"".join(lines))


def open_mbox(path: Path) -> BinaryIO:
    return lzma.open(path) if path.suffix == ".xz" else path.open("rb")


def bare_default(raw: bytes) -> None:
    email.message_from_bytes(raw, policy=email.policy.default)


def default_with_headers(raw: bytes) -> None:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    _ = (message["subject"], message["from"])


def timed(parse: Callable[[bytes], object], messages: list[bytes]) -> float:
    """CPU seconds for one pass (process time: other load on the machine is not counted)."""
    started = time.process_time()
    for raw in messages:
        parse(raw)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mbox", type=Path, help="mboxrd file, plain or .xz")
    parser.add_argument("-n", "--messages", type=int, default=5000, help="first N messages")
    parser.add_argument("-r", "--rounds", type=int, default=3, help="best of R rounds each")
    args = parser.parse_args()
    with open_mbox(args.mbox) as stream:
        messages = list(read_mbox(stream, args.messages))
    contenders = {
        "policy.default (bare)": bare_default,
        "policy.default + subject/from": default_with_headers,
        "mail.parse.parse_message": parse_message,
    }
    best = {name: float("inf") for name in contenders}
    for _ in range(args.rounds):
        for name, parse in contenders.items():
            best[name] = min(best[name], timed(parse, messages))
    size = sum(map(len, messages)) / max(len(messages), 1)
    print(f"{len(messages)} messages, mean {size:,.0f} bytes, best of {args.rounds} rounds")
    rates = {name: len(messages) / seconds for name, seconds in best.items()}
    for name, rate in rates.items():
        print(f"  {name:32s} {rate:8,.0f} msg/s")
    ratio = rates["mail.parse.parse_message"] / rates["policy.default (bare)"]
    print(f"  parse_message / bare policy.default: {ratio:.2f}x")


if __name__ == "__main__":
    main()
