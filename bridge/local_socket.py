"""A running `bridge serve` answers quick questions from the shell on a Unix socket.

A fresh `bridge experts` process spends most of a second starting Python and
importing SQLAlchemy, pydantic and the models before it asks anything; the
question itself is a tenth of that. As public-inbox's `lei` hands its work to
`lei-daemon`, the command hands its question to the running service over
DATA/run/bridge.sock and prints the answer (bridge/local_client.py); with no
service it does the work itself, as before.

The protocol: one JSON request line, one JSON answer line, then the
connection closes. A request over `MAX_REQUEST` bytes, or one not finished
within `READ_SECONDS`, is refused; at most `MAX_CONNECTIONS` are answered at
once (more are told "busy" and ask in-process). What a request may ask is
bridge/local_answers.py's business; this module only carries it.

Who else on the machine could ask, and what could they learn? The socket is
for the service's own operating-system user, who can read the database,
the secret key and the raw mail in DATA anyway: nothing is answered that
this user could not read directly, so answering as a local admin (as the
shell's `bridge experts` does) gives away nothing. Everyone else is kept out
three times over: DATA/run is created 0700 and the socket 0600 under a umask
of 0177 (no moment when either is open wider), and each connection's peer
credentials (SO_PEERCRED, given by the kernel, not the peer) must carry the
service's own uid, or it is closed before a byte is read. Root could connect
despite the modes and is refused by the uid check too; root could of course
read DATA itself. Where the kernel has no SO_PEERCRED the socket is not
opened at all. Another user's process cannot squat the socket's name either:
it cannot create anything in a 0700 folder it does not own, and an
existing DATA/run that is not ours, or not 0700, is refused (the command
falls back to its own path, which reads only the database).

One service per data directory owns the socket: a lock file beside it is held
for the service's life, so a second `bridge serve` on the same directory goes
on without a socket (logged) rather than stealing the first one's, and a
socket file left by a process that died (its lock released by the kernel) is
replaced.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import stat
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024
READ_SECONDS = 5.0
MAX_CONNECTIONS = 8
# AF_UNIX paths are at most 107 bytes (sun_path); longer ones go through the folder's fd.
MAX_SUN_PATH = 100

Handler = Callable[[Any], dict[str, Any]]


def socket_path(data: Path) -> Path:
    return data / "run" / "bridge.sock"


def peer_allowed(peer_uid: int, own_uid: int) -> bool:
    """Only the service's own user may ask (root included: it is refused like anyone)."""
    return peer_uid == own_uid


def peer_uid(conn: socket.socket) -> int:
    """The connecting process's uid, as the kernel recorded it at connect()."""
    size = struct.calcsize("3i")
    _pid, uid, _gid = struct.unpack(
        "3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, size)
    )
    return int(uid)


@contextlib.contextmanager
def reachable(path: Path) -> Iterator[str]:
    """A name for `path` that fits in sun_path: itself, or through its folder's file
    descriptor in /proc/self/fd when the data directory's path is long."""
    if len(os.fsencode(path)) <= MAX_SUN_PATH:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


class TooLarge(ValueError):
    """A line longer than its limit."""


def read_line(conn: socket.socket, limit: int) -> bytes:
    """One line from `conn`, without its newline; TooLarge past `limit` bytes, b"" at EOF."""
    got = bytearray()
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return b"" if not got else bytes(got)
        got += chunk
        end = got.find(b"\n")
        if end >= 0:
            if end > limit:
                raise TooLarge
            return bytes(got[:end])
        if len(got) > limit:
            raise TooLarge


def refusal(kind: str, error: str) -> dict[str, Any]:
    return {"v": 1, "error": error, "kind": kind}


