"""Running the IMAP pollers against tests/support/dovecot.py's Dovecot: the secret's
environment variable, CRLF mail as IMAP carries it, quick-retry settings, and a
patient wait for what the pollers stored."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select

from bridge.core import Core
from bridge.pollers import ImapPollers
from bridge.settings import Settings
from threads.models import RawMessage

ENV = "BRIDGE_TEST_IMAP_SECRET"


def crlf(raw: bytes) -> bytes:
    """Mail as it travels (SMTP DATA, IMAP FETCH): CRLF line ends."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def tuned(core: Core, **overrides: Any) -> Settings:
    """Settings for a test: quick retries, so waits are short without timing assertions."""
    update = {"imap_poll_seconds": 0.2, "imap_backoff_max_seconds": 1.0, **overrides}
    return core.settings.model_copy(update=update)


@contextmanager
def running(core: Core, settings: Settings | None = None, **kw: Any) -> Iterator[ImapPollers]:
    pollers = ImapPollers(core, settings or tuned(core), **kw)
    pollers.start()
    try:
        yield pollers
    finally:
        pollers.stop()


def raw_count(core: Core) -> int:
    with core.engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(RawMessage.__table__)).scalar_one()
        )
