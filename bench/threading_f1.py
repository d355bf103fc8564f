"""Pairwise F1 of our threading against plain References threading on a real corpus.

The reference is deliberately naive and independent of threads/threading/:
the connected components of every message id with all the <...> ids of its
In-Reply-To and References headers. Our grouping (group_threads) differs from
it on purpose in a few ways (subject and Thread-Index links, first copy of a
duplicate wins, ids without "@" rejected, comments skipped); this script
measures how much and names the reason for each disagreement.

    .venv/bin/python bench/threading_f1.py CORPUS.mbox.xz [--examples N]
    .venv/bin/python bench/threading_f1.py CORPUS.mbox.xz --export threads.json

With --export, the thread membership of a `bridge export threads --json` file
is scored against the same reference instead of group_threads.

Examples print message ids and normalised subjects only, never names or
addresses. The input is mboxrd as public-inbox writes it (.mbox or .mbox.xz).
"""

import argparse
import json
import lzma
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import IO

from threads.threading import (
    ThreadInput,
    group_threads,
    looks_like_msgid,
    parse_msgid_list,
    subject_links,
    thread_input,
)

SEPARATOR = b"From mboxrd@z "
_QUOTED_FROM = re.compile(rb"^>+From ")
_ANGLE_IDS = re.compile(r"<([^<>]*)>")
_HEADER_PARSER = BytesHeaderParser(policy=policy.compat32)

# Reason classes, in the order links are examined (see _Explainer).
BARE_ID = "bare id link (plain parser sees no <...>)"
THREAD_INDEX = "thread-index link"
SUBJECT = "subject link"
DROPPED_DUPLICATE = "dropped duplicate (later copy's references ignored)"
EXTRA_IRT = "second In-Reply-To id ignored"
NOT_AN_ID = "id without @ rejected"
REF_CAP = "References beyond the cap of 100"
OTHER_PARSE = "parse difference (id inside comment or quotes)"


# --- Reading ----------------------------------------------------------------


def _open(path: Path) -> IO[bytes]:
    return lzma.open(path) if path.suffix == ".xz" else path.open("rb")


def iter_messages(path: Path, limit: int | None = None) -> Iterator[bytes]:
    """Raw messages of an mboxrd file, separator removed and ">From " unquoted."""
    lines: list[bytes] = []
    count = 0
    with _open(path) as stream:
        for line in stream:
            if line.startswith(SEPARATOR):
                if lines:
                    yield b"".join(lines)
                    count += 1
                    if limit is not None and count >= limit:
                        return
                lines = []
            elif _QUOTED_FROM.match(line):
                lines.append(line[1:])
            else:
                lines.append(line)
    if lines:
        yield b"".join(lines)


@dataclass(frozen=True, slots=True)
class Record:
    """One message copy of the corpus: its threading input and the raw headers."""

    index: int
    item: ThreadInput
    in_reply_to: str
    references: str
    subject: str


def _text(values: Sequence[object] | None) -> str:
    return " ".join(str(value) for value in values or [])


def _decoded(value: object) -> str:
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError):
        return str(value)


