"""Bulk import of archives through the one pipeline, in batches, resumably.

Re-running an import accepts nothing twice (raw bytes are deduplicated by
hash) and finishes what an interrupted run left pending. Memory stays flat:
the reader streams and only one batch is held at a time.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlmodel import col
from tqdm import tqdm

from bridge.core import Core
from bridge.errors import UsageError
from bridge.pipeline.pipeline import Submitted
from mail.archive import ArchivedMessage, read_archive, total_size
from mail.envelope import Envelope
from mail.errors import BadArchive
from threads.models import Community, RawMessage, RawState

# Larger batches mean fewer fsyncs; 500 messages of median size are ~2 MB in memory.
BATCH = 500


# How long to wait for messages another process (a running `bridge serve`)
# took from this import, counted from the last one it finished.
SETTLE_SECONDS = 30.0
# States shown after the four every summary has, in this order, when there are any.
_MORE = {
    RawState.candidate: "awaiting consent",
    RawState.private: "kept private",
    RawState.ignored: "ignored",
    RawState.rejected: "rejected",
    RawState.discarded: "discarded",
    RawState.withdrawn: "withdrawn",
    RawState.pending: "still being processed",
}


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What became of every message read, by the raw rows' states; adds up to the messages read.

    `more` holds the other states there were (consent routes, still pending),
    `problems` one line for each archive that could not be read to its end.
    """

    imported: int
    duplicates: int
    held: int
    failed: int
    more: tuple[tuple[str, int], ...] = ()
    problems: tuple[str, ...] = ()

    @classmethod
    def of(cls, counts: Counter[RawState], problems: Iterable[str] = ()) -> ImportSummary:
        more = tuple((name, counts[state]) for state, name in _MORE.items() if counts[state])
        done, duplicate, held, failed = (
            counts[s] for s in (RawState.done, RawState.duplicate, RawState.held, RawState.failed)
        )
        return cls(done, duplicate, held, failed, more, tuple(problems))

    @property
    def total(self) -> int:
        return (
            self.imported + self.duplicates + self.held + self.failed + sum(n for _, n in self.more)
        )

    def line(self) -> str:
        return (
            f"imported {self.imported}, duplicates {self.duplicates}, "
            f"held {self.held}, failed {self.failed}"
        ) + "".join(f", {name} {count}" for name, count in self.more)


def import_paths(
    core: Core, community: str, paths: list[Path], *, progress: bool | None = None
) -> ImportSummary:
    """Import every path; an archive that cannot be read to its end is a problem, not a crash.

    The counts are the raw rows' states once filed, whoever filed them: with
    `bridge serve` running on the same data, its worker may take imported
    messages before this process does.
    """
    with core.engine.connect() as conn:
        known = conn.execute(select(col(Community.id)).where(col(Community.slug) == community))
        if known.first() is None:
            raise UsageError(f"no community '{community}' (create it with: bridge community add)")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError("no such file or folder: " + ", ".join(missing))
    show = sys.stderr.isatty() if progress is None else progress
    filing = _Filing(core)
    problems: list[str] = []
    with tqdm(
        total=total_size(paths), unit="B", unit_scale=True, disable=not show, smoothing=0.1
    ) as bar:
        for path in paths:
            last = 0
            try:
                for batch in _batches(read_archive(path)):
                    filing.add(community, batch)
                    bar.update(batch[-1].position - last)
                    last = batch[-1].position
                    rate = filing.seen / max(bar.format_dict["elapsed"], 1e-9)
                    bar.set_postfix_str(f"{filing.seen} messages, {rate:.0f} msg/s", refresh=False)
            except BadArchive as bad:
                problems.append(str(bad))
        filing.finish()
    return ImportSummary.of(filing.settled(), problems)


