"""Asking the running `bridge serve` over its Unix socket (bridge/local_socket.py).

Standard library only: this runs before the command imports SQLAlchemy or
pydantic, and saving those imports is its whole point. Every way the
transport can fail (no socket, nobody listening, a refusal other than the
user's own mistake, a broken or cut answer) answers None, and the caller
does the work in-process: the service changes how fast an answer comes,
never what it says.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from bridge.local_socket import reachable, read_line

CONNECT_SECONDS = 1.0
# A question that has to build its background sample first takes seconds on a busy machine.
ANSWER_SECONDS = 60.0
MAX_ANSWER = 16 * 1024 * 1024


def ask(path: Path, request: dict[str, Any]) -> dict[str, Any] | None:
    """The service's answer to `request`, or None when there is none to be had."""
    if not path.exists():
        return None
    try:
        with (
            reachable(path) as name,
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn,
        ):
            conn.settimeout(CONNECT_SECONDS)
            conn.connect(name)
            conn.settimeout(ANSWER_SECONDS)
            conn.sendall(json.dumps(request, ensure_ascii=False).encode() + b"\n")
            # A cut-off answer is no JSON; TooLarge is a ValueError too.
            answer = json.loads(read_line(conn, MAX_ANSWER))
    except (OSError, ValueError):
        return None
    return answer if isinstance(answer, dict) else None