def _date(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        date = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return date if date.tzinfo else date.replace(tzinfo=UTC)


def _own_id(headers: Message, index: int) -> str:
    raw = _text(headers.get_all("Message-ID"))
    ids = parse_msgid_list(raw)
    if ids:
        return ids[0]
    bare = "".join(raw.split()).strip("<>")
    return bare or f"no-message-id-{index}"


def parse_record(raw: bytes, index: int) -> Record:
    """Threading input of one raw message (headers only)."""
    headers = _HEADER_PARSER.parsebytes(raw.split(b"\n\n", 1)[0] + b"\n\n")
    subject = _decoded(headers.get("Subject", ""))
    in_reply_to = _text(headers.get_all("In-Reply-To"))
    references = _text(headers.get_all("References"))
    recipients = getaddresses(
        [str(v) for v in headers.get_all("To", []) + headers.get_all("Cc", [])]
    )
    sender = getaddresses([str(v) for v in headers.get_all("From", [])])
    item = thread_input(
        _own_id(headers, index),
        in_reply_to=in_reply_to,
        references=references,
        thread_index=_text(headers.get_all("Thread-Index")) or None,
        subject=subject,
        date=_date(headers.get("Date")),
        sender=sender[0][1] if sender else "",
        recipients=[addr for _, addr in recipients],
    )
    return Record(index, item, in_reply_to, references, subject)


def read_records(path: Path, limit: int | None = None) -> list[Record]:
    """Every message copy of the corpus, in file order."""
    return [parse_record(raw, index) for index, raw in enumerate(iter_messages(path, limit))]


# --- The reference: plain References/In-Reply-To components -----------------


def angle_ids(value: str) -> list[str]:
    """Every <...> id of a header value, folding whitespace removed (no other check)."""
    found = ("".join(text.split()) for text in _ANGLE_IDS.findall(value))
    return [mid for mid in found if mid]


def reference_links(record: Record) -> Iterator[tuple[str, str]]:
    """The links plain threading draws for one message copy."""
    own = record.item.message_id
    for mid in angle_ids(record.in_reply_to) + angle_ids(record.references):
        yield own, mid


class Components:
    """Minimal union-find, kept separate from the one under test."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        root = item
        while self.parent.setdefault(root, root) != root:
            root = self.parent[root]
        while item != root:
            item, self.parent[item] = self.parent[item], root
        return root

    def union(self, a: str, b: str) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)

    def partition(self, members: Iterable[str]) -> list[set[str]]:
        groups: dict[str, set[str]] = defaultdict(set)
        for member in members:
            groups[self.find(member)].add(member)
        return list(groups.values())


def reference_components(records: Sequence[Record]) -> Components:
    components = Components()
    for record in records:
        components.find(record.item.message_id)
        for a, b in reference_links(record):
            components.union(a, b)
    return components


# --- Scores -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scores:
    messages: int
    threads_ours: int
    threads_reference: int
    pairs_ours: int
    pairs_reference: int
    pairs_both: int

    @property
    def precision(self) -> float:
        return self.pairs_both / self.pairs_ours if self.pairs_ours else 1.0

    @property
    def recall(self) -> float:
        return self.pairs_both / self.pairs_reference if self.pairs_reference else 1.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def _pairs(size: int) -> int:
    return size * (size - 1) // 2


def _labels(groups: Iterable[Collection[str]]) -> dict[str, int]:
    return {member: number for number, group in enumerate(groups) for member in group}


def pairwise_scores(
    ours: Iterable[Collection[str]], reference: Iterable[Collection[str]]
) -> Scores:
    """Pairwise precision/recall of two partitions.

    Pairs are counted per cluster (n*(n-1)/2), never enumerated. An id present
    on one side only is a singleton on the other.
    """
    ours_of, ref_of = _labels(ours), _labels(reference)
    universe = ours_of.keys() | ref_of.keys()
    # An id absent from one side gets a label of its own there (negative, never shared).
    ours_label = {mid: ours_of.get(mid, -1 - n) for n, mid in enumerate(universe)}
    ref_label = {mid: ref_of.get(mid, -1 - n) for n, mid in enumerate(universe)}
    ours_sizes = Counter(ours_label.values())
    ref_sizes = Counter(ref_label.values())
    both_sizes = Counter((ours_label[mid], ref_label[mid]) for mid in universe)
    return Scores(
        messages=len(universe),
        threads_ours=len(ours_sizes),
        threads_reference=len(ref_sizes),
        pairs_ours=sum(_pairs(n) for n in ours_sizes.values()),
        pairs_reference=sum(_pairs(n) for n in ref_sizes.values()),
        pairs_both=sum(_pairs(n) for n in both_sizes.values()),
    )


# --- Explaining disagreements -----------------------------------------------


@dataclass(slots=True)
class Reason:
    links: int = 0
    pairs: int = 0
    examples: list[tuple[str, str]] = field(default_factory=list)


class _Explainer:
    """Attributes disagreements to reason classes.

    Over-merges: start from the reference components and add our links one
    class at a time; every link that still joins two groups is one our
    grouping adds, and it adds |A|*|B| message pairs (an upper bound of what
    it costs in precision). Under-merges: the same with the reference links
    on top of our groups, each classified by why our chain lacks it.
    """

    def __init__(self, records: Sequence[Record], real_ids: Collection[str]) -> None:
        self.records = records
        self.real = set(real_ids)
        self.first: dict[str, Record] = {}
        for record in records:
            self.first.setdefault(record.item.message_id, record)
        self.subjects = {mid: rec.item.candidate.norm_subject for mid, rec in self.first.items()}
        self.reasons: dict[str, Reason] = defaultdict(Reason)

    def _merge(self, groups: Components, sizes: dict[str, int], a: str, b: str, why: str) -> None:
        root_a, root_b = groups.find(a), groups.find(b)
        if root_a == root_b:
            return
        pairs = sizes.get(root_a, 0) * sizes.get(root_b, 0)
        if pairs:
            # A link to a group of placeholders only changes no message pair.
            reason = self.reasons[why]
            reason.links += 1
            reason.pairs += pairs
            reason.examples.append((a, b))
        groups.union(root_a, root_b)
        sizes[groups.find(a)] = sizes.pop(root_a, 0) + sizes.pop(root_b, 0)

    def _start(self, links: Iterable[tuple[str, str]]) -> tuple[Components, dict[str, int]]:
        groups = Components()
        for a, b in links:
            groups.union(a, b)
        sizes = Counter(groups.find(mid) for mid in self.real)
        return groups, dict(sizes)

    def over_merges(self) -> None:
        groups, sizes = self._start(
            link for record in self.records for link in reference_links(record)
        )
        unique = list(self.first.values())
        for record in unique:
            plain = set(angle_ids(record.in_reply_to) + angle_ids(record.references))
            for mid in record.item.chain:
                if mid not in plain:
                    self._merge(groups, sizes, record.item.message_id, mid, BARE_ID)
        keyed: dict[str, str] = {}
        for record in unique:
            if record.item.thread_key is not None:
                first = keyed.setdefault(record.item.thread_key, record.item.message_id)
                self._merge(groups, sizes, first, record.item.message_id, THREAD_INDEX)
        for a, b in subject_links(record.item for record in unique):
            self._merge(groups, sizes, a, b, SUBJECT)

    def under_merges(self) -> None:
        groups, sizes = self._start(
            (record.item.message_id, mid)
            for record in self.first.values()
            for mid in record.item.chain
        )
        for record in self.records:
            for own, mid in reference_links(record):
                if groups.find(own) != groups.find(mid):
                    self._merge(groups, sizes, own, mid, self._why_missing(record, mid))

    def _why_missing(self, record: Record, mid: str) -> str:
        first = self.first[record.item.message_id]
        if first is not record and mid not in first.item.chain:
            return DROPPED_DUPLICATE
        if not looks_like_msgid(mid):
            return NOT_AN_ID
        if mid in angle_ids(record.in_reply_to) and mid not in angle_ids(record.references):
            return EXTRA_IRT
        if len(angle_ids(record.references)) > 100:
            return REF_CAP
        return OTHER_PARSE

    def describe(self, pair: tuple[str, str]) -> str:
        return "  ~  ".join(
            f"<{mid}> [{self.subjects.get(mid, '(not in corpus)')}]" for mid in pair
        )


# --- Command line -----------------------------------------------------------


def read_export(path: Path) -> list[set[str]]:
    """Thread membership of a `bridge export threads --json` file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        {"".join(str(m["message_id"]).split()).strip("<>") for m in thread["messages"]}
        for thread in data["threads"]
    ]