class _Filing:
    """Accepts batches and files them, batch n+1 parsed while batch n is filed.

    Messages another process filed first have no outcome here; their rows'
    states are read back, so every message read is counted once.
    """

    def __init__(self, core: Core) -> None:
        self.core = core
        self.counts: Counter[RawState] = Counter()
        self.inflight: tuple[Submitted, set[int]] | None = None
        self.elsewhere: set[int] = set()

    @property
    def seen(self) -> int:
        return sum(self.counts.values()) + len(self.elsewhere)

    def add(self, community: str, batch: list[ArchivedMessage]) -> None:
        fresh, accepted = _accept_batch(
            self.core, community, batch, self.inflight[1] if self.inflight else set()
        )
        self.counts.update(accepted)
        parsing = (self.core.pipeline.submit(fresh), set(fresh)) if fresh else None
        self.finish()
        self.inflight = parsing

    def finish(self) -> None:
        if self.inflight is None:
            return
        submitted, ids = self.inflight
        self.inflight = None
        outcomes = self.core.pipeline.finish(submitted)
        self.counts.update(outcome.state for outcome in outcomes)
        # Filed by another process (its row lock came first): usually final already.
        self._count_final(ids - {outcome.raw_id for outcome in outcomes})

    def _count_final(self, ids: set[int]) -> int:
        """Count the final states among `ids`; the pending rest is kept to look at again."""
        if not ids:
            return 0
        raw = RawMessage.__table__
        with self.core.engine.connect() as conn:
            rows = conn.execute(select(raw.c.id, raw.c.state).where(raw.c.id.in_(sorted(ids))))
            final = {row.id: RawState(row.state) for row in rows if row.state != RawState.pending}
        self.counts.update(final.values())
        self.elsewhere = (self.elsewhere | ids) - set(final)
        return len(final)

    def settled(self, wait: float = SETTLE_SECONDS) -> Counter[RawState]:
        """The counts once messages filed elsewhere are final, or `wait` passed without one."""
        idle_since = time.monotonic()
        while self.elsewhere and time.monotonic() - idle_since <= wait:
            time.sleep(0.2)
            if self._count_final(set(self.elsewhere)):
                idle_since = time.monotonic()
        return self.counts + Counter({RawState.pending: len(self.elsewhere)})


def _batches(items: Iterable[ArchivedMessage]) -> Iterator[list[ArchivedMessage]]:
    """Lists of BATCH messages; the messages read before a damaged part still come out."""
    batch: list[ArchivedMessage] = []
    try:
        for item in items:
            batch.append(item)
            if len(batch) >= BATCH:
                yield batch
                batch = []
    except BadArchive:
        if batch:
            yield batch
        raise
    if batch:
        yield batch


def _accept_batch(
    core: Core, community: str, batch: list[ArchivedMessage], inflight: set[int]
) -> tuple[list[int], Counter[RawState]]:
    """Accept a batch: the raw ids to run, and the duplicates counted.

    `inflight` are the ids of the batch still being parsed: pending, but
    already on their way, so a copy of one of them here is a duplicate.
    """
    receipts = core.inbox.accept_many(
        (m.raw, Envelope(source="import", source_ref=m.ref, community_hint=community))
        for m in batch
    )
    counts: Counter[RawState] = Counter()
    fresh = [r.raw_id for r in receipts if not r.duplicate]
    # Bytes we already had (earlier in this batch, or from an earlier run) are
    # duplicates, unless an interrupted run left them pending: finish those.
    skip = set(fresh) | inflight
    seen = {r.raw_id for r in receipts if r.duplicate and r.raw_id not in skip}
    counts[RawState.duplicate] += sum(1 for r in receipts if r.duplicate) - len(seen)
    if seen:
        raw = RawMessage.__table__
        with core.engine.connect() as conn:
            pending = set(
                conn.execute(
                    select(raw.c.id).where(raw.c.id.in_(seen), raw.c.state == RawState.pending)
                ).scalars()
            )
        fresh += sorted(pending)
        counts[RawState.duplicate] += len(seen) - len(pending)
    return fresh, counts
