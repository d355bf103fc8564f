"""Loopback plumbing for tests that start real servers: a free port to listen on,
and a patient wait for something to come up (the machine is shared, so waits are
generous "eventually" loops, never timing thresholds)."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


# Below Linux's range for outgoing connections (32768-60999), so the kernel does not
# give a port handed out here to a connection before the server binds it; drawn at
# random, so that test processes running side by side seldom pick the same one.
_PORTS = range(20000, 32000)
_rng = random.Random()
_given: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, and that this process has
    not handed out before (two servers of one test must not get the same one)."""
    while True:
        port = _rng.choice(_PORTS)
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port


def wait_for(predicate: Callable[[], T], timeout: float = 30.0) -> T:
    """Poll `predicate` until it returns something true (OSError counts as not yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")
