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
    """A child's loop: raw bytes in, a `Result` out, until the parent hangs up."""
    while True:
        try:
            raw = conn.recv_bytes()
        except (EOFError, OSError):
            return
        conn.send(work(raw))


class _Child:
    __slots__ = ("conn", "process", "started", "task")

    def __init__(self, context: BaseContext, work: Callable[[bytes], Result]) -> None:
        parent_end, child_end = context.Pipe(duplex=True)
        self.conn: Connection = parent_end
        self.process: BaseProcess = context.Process(  # type: ignore[attr-defined]
            target=_child, args=(child_end, work), name="bridge-parse", daemon=True
        )
        self.process.start()
        child_end.close()
        self.task: int | None = None  # index of the message it is parsing
        self.started = 0.0

    def send(self, index: int, raw: bytes) -> None:
        self.task, self.started = index, time.monotonic()
        self.conn.send_bytes(raw)

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
        queue = iter(range(len(raws)))
        idle = list(self._children)
        busy: dict[Connection, _Child] = {}
        done = 0
        while done < len(raws):
            while idle and (index := next(queue, None)) is not None:
                child = idle.pop()
                try:
                    child.send(index, raws[index])
                except OSError:  # died between two messages: replace it, try again
                    child = self._replace(child)
                    child.send(index, raws[index])
                busy[child.conn] = child
            deadline = min(c.started for c in busy.values()) + self.timeout
            for conn in wait(list(busy), timeout=max(deadline - time.monotonic(), 0)):
                child = busy.pop(conn)  # type: ignore[call-overload]
                results[child.task] = self._receive(child)  # type: ignore[index]
                done += 1
                if child.conn.closed:
                    child = self._replace(child)
                idle.append(child)
            now = time.monotonic()
            for conn, child in list(busy.items()):
                if now - child.started >= self.timeout:
                    log.warning("parse of message %s exceeded %.1f s", child.task, self.timeout)
                    del busy[conn]
                    results[child.task] = TimedOut(self.timeout)  # type: ignore[index]
                    done += 1
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
