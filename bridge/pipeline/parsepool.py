"""Parse and classify in child processes, each message under a wall-clock deadline.

CPython's email parser can be made to spin for minutes on one hostile header,
and a thread cannot be interrupted, so the pure steps (parse, classify) run in
a few child processes instead. A child whose current message is still being
parsed when its deadline passes is killed and replaced; the message comes
back as `TimedOut` and the pipeline holds it with that reason. A child that
dies (a crash in a C extension, the kernel's OOM killer) is replaced the same
way and its message fails. The other messages it held are parsed again.

Each child gets its share of a batch in one message and answers with one
list, reporting in shared memory which message it is on and since when: no
round trip per message, and nothing for the parent to do while it writes the
previous batch to the database (bulk import overlaps the two this way, on two
cores). Children are forked from a forkserver that has imported the parser
once, so a replacement starts in milliseconds and no child inherits the
parent's threads or database connections. `workers=0` parses in the calling
thread with no time limit (for debugging; nothing then protects the pipeline).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

from bridge.pipeline.derived import Derived, derive
from mail.classify import Classification, classify
from mail.parse import ParsedMessage, parse_message

log = logging.getLogger(__name__)

# Modules every child needs: imported once in the forkserver, inherited by each fork.
_PRELOAD = ["mail.parse", "mail.classify", "bridge.pipeline.derived"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A message parsed and classified, and what filing needs of its text (none for a
    message over a limit: it is held, not filed)."""

    parsed: ParsedMessage
    classification: Classification
    derived: Derived | None = None