def _print_scores(label: str, scores: Scores) -> None:
    print(f"{label}:")
    print(f"  messages (distinct ids)  {scores.messages}")
    print(f"  threads ours / reference {scores.threads_ours} / {scores.threads_reference}")
    pairs = (scores.pairs_ours, scores.pairs_reference, scores.pairs_both)
    print("  pairs ours / reference / both  {} / {} / {}".format(*pairs))
    print(f"  precision {scores.precision:.5f}  recall {scores.recall:.5f}  F1 {scores.f1:.5f}")


def _print_reasons(title: str, explainer: _Explainer, names: Iterable[str], examples: int) -> None:
    print(title)
    for name in names:
        reason = explainer.reasons.get(name)
        if reason is None or not reason.links:
            continue
        print(f"  {name}: {reason.links} links, {reason.pairs} pairs")
        for pair in reason.examples[:examples]:
            print(f"      {explainer.describe(pair)}")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="mboxrd file, .mbox or .mbox.xz")
    parser.add_argument("--limit", type=int, help="read only the first N messages")
    parser.add_argument("--examples", type=int, default=3, help="examples per reason class")
    parser.add_argument("--export", type=Path, help="score this JSON thread export instead")
    return parser.parse_args(argv)


def _explain_ours(records: Sequence[Record], real_ids: Collection[str], examples: int) -> None:
    explainer = _Explainer(records, real_ids)
    explainer.over_merges()
    explainer.under_merges()
    _print_reasons(
        "joined by us, apart in the reference:",
        explainer,
        (BARE_ID, THREAD_INDEX, SUBJECT),
        examples,
    )
    _print_reasons(
        "apart in ours, joined in the reference:",
        explainer,
        (DROPPED_DUPLICATE, NOT_AN_ID, EXTRA_IRT, REF_CAP, OTHER_PARSE),
        examples,
    )


