"""Reach: who read a thread on the web, for the managers' page (web/insights.py).

Only a logged-in reader's first visit to a thread is kept, once per person
and thread; the figure that matters is how many readers were not on the
conversation's original To/Cc. Reads are written in the background, a batch
every few seconds: a page view must not wait for a write (SQLite has one
writer), and losing the last seconds of reads in a crash costs a statistic.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from threads.batches import BatchedWrites
from threads.db import insert_ignoring_conflict, writer
from threads.models import ThreadRead, utcnow

READ = ThreadRead.__table__
log = logging.getLogger(__name__)


def _write(engine: Engine, reads: set[tuple[int, int]]) -> None:
    with writer(engine).begin() as conn:
        stmt = insert_ignoring_conflict(conn, READ, ["thread_id", "person_id"])
        now = utcnow()
        conn.execute(
            stmt, [{"thread_id": t, "person_id": p, "first_at": now} for t, p in sorted(reads)]
        )


class ReadLog(BatchedWrites):
    """Collects reads and writes them in one transaction per `interval` seconds."""

    def __init__(self, engine: Engine, interval: float = 2.0) -> None:
        super().__init__("read-log", interval)
        self._engine = engine
        self._pending: set[tuple[int, int]] = set()
        # Recently written pairs: a reader paging through a thread is not rewritten.
        self._written: set[tuple[int, int]] = set()

    def add(self, thread_id: int, person_id: int) -> None:
        pair = (thread_id, person_id)
        with self._lock:
            if pair in self._written:
                return
            self._pending.add(pair)
            self._started()

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, set()
        if not batch:
            return
        try:
            _write(self._engine, batch)
        except Exception:  # a statistic: log it, never take the web process down
            log.exception("could not record %d thread reads", len(batch))
            return
        with self._lock:
            if len(self._written) > 100_000:
                self._written.clear()
            self._written |= batch