@dataclass(frozen=True, slots=True)
class TimedOut:
    """Parsing took longer than the deadline; the child was killed."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Failed:
    """Parsing raised, or its process died; `reason` says which."""

    reason: str


Result = Prepared | TimedOut | Failed


def prepare(raw: bytes) -> Result:
    """Parse and classify one message in this process (no deadline)."""
    try:
        parsed = parse_message(raw)
        return Prepared(parsed, classify(parsed), None if parsed.limit else derive(parsed))
    except Exception as exc:  # parse_message never raises; classify or derive might, on a bug
        log.exception("parse or classify raised")
        return Failed(f"parse failed: {exc!r}")


# A child's progress value while it waits for work or delivers results: no deadline.
_IDLE = float("inf")


def _child(conn: Connection, progress: Any, work: Callable[[bytes], Result]) -> None:
    """A chunk of raw messages in, their results out as one list, until the parent hangs up.

    `progress` (shared memory) holds the position in the chunk and the time its
    parse began, so the parent can tell which message overran its deadline
    without a round trip per message.
    """
    while True:
        try:
            chunk: list[bytes] = conn.recv()
        except (EOFError, OSError):
            return
        results: list[Result] = []
        for position, raw in enumerate(chunk):
            progress[0], progress[1] = position, time.monotonic()
            results.append(work(raw))
        progress[1] = _IDLE
        conn.send(results)


class _Child:
    __slots__ = ("batch", "chunk", "conn", "process", "progress")

    def __init__(self, context: BaseContext, work: Callable[[bytes], Result]) -> None:
        parent_end, child_end = context.Pipe(duplex=True)
        self.conn: Connection = parent_end
        self.progress = context.RawArray("d", [0.0, _IDLE])
        self.process: BaseProcess = context.Process(  # type: ignore[attr-defined]
            target=_child, args=(child_end, self.progress, work), name="bridge-parse", daemon=True
        )
        self.process.start()
        child_end.close()
        self.batch: Batch | None = None  # what it is working on, and which of its messages
        self.chunk: list[int] = []

    def send(self, batch: Batch, chunk: list[int]) -> None:
        self.batch, self.chunk = batch, chunk
        self.progress[0], self.progress[1] = 0, time.monotonic()
        self.conn.send([batch.raws[i] for i in chunk])

    def position(self) -> tuple[int, float]:
        """Which message of its chunk it is parsing, and since when (monotonic clock)."""
        return min(int(self.progress[0]), len(self.chunk) - 1), float(self.progress[1])

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


@dataclass(slots=True, eq=False)
class Batch:
    """Messages handed to the pool by `start`; `collect` waits for their results."""

    raws: Sequence[bytes]
    results: list[Result | None]
    queue: deque[int] = field(default_factory=deque)  # not yet handed to a child
    remaining: int = 0


class ParsePool:
    """A few parse children shared by one process's pipeline; thread-safe, started lazily.

    `run(raws)` parses and waits. `start(raws)` queues the messages and hands
    them to whichever children are free, returning at once; `collect(batch)`
    waits for that batch, and meanwhile hands the next queued batch to each
    child that comes free. Bulk import starts batch n+1 before collecting
    batch n, so the children go on to n+1 while the caller writes n to the
    database.
    """

    def __init__(
        self, *, workers: int, timeout: float, work: Callable[[bytes], Result] = prepare
    ) -> None:
        """`work` runs in the children; tests pass a module-level stand-in for the parser."""
        self.workers = workers
        self.timeout = timeout
        self._work = work
        self._children: list[_Child] = []
        self._free: list[_Child] = []
        self._busy: dict[Connection, _Child] = {}
        self._waiting: deque[Batch] = deque()  # batches with messages not yet handed out
        self._lock = threading.Lock()
        self._context: BaseContext | None = None

    def run(self, raws: Sequence[bytes]) -> list[Result]:
        """One result per message, in order; never raises for a message's sake."""
        return self.collect(self.start(raws))

    def start(self, raws: Sequence[bytes]) -> Batch:
        if self.workers <= 0 or not raws:
            return Batch(raws, [self._work(raw) for raw in raws])
        batch = Batch(raws, [None] * len(raws), deque(range(len(raws))), len(raws))
        with self._lock:
            while len(self._children) < self.workers:
                child = self._start()
                self._children.append(child)
                self._free.append(child)
            self._waiting.append(batch)
            self._dispatch()
        return batch

    def collect(self, batch: Batch) -> list[Result]:
        with self._lock:
            while batch.remaining:
                self._dispatch()
                deadline = min(c.position()[1] for c in self._busy.values()) + self.timeout
                timeout = None if deadline == _IDLE else max(deadline - time.monotonic(), 0)
                for conn in wait(list(self._busy), timeout=timeout):
                    self._receive(self._busy.pop(conn))  # type: ignore[call-overload]
                self._stop_overdue()
            self._dispatch()  # a child this batch freed starts on the next one now
        return [r if r is not None else Failed("parse result missing") for r in batch.results]

    def close(self) -> None:
        with self._lock:
            for child in self._children:
                child.conn.close()  # EOF: the child's loop ends by itself
            for child in self._children:
                child.process.join(2)
                if child.process.is_alive():
                    child.kill()
            self._children, self._free, self._busy = [], [], {}
            self._waiting.clear()

    def _start(self) -> _Child:
        if self._context is None:
            self._context = multiprocessing.get_context("forkserver")
            self._context.set_forkserver_preload(_PRELOAD)
        return _Child(self._context, self._work)

    def _dispatch(self) -> None:
        """Hand each free child its share of the oldest waiting batch.

        Whole shares rather than small chunks: while the caller writes to the
        database nobody hands out more work, so each child needs all of its own.
        """
        while self._free and self._waiting:
            batch = self._waiting[0]
            share = min(len(batch.queue), -(-len(batch.raws) // self.workers))
            chunk = [batch.queue.popleft() for _ in range(share)]
            if not batch.queue:
                self._waiting.popleft()
            child = self._free.pop()
            try:
                child.send(batch, chunk)
            except OSError:  # it died while idle: replace it and send again
                child = self._replace(child)
                child.send(batch, chunk)
            self._busy[child.conn] = child

    def _receive(self, child: _Child) -> None:
        try:
            results: list[Result] = child.conn.recv()
        except (EOFError, OSError):
            code = child.process.exitcode
            self._lose(child, Failed(f"parser process died (exit code {code})"))
            return
        batch = child.batch
        assert batch is not None
        for index, result in zip(child.chunk, results, strict=True):
            batch.results[index] = result
        batch.remaining -= len(child.chunk)
        child.batch, child.chunk = None, []
        self._free.append(child)

    def _stop_overdue(self) -> None:
        now = time.monotonic()
        for conn, child in list(self._busy.items()):
            if now - child.position()[1] >= self.timeout:
                del self._busy[conn]
                self._lose(child, TimedOut(self.timeout))

    def _lose(self, child: _Child, result: Result) -> None:
        """The child is stuck or dead: its current message gets `result`, the rest go back."""
        batch = child.batch
        assert batch is not None
        position, _ = child.position()
        index = child.chunk[position]
        if isinstance(result, TimedOut):
            log.warning("parse of message %s exceeded %.1f s", index, self.timeout)
        batch.results[index] = result
        batch.remaining -= 1
        # Results it had finished are lost with it: those messages are parsed again.
        again = [i for i in child.chunk if i != index]
        if again:
            batch.queue.extendleft(reversed(again))
            if batch not in self._waiting:
                self._waiting.appendleft(batch)
        self._free.append(self._replace(child))

    def _replace(self, child: _Child) -> _Child:
        if not child.conn.closed:
            child.kill()
        fresh = self._start()
        self._children[self._children.index(child)] = fresh
        return fresh
