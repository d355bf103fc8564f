"""Bulk import of archives through the one pipeline, in batches, resumably.

Re-running an import accepts nothing twice (raw bytes are deduplicated by
hash) and finishes what an interrupted run left pending. Memory stays flat:
the reader streams and only one batch is held at a time.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from tqdm import tqdm

from bridge.core import Core
from bridge.errors import UsageError
from bridge.pipeline import Submitted
from mail.archive import ArchivedMessage, read_archive, total_size
from mail.envelope import Envelope
from threads.models import Community, RawMessage, RawState

# Larger batches mean fewer fsyncs; 500 messages of median size are ~2 MB in memory.
BATCH = 500


@dataclass(frozen=True, slots=True)
class ImportSummary:
    imported: int
    duplicates: int
    held: int
    failed: int

    def line(self) -> str:
        return (
            f"imported {self.imported}, duplicates {self.duplicates}, "
            f"held {self.held}, failed {self.failed}"
        )


def import_paths(
    core: Core, community: str, paths: list[Path], *, progress: bool | None = None
) -> ImportSummary:
    with core.engine.connect() as conn:
        if conn.execute(select(Community.id).where(Community.slug == community)).first() is None:
            raise UsageError(f"no community '{community}' (create it with: bridge community add)")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError("no such file or folder: " + ", ".join(missing))
    show = sys.stderr.isatty() if progress is None else progress
    counts: Counter[RawState] = Counter()
    # Batch n+1 is parsed (in the pipeline's child processes) while batch n is filed.
    inflight: tuple[Submitted, set[int]] | None = None
    with tqdm(
        total=total_size(paths), unit="B", unit_scale=True, disable=not show, smoothing=0.1
    ) as bar:
        for path in paths:
            last = 0
            for batch in _batches(read_archive(path)):
                fresh, accepted = _accept_batch(
                    core, community, batch, inflight[1] if inflight else set()
                )
                counts.update(accepted)
                parsing = (core.pipeline.submit(fresh), set(fresh)) if fresh else None
                if inflight is not None:
                    counts.update(outcome.state for outcome in core.pipeline.finish(inflight[0]))
                inflight = parsing
                bar.update(batch[-1].position - last)
                last = batch[-1].position
                seen = sum(counts.values())
                rate = seen / max(bar.format_dict["elapsed"], 1e-9)
                bar.set_postfix_str(f"{seen} messages, {rate:.0f} msg/s", refresh=False)
        if inflight is not None:
            counts.update(outcome.state for outcome in core.pipeline.finish(inflight[0]))
    return ImportSummary(
        imported=counts[RawState.done],
        duplicates=counts[RawState.duplicate],
        held=counts[RawState.held],
        failed=counts[RawState.failed],
    )


def _batches(items: Iterable[ArchivedMessage]) -> Iterator[list[ArchivedMessage]]:
    batch: list[ArchivedMessage] = []
    for item in items:
        batch.append(item)
        if len(batch) >= BATCH:
            yield batch
            batch = []
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