def split_links(
    groups: Iterable[Collection[str]], other: Iterable[Collection[str]]
) -> list[tuple[str, str]]:
    """One (a, b) per extra cluster of `other` that a group of `groups` spans.

    An id absent from `other` counts as its own cluster there.
    """
    label_of = _labels(other)
    links: list[tuple[str, str]] = []
    for group in groups:
        anchors: dict[object, str] = {}
        for mid in sorted(group):
            anchors.setdefault(label_of.get(mid, mid), mid)
        first, *rest = anchors.values()
        links.extend((first, mid) for mid in rest)
    return links


def _explain_export(
    export: list[set[str]], reference: list[set[str]], records: Sequence[Record], examples: int
) -> None:
    subjects = {r.item.message_id: r.item.candidate.norm_subject for r in reversed(records)}
    exported = set().union(*export)
    print(f"  ids only in the export {len(exported - subjects.keys())}")
    print(f"  ids only in the corpus {len(subjects.keys() - exported)}")
    for title, links in (
        ("joined by the export, apart in the reference", split_links(export, reference)),
        ("apart in the export, joined in the reference", split_links(reference, export)),
    ):
        print(f"{title}: {len(links)} links")
        for pair in links[:examples]:
            print(
                "      "
                + "  ~  ".join(f"<{m}> [{subjects.get(m, '(not in corpus)')}]" for m in pair)
            )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    started = time.perf_counter()
    records = read_records(args.corpus, args.limit)
    read_s = time.perf_counter() - started
    print(f"corpus {args.corpus.name}: {len(records)} message copies, read in {read_s:.1f} s")
    real_ids = list(dict.fromkeys(record.item.message_id for record in records))
    reference = reference_components(records).partition(real_ids)
    if args.export:
        export = read_export(args.export)
        _print_scores(f"export {args.export.name}", pairwise_scores(export, reference))
        _explain_export(export, reference, records, args.examples)
        return 0
    started = time.perf_counter()
    ours = group_threads(record.item for record in records)
    label = f"group_threads ({time.perf_counter() - started:.2f} s)"
    _print_scores(label, pairwise_scores(ours, reference))
    _explain_ours(records, real_ids, args.examples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