class LocalSocket:
    """The listening socket and its threads: `start()` (False when it cannot own the
    socket), `stop()` (closes everything, removes the socket file)."""

    def __init__(self, path: Path, handler: Handler, *, workers: int = MAX_CONNECTIONS) -> None:
        self.path = path
        self.handler = handler
        self.answered = 0  # requests the handler answered (tests read it)
        self._slots = threading.BoundedSemaphore(workers)
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._lock_fd: int | None = None
        self._thread: threading.Thread | None = None
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    # --- owning the socket ----------------------------------------------------------------

    def start(self) -> bool:
        if not hasattr(socket, "SO_PEERCRED"):
            log.warning("local socket: no peer credentials on this system; not opened")
            return False
        try:
            folder = self._own_folder()
        except OSError as exc:
            log.warning("local socket: %s; not opened", exc)
            return False
        lock_fd = os.open(folder / "bridge.sock.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock_fd)
            log.warning("local socket: %s belongs to another bridge serve; not opened", self.path)
            return False
        try:
            listener = self._bind()
        except OSError as exc:
            os.close(lock_fd)
            log.warning("local socket: cannot listen on %s (%s); not opened", self.path, exc)
            return False
        self._lock_fd, self._listener = lock_fd, listener
        self._thread = threading.Thread(target=self._accept_loop, name="local-socket", daemon=True)
        self._thread.start()
        return True

    def _own_folder(self) -> Path:
        folder = self.path.parent
        old = os.umask(0o077)
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        finally:
            os.umask(old)
        info = folder.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise PermissionError(f"{folder} must be a folder owned by this user")
        if stat.S_IMODE(info.st_mode) != 0o700:
            folder.chmod(0o700)  # ours, made wider by hand: nobody else may reach the socket
        return folder

    def _bind(self) -> socket.socket:
        # Holding the lock: whatever socket file is there was left by a dead process.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # The umask applies to the socket file bind() creates: 0600 from its first moment.
        # It is the process's, so `bridge serve` opens the socket before starting its
        # other threads; a file another thread created meanwhile would only be stricter.
        old = os.umask(0o177)
        try:
            with reachable(self.path) as name:
                listener.bind(name)
        except OSError:
            listener.close()
            raise
        finally:
            os.umask(old)
        listener.listen(64)
        listener.settimeout(0.5)  # the accept loop looks at the stop flag this often
        return listener

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._open_lock:
            for conn in self._open:  # a question in flight ends; its client asks in-process
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        if self._listener is not None:
            self._listener.close()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # released after the unlink: no successor's file removed
        self._listener = self._lock_fd = None

    # --- answering ------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                log.exception("local socket: accept failed")
                continue
            try:
                allowed = peer_allowed(peer_uid(conn), os.getuid())
            except OSError:
                allowed = False
            if not allowed:
                conn.close()  # before reading a byte
                continue
            if not self._slots.acquire(blocking=False):
                busy = refusal("busy", "too many questions at once")
                threading.Thread(target=_refuse, args=(conn, busy), daemon=True).start()
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._open_lock:
            self._open.add(conn)
        try:
            conn.settimeout(READ_SECONDS)
            try:
                line = read_line(conn, MAX_REQUEST)
            except TooLarge:
                _refuse(conn, refusal("too_large", f"a request is at most {MAX_REQUEST} bytes"))
                return
            except OSError:
                return  # timed out or gone: nothing to answer
            if not line:
                return
            try:
                request = json.loads(line)
            except ValueError:
                _send(conn, refusal("bad_request", "a request is one JSON object"))
                return
            try:
                answer = self.handler(request)
            except Exception:
                if self._stopping.is_set():
                    return
                log.exception("local socket: a question failed")
                answer = refusal("internal", "the service could not answer; ask in-process")
            with self._open_lock:
                self.answered += 1
            _send(conn, answer)
        finally:
            with self._open_lock:
                self._open.discard(conn)
            conn.close()
            self._slots.release()


def _send(conn: socket.socket, answer: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(answer, ensure_ascii=False).encode() + b"\n")


def _refuse(conn: socket.socket, answer: dict[str, Any]) -> None:
    """Answer without reading the request, then read what the client still sends (a
    little, briefly) before closing: closing on unread bytes resets the connection, and
    the client would lose the refusal."""
    try:
        _send(conn, answer)
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(READ_SECONDS)
            drained = 0
            while drained < 4 * MAX_REQUEST and (chunk := conn.recv(65536)):
                drained += len(chunk)
    finally:
        conn.close()
