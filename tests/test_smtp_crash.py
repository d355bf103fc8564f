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

import contextlib
import os
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge.core import open_core
from bridge.settings import load_settings
from mail.envelope import Receipt
from tests.conftest import bridge_env, make_mail
from tests.test_serve_e2e import free_port, wait_for
from threads.models import RawMessage

BRIDGE = [sys.executable, "-m", "bridge"]
CLIENTS, PER_CLIENT, KILL_AFTER = 10, 50, 150
LIST = "eng@lists.example.com"
QUEUED = re.compile(rb"queued as (CB\d+)")
MESSAGE_ID = re.compile(rb"^Message-ID: <([^>]+)>", re.MULTILINE | re.IGNORECASE)


def message(client: int, n: int) -> bytes:
    raw = make_mail(
        f"Crash test {client}/{n}",
        msgid=f"c{client}m{n}@crash.example",
        body=f"Message {n} of client {client}.\n" * 20,
    )
    return raw.replace(b"\n", b"\r\n")


class Client(threading.Thread):
    """Sends its messages in order on one connection, reconnecting and retrying until 250."""

    def __init__(self, number: int, port: int, acked: dict[str, str], deadline: float) -> None:
        super().__init__(name=f"client-{number}", daemon=True)
        self.number, self.port, self.acked, self.deadline = number, port, acked, deadline
        self.retries = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            smtp: smtplib.SMTP | None = None
            for n in range(PER_CLIENT):
                raw = message(self.number, n)
                while True:
                    if time.monotonic() > self.deadline:
                        raise TimeoutError(f"message {n} never got 250")
                    try:
                        if smtp is None:
                            smtp = smtplib.SMTP("127.0.0.1", self.port, timeout=20)
                            smtp.ehlo(f"client{self.number}.example")
                        queue_id = self._send(smtp, raw)
                    except (OSError, smtplib.SMTPServerDisconnected, TemporaryFailure):
                        # Refused, reset or 4xx: an MTA keeps the message and tries again.
                        self.retries += 1
                        smtp = _close(smtp)
                        time.sleep(0.05)
                        continue
                    self.acked[f"c{self.number}m{n}@crash.example"] = queue_id
                    break
            _close(smtp)
        except BaseException as exc:
            self.error = exc

    @staticmethod
    def _send(smtp: smtplib.SMTP, raw: bytes) -> str:
        for step in (lambda: smtp.mail("ana@example.com"), lambda: smtp.rcpt(LIST)):
            _check(smtp, *step())
        try:
            code, text = smtp.data(raw)
        except smtplib.SMTPDataError as refused:  # DATA itself answered other than 354
            code, text = refused.smtp_code, refused.smtp_error
        _check(smtp, code, text)
        found = QUEUED.search(text)
        assert found, text
        return found.group(1).decode()


class TemporaryFailure(Exception):
    """A 4xx reply: retry later."""


def _check(smtp: smtplib.SMTP, code: int, text: bytes) -> None:
    if 400 <= code < 500:
        smtp.rset()
        raise TemporaryFailure(code, text)
    if code >= 500:
        raise AssertionError(f"permanent failure {code} {text!r}")


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        with contextlib.suppress(OSError):
            smtp.close()


def stored_message_ids(env: dict[str, str], data: Path) -> list[tuple[str, str]]:
    """(Message-ID, queue id) of every raw_message row, read from the stored bytes."""
    core = open_core(load_settings(data=data, database_url=env.get("BRIDGE_DATABASE_URL")))
    try:
        raw = RawMessage.__table__
        with core.engine.connect() as conn:
            rows = conn.execute(select(raw.c.id, raw.c.data)).all()
    finally:
        core.close()
    out = []
    for row_id, content in rows:
        (msgid,) = MESSAGE_ID.findall(bytes(content))
        out.append((msgid.decode(), Receipt(row_id, duplicate=False).queue_id))
    return out


@pytest.mark.slow
def test_sigkill_midway_loses_nothing_and_stores_nothing_twice(tmp_path: Path) -> None:
    """Every 250 is kept, every retry of an unanswered message is stored once."""
    env = {**os.environ, **bridge_env(tmp_path / "d"), "BRIDGE_SMTP_RATE_LIMIT": "0"}
    subprocess.run(
        [*BRIDGE, "community", "add", "eng", "--name", "Eng", "--address", LIST],
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")

    def serve() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [*BRIDGE, "serve", "--role", "smtp", "--smtp-port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: smtplib.SMTP("127.0.0.1", port, timeout=5).quit())
        return proc

    server = serve()
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
        server = serve()
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
