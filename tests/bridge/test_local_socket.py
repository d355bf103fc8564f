"""The local socket on a real Unix socket: who may connect, who owns it, bounded requests."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge import local_socket
from bridge.local_client import ask
from bridge.local_socket import MAX_REQUEST, LocalSocket, peer_allowed, reachable, socket_path

NOBODY = 65534


def echo(request: Any) -> dict[str, Any]:
    return {"v": 1, "answer": request}


def talk(path: Path, raw: bytes) -> bytes:
    """What the server sends back for `raw`, read to the end."""
    with reachable(path) as name, socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(10)
        conn.connect(name)
        conn.sendall(raw)
        got = b""
        while chunk := conn.recv(65536):
            got += chunk
        return got


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[LocalSocket]:
    server = LocalSocket(socket_path(tmp_path / "d"), echo)
    assert server.start()
    yield server
    server.stop()


def test_answers_one_line_with_owner_only_modes(serving: LocalSocket) -> None:
    """A request line gets its answer line; DATA/run is 0700, the socket 0600; stop removes it."""
    assert ask(serving.path, {"q": "zswap"}) == {"v": 1, "answer": {"q": "zswap"}}
    assert stat.S_IMODE(serving.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(serving.path.stat().st_mode) == 0o600
    assert stat.S_ISSOCK(serving.path.stat().st_mode)
    serving.stop()
    assert not serving.path.exists()
    assert ask(serving.path, {"q": "zswap"}) is None


def test_oversized_or_broken_requests_are_refused_and_the_server_goes_on(
    serving: LocalSocket,
) -> None:
    """Over 64 KiB, with or without a newline, or not JSON: a typed refusal, then more answers."""
    for raw in (b"x" * (MAX_REQUEST + 10) + b"\n", b"x" * (3 * MAX_REQUEST)):
        assert json.loads(talk(serving.path, raw))["kind"] == "too_large"
    assert json.loads(talk(serving.path, b"{not json\n"))["kind"] == "bad_request"
    assert talk(serving.path, b"") == b""  # nothing asked, nothing answered
    assert ask(serving.path, {"q": "still here"}) == {"v": 1, "answer": {"q": "still here"}}
    assert serving.answered == 1


def test_a_silent_client_is_dropped_after_the_read_timeout(
    serving: LocalSocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that never sends its line is closed, not kept for ever."""
    monkeypatch.setattr(local_socket, "READ_SECONDS", 0.2)
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(10)
        conn.connect(str(serving.path))
        conn.sendall(b'{"half": ')
        assert conn.recv(100) == b""
    assert ask(serving.path, {}) == {"v": 1, "answer": {}}


def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    """A socket file left by a dead process (nobody listening) is removed and bound again."""
    path = socket_path(tmp_path / "d")
    path.parent.mkdir(parents=True, mode=0o700)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    dead.close()
    assert path.exists()
    assert ask(path, {}) is None
    server = LocalSocket(path, echo)
    assert server.start()
    try:
        assert ask(path, {"n": 1}) == {"v": 1, "answer": {"n": 1}}
    finally:
        server.stop()


def test_a_second_server_does_not_steal_the_socket(serving: LocalSocket) -> None:
    """Another service on the same data directory goes on without; the first keeps answering."""
    inode = serving.path.stat().st_ino
    second = LocalSocket(serving.path, lambda _: {"v": 1, "answer": "second"})
    assert not second.start()
    second.stop()  # harmless: it owns nothing, removes nothing
    assert serving.path.stat().st_ino == inode
    assert ask(serving.path, {}) == {"v": 1, "answer": {}}


def test_a_run_folder_made_wider_is_narrowed_and_one_not_ours_refused(tmp_path: Path) -> None:
    """DATA/run opened to others by hand becomes 0700 again; a file in its place: no socket."""
    path = socket_path(tmp_path / "d")
    path.parent.mkdir(parents=True)
    path.parent.chmod(0o755)
    server = LocalSocket(path, echo)
    assert server.start()
    server.stop()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    blocked = socket_path(tmp_path / "e")
    blocked.parent.parent.mkdir()
    blocked.parent.write_text("not a folder")
    assert not LocalSocket(blocked, echo).start()


def test_too_many_at_once_are_told_busy(tmp_path: Path) -> None:
    """With every slot taken, a new connection is refused at once ("busy"), not queued."""
    release = threading.Event()

    def slow(request: Any) -> dict[str, Any]:
        release.wait(10)
        return {"v": 1, "answer": "slow"}

    server = LocalSocket(socket_path(tmp_path / "d"), slow, workers=1)
    assert server.start()
    try:
        first: list[dict[str, Any] | None] = []
        waiting = threading.Thread(target=lambda: first.append(ask(server.path, {})))
        waiting.start()
        while not server._open:  # the first question is being answered
            threading.Event().wait(0.01)
        assert json.loads(talk(server.path, b"{}\n"))["kind"] == "busy"
        release.set()
        waiting.join(10)
        assert first == [{"v": 1, "answer": "slow"}]
    finally:
        release.set()
        server.stop()


def test_a_long_data_directory_path_still_works(tmp_path: Path) -> None:
    """Past sun_path's 107 bytes the socket is reached through its folder's descriptor."""
    data = tmp_path / ("long-" * 30)
    assert len(str(socket_path(data))) > 108
    server = LocalSocket(socket_path(data), echo)
    assert server.start()
    try:
        assert ask(server.path, {"long": True}) == {"v": 1, "answer": {"long": True}}
    finally:
        server.stop()
    assert not server.path.exists()


def test_the_peer_check_compares_uids() -> None:
    """Only the service's own uid; root, or anyone else, is refused."""
    assert peer_allowed(1000, 1000)
    assert not peer_allowed(0, 1000)
    assert not peer_allowed(1001, 1000)
    assert not peer_allowed(65534, 0)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user")
def test_another_user_is_refused_even_when_the_modes_let_it_in() -> None:
    """Folder and socket opened to everyone by hand: a process of another uid connects,
    and the server closes the connection unread and unanswered (SO_PEERCRED)."""
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        base.chmod(0o711)
        server = LocalSocket(socket_path(base / "d"), echo)
        assert server.start()
        try:
            (base / "d").chmod(0o711)
            server.path.parent.chmod(0o711)
            server.path.chmod(0o666)
            probe = (
                "import socket, sys\n"
                "s = socket.socket(socket.AF_UNIX)\n"
                "s.settimeout(10)\n"
                "s.connect(sys.argv[1])\n"
                "print('connected')\n"
                "try:\n"
                "    s.sendall(b'{\"v\": 1}\\n')\n"
                "    print('got', repr(s.recv(1000)))\n"
                "except OSError as exc:\n"
                "    print('closed', exc.errno)\n"
            )
            result = subprocess.run(
                ["/usr/bin/python3", "-c", probe, str(server.path)],
                user=NOBODY,
                capture_output=True,
                text=True,
                timeout=30,
                cwd="/",
            )
            assert result.returncode == 0, result.stderr
            said = result.stdout.split()
            assert said[0] == "connected"  # the modes let it in; the uid check did not
            assert said[1:] in (["got", "b''"], ["closed", "32"], ["closed", "104"])
            assert server.answered == 0
            assert ask(server.path, {"me": 1}) == {"v": 1, "answer": {"me": 1}}
        finally:
            server.stop()
    finally:
        shutil.rmtree(base)
