"""A taken port ends `bridge serve` with one line naming it and how to choose another,
before anything is migrated, seeded or printed."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.support.net import free_port


@contextmanager
def occupied() -> Iterator[int]:
    """A port something else is listening on, as another program would hold it."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield int(holder.getsockname()[1])


@pytest.mark.parametrize(
    ("which", "flag", "setting"),
    [
        ("web", "--web-port", "BRIDGE_WEB_PORT"),
        ("SMTP", "--smtp-port", "BRIDGE_SMTP_PORT"),
    ],
)
def test_taken_port_is_one_line_and_nothing_is_seeded(
    bridge_cli, which: str, flag: str, setting: str
) -> None:
    """serve --demo on a taken port: exit 1, one stderr line naming port, flag and setting."""
    with occupied() as taken:
        ports = {"--web-port": free_port(), "--smtp-port": free_port(), flag: taken}
        args = [arg for pair in ports.items() for arg in map(str, pair)]
        result = subprocess.run(
            [sys.executable, "-m", "bridge", "serve", "--demo", *args],
            env=bridge_cli.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: {which} port 127.0.0.1:{taken} is already in use; "
        f"choose another with {flag} PORT or {setting}"
    ]
    # Nothing was printed before the failure: no demo notes, no "log in at".
    assert result.stdout == ""
    # And nothing was seeded: the store has no community.
    listed = bridge_cli("community", "list", "--json")
    assert listed.stdout == ""
