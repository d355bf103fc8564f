"""The pipeline worker: claims pending raw messages and runs them to a final state.

Any number of workers, in any number of processes, share the queue through
leases (threads/queue.py), renewed while a batch is worked on
(bridge/heartbeat.py), so a worker that dies gives its messages up soon.

Woken as soon as an intake adapter accepted mail, and every few seconds
anyway, so a message accepted while the worker was busy, or left pending by
a crash, is always picked up.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from bridge import liveness
from bridge.core import Core
from bridge.heartbeat import renewing
from threads import leases, queue
from threads.db import writer
from threads.withdraw import sweep

log = logging.getLogger(__name__)
# Seconds between sweeps erasing withdrawn messages' raw bytes (BRIDGE_WITHDRAWN_RAW_DAYS).
RETENTION_EVERY = 600.0


def worker_name() -> str:
    """The calling thread's name on the leases it takes: host, pid, start, thread."""
    return liveness.holder_name(str(threading.get_ident() % 100000))


def drain(core: Core, name: str | None = None) -> int:
    """Claim and process pending messages until none is free; returns how many were run."""
    name = name or worker_name()
    lease = timedelta(seconds=core.settings.claim_seconds)
    total = 0
    while True:
        with writer(core.engine).begin() as conn:
            ids = queue.claim(conn, name, limit=core.settings.worker_batch, lease=lease)
        if not ids:
            return total
        with renewing(core.engine, leases.RAW_CLAIMS, name, lease):
            core.pipeline.run(ids, worker=name)
        total += len(ids)


class Worker(threading.Thread):
    def __init__(self, core: Core, idle_seconds: float = 2.0) -> None:
        super().__init__(name="pipeline-worker", daemon=True)
        self._core = core
        self._idle = idle_seconds
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._swept: float | None = None

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()

    def run(self) -> None:
        name = worker_name()  # this thread's, not the one that built the worker
        while not self._halt.is_set():
            self._wake.clear()
            try:
                drain(self._core, name)
            except Exception:  # the worker must outlive any one bad batch
                log.exception("pipeline worker error; retrying shortly")
            self.sweep_retention()
            self._wake.wait(self._idle)

    def sweep_retention(self) -> None:
        """Now and then, erase withdrawn messages' raw bytes past their retention."""
        now = time.monotonic()
        if self._swept is not None and now - self._swept < RETENTION_EVERY:
            return
        self._swept = now
        try:
            erased = sweep(self._core.engine, self._core.settings.withdrawn_raw_days)
        except Exception:  # retention can wait for the next round; intake cannot
            log.exception("withdrawn-message retention sweep failed")
            return
        if erased:
            log.info("erased the raw bytes of %d withdrawn message(s)", erased)
