"""Parse and classify in child processes, each message under a wall-clock deadline.

CPython's email parser can be made to spin for minutes on one hostile header,
and a thread cannot be interrupted, so the pure steps (parse, classify) run in
a few child processes instead. A child that is still busy when a message's
deadline passes is killed and replaced; the message comes back as `TimedOut`
and the pipeline holds it with that reason. A child that dies (a crash in a C
extension, the kernel's OOM killer) is replaced the same way and its message
fails. With two children on a two-core machine, parsing also runs in parallel
with itself while the parent waits, which more than pays for the pickling.

Children are forked from a forkserver that has imported the parser once, so
a replacement starts in milliseconds and no child inherits the parent's
threads or database connections. `workers=0` parses in the calling thread
with no time limit (for debugging; nothing then protects the pipeline).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess

from mail.classify import Classification, classify
from mail.parse import ParsedMessage, parse_message

log = logging.getLogger(__name__)

# Modules every child needs: imported once in the forkserver, inherited by each fork.
_PRELOAD = ["mail.parse", "mail.classify"]
# Messages sent to a child at a time; each one still has its own deadline.
_CHUNK = 8


@dataclass(frozen=True, slots=True)
class Prepared:
    """A message parsed and classified."""

    parsed: ParsedMessage
    classification: Classification


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
        return Prepared(parsed, classify(parsed))
    except Exception as exc:  # parse_message never raises; classify might, on a bug
        log.exception("parse or classify raised")
        return Failed(f"parse failed: {exc!r}")


def _child(conn: Connection, work: Callable[[bytes], Result]) -> None:
    """A child's loop: a chunk of raw messages in, one `Result` out per message, in order."""
    while True:
        try:
            chunk: list[bytes] = conn.recv()
        except (EOFError, OSError):
            return
        for raw in chunk:
            conn.send(work(raw))


class _Child:
    __slots__ = ("conn", "pending", "process", "started")

    def __init__(self, context: BaseContext, work: Callable[[bytes], Result]) -> None:
        parent_end, child_end = context.Pipe(duplex=True)
        self.conn: Connection = parent_end
        self.process: BaseProcess = context.Process(  # type: ignore[attr-defined]
            target=_child, args=(child_end, work), name="bridge-parse", daemon=True
        )
        self.process.start()
        child_end.close()
        # Indices of the messages sent and not answered yet; the first is being parsed,
        # since `started` (the send, or the previous answer's arrival).
        self.pending: deque[int] = deque()
        self.started = 0.0

    def send(self, indices: list[int], raws: Sequence[bytes]) -> None:
        self.pending.extend(indices)
        self.started = time.monotonic()
        self.conn.send([raws[i] for i in indices])

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class ParsePool:
    """A few parse children shared by one process's pipeline; thread-safe, started lazily."""

    def __init__(
        self, *, workers: int, timeout: float, work: Callable[[bytes], Result] = prepare
    ) -> None:
        """`work` runs in the children; tests pass a module-level stand-in for the parser."""
        self.workers = workers
        self.timeout = timeout
        self._work = work
        self._children: list[_Child] = []
        self._lock = threading.Lock()
        self._context: BaseContext | None = None

    def run(self, raws: Sequence[bytes]) -> list[Result]:
        """One result per message, in order; never raises for a message's sake."""
        if self.workers <= 0 or not raws:
            return [self._work(raw) for raw in raws]
        with self._lock:  # one batch at a time: the children are not shared mid-batch
            return self._run(raws)

    def close(self) -> None:
        with self._lock:
            for child in self._children:
                child.conn.close()  # EOF: the child's loop ends by itself
            for child in self._children:
                child.process.join(2)
                if child.process.is_alive():
                    child.kill()
            self._children = []

    def _start(self) -> _Child:
        if self._context is None:
            self._context = multiprocessing.get_context("forkserver")
            self._context.set_forkserver_preload(_PRELOAD)  # type: ignore[attr-defined]
        return _Child(self._context, self._work)

    def _run(self, raws: Sequence[bytes]) -> list[Result]:
        results: list[Result | None] = [None] * len(raws)
        while len(self._children) < min(self.workers, len(raws)):
            self._children.append(self._start())
        queue = deque(range(len(raws)))
        idle = list(self._children)
        busy: dict[Connection, _Child] = {}
        done = 0
        while done < len(raws):
            while idle and queue:
                # Chunks, so that a child rarely waits for the parent to be scheduled;
                # smaller near the end so that both children finish together.
                size = max(1, min(_CHUNK, len(queue) // len(self._children)))
                chunk = [queue.popleft() for _ in range(min(size, len(queue)))]
                child = idle.pop()
                try:
                    child.send(chunk, raws)
                except OSError:  # died between two chunks: replace it, try again
                    child.pending.clear()
                    child = self._replace(child)
                    child.send(chunk, raws)
                busy[child.conn] = child
            deadline = min(c.started for c in busy.values()) + self.timeout
            for conn in wait(list(busy), timeout=max(deadline - time.monotonic(), 0)):
                child = busy[conn]  # type: ignore[index]
                index = child.pending.popleft()
                results[index] = self._receive(child)
                done += 1
                child.started = time.monotonic()  # the next message starts now
                if child.conn.closed:  # it died: what it had not begun goes back in the queue
                    queue.extendleft(reversed(child.pending))
                    child.pending.clear()
                    del busy[conn]
                    idle.append(self._replace(child))
                elif not child.pending:
                    del busy[conn]
                    idle.append(child)
            now = time.monotonic()
            for conn, child in list(busy.items()):
                if now - child.started >= self.timeout:
                    index = child.pending.popleft()
                    log.warning("parse of message %s exceeded %.1f s", index, self.timeout)
                    results[index] = TimedOut(self.timeout)
                    done += 1
                    queue.extendleft(reversed(child.pending))
                    child.pending.clear()
                    del busy[conn]
                    idle.append(self._replace(child))
        return [r if r is not None else Failed("parse result missing") for r in results]

    def _receive(self, child: _Child) -> Result:
        try:
            result: Result = child.conn.recv()
        except (EOFError, OSError):
            code = child.process.exitcode
            child.kill()
            return Failed(f"parser process died (exit code {code})")
        return result

    def _replace(self, child: _Child) -> _Child:
        if not child.conn.closed:
            child.kill()
        fresh = self._start()
        self._children[self._children.index(child)] = fresh
        return fresh
