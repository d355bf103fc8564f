"""A crash test of the SMTP listener: SIGKILL midway through 500 messages, restart, count.

Ten clients send fifty messages each to `bridge serve --role smtp`, retrying
whatever failed (refused or reset connection, a 4xx) with the very same
bytes, as an MTA does. After about 150 messages got 250, the server is killed
with SIGKILL and started again on the same port. In the end every message is
in raw_message exactly once: those that got 250 before the crash (nothing
acknowledged is lost), and those whose 250 never arrived, which the clients
sent again (the inbox stores identical bytes once).
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.env import bridge_env
from tests.support.net import free_port, wait_for
from tests.support.smtp_load import (
    CLIENTS,
    KILL_AFTER,
    PER_CLIENT,
    Client,
    add_list_community,
    serve,
    stored_message_ids,
)


@pytest.mark.slow
def test_sigkill_midway_loses_nothing_and_stores_nothing_twice(tmp_path: Path) -> None:
    """Every 250 is kept, every retry of an unanswered message is stored once."""
    env = {
        **os.environ,
        **bridge_env(tmp_path / "d"),
        "BRIDGE_SMTP_RATE_LIMIT": "0",
        "BRIDGE_SMTP_MAX_PER_CLIENT": "0",
    }
    add_list_community(env)
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = serve(env, log, "smtp", port=port)
    acked: dict[str, str] = {}
    clients = [Client(i, port, acked, time.monotonic() + 50) for i in range(CLIENTS)]
    try:
        for client in clients:
            client.start()
        wait_for(lambda: len(acked) >= KILL_AFTER, timeout=40)
        server.send_signal(signal.SIGKILL)
        server.wait()
        acked_before_kill = dict(acked)
        at_kill = stored_message_ids(env, tmp_path / "d")
        server = serve(env, log, "smtp", port=port)
        for client in clients:
            client.join(60)
    finally:
        server.terminate()
        server.wait(20)
        log.close()
    assert [c.error for c in clients] == [None] * CLIENTS
    assert KILL_AFTER <= len(acked_before_kill) < CLIENTS * PER_CLIENT, "no crash midway"
    assert sum(c.retries for c in clients) > 0, "the crash interrupted no client"
    # What got 250 was on disk when the process died, before the restart touched anything.
    assert set(acked_before_kill.items()) <= set(at_kill)

    rows = stored_message_ids(env, tmp_path / "d")
    stored = Counter(msgid for msgid, _ in rows)
    assert all(stored[m] == 1 for m in acked_before_kill), "a message that got 250 is missing"
    assert len(acked) == CLIENTS * PER_CLIENT
    assert stored == Counter(dict.fromkeys(acked, 1)), "every message stored exactly once"
    assert dict(rows) == acked, "each 250 named the row the message is stored in"
