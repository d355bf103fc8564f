"""Support for tests that put `bridge serve` under SMTP load and kill it: senders that
behave like an MTA (retrying whatever got no 250 with the very same bytes), and
helpers to start the server and read back what it stored."""

from __future__ import annotations

import contextlib
import re
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from sqlalchemy import select

from bridge.core import open_core
from bridge.settings import load_settings
from mail.envelope import Receipt
from tests.support.messages import make_mail
from tests.support.net import wait_for
from threads.models import RawMessage

BRIDGE = [sys.executable, "-m", "bridge"]
CLIENTS, PER_CLIENT, KILL_AFTER = 10, 50, 150
LIST = "eng@lists.example.com"


def add_list_community(env: dict[str, str]) -> None:
    """The community the load is addressed to (LIST), made with the CLI."""
    subprocess.run(
        [*BRIDGE, "community", "add", "eng", "--name", "Eng", "--address", LIST],
        env=env,
        check=True,
        capture_output=True,
    )


def serve(
    env: dict[str, str], log: IO[bytes], *roles: str, port: int | None = None
) -> subprocess.Popen[bytes]:
    """`bridge serve` with these roles; with an SMTP `port`, once its listener answers."""
    flags = [arg for role in roles for arg in ("--role", role)]
    if port is not None:
        flags += ["--smtp-port", str(port)]
    proc = subprocess.Popen(
        [*BRIDGE, "serve", *flags], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    if port is not None:
        wait_for(lambda: smtplib.SMTP("127.0.0.1", port, timeout=5).quit())
    return proc


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
