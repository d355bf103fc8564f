"""A background writer's loop: collect in memory, write a batch every few seconds.

Page views record small facts (a first read, how far a reader has read) that
must not wait for the database's single writer. Each log subclasses
`BatchedWrites` and implements `flush`; the loop starts on first use, so it
runs in the process that serves pages (after a web server forks its workers).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod


class BatchedWrites(ABC):
    """Calls `flush` every `interval` seconds once started, and a last time on `close`."""

    def __init__(self, name: str, interval: float = 2.0) -> None:
        self._name = name
        self._interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _started(self) -> None:
        """Start the loop if it is not running; callers hold `_lock`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    @abstractmethod
    def flush(self) -> None:
        """Write what was collected since the last call."""

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()
