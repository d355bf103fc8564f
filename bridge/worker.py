"""The pipeline worker: runs pending raw messages to a final state, in batches.

Woken as soon as an intake adapter accepted mail, and every few seconds
anyway, so a message accepted while the worker was busy, or left pending by
a crash, is always picked up.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select

from bridge.core import Core
from threads.models import RawMessage, RawState

log = logging.getLogger(__name__)
RAW = RawMessage.__table__


def pending_ids(core: Core, limit: int = 200) -> list[int]:
    with core.engine.connect() as conn:
        stmt = select(RAW.c.id).where(RAW.c.state == RawState.pending).order_by(RAW.c.id)
        return list(conn.execute(stmt.limit(limit)).scalars())


def drain(core: Core) -> int:
    """Process everything pending now; returns how many messages were run."""
    total = 0
    while ids := pending_ids(core):
        core.pipeline.run(ids)
        total += len(ids)
    return total


class Worker(threading.Thread):
    def __init__(self, core: Core, idle_seconds: float = 2.0) -> None:
        super().__init__(name="pipeline-worker", daemon=True)
        self._core = core
        self._idle = idle_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                drain(self._core)
            except Exception:  # the worker must outlive any one bad batch
                log.exception("pipeline worker error; retrying shortly")
            self._wake.wait(self._idle)
