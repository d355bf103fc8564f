"""JSON log lines: one object per line, one event per message state change with its raw id."""

from __future__ import annotations

import io
import json
import logging
import smtplib
from collections.abc import Iterator

import pytest

from bridge import logs
from bridge.core import Core
from bridge.moderation import reprocess
from tests.support.factories import bridge_listener, create_community
from tests.support.messages import make_mail


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    stream = io.StringIO()
    logs.configure("json", stream)
    quiet = logging.getLogger("mail.log")  # aiosmtpd's own chatter, quieted as serve does
    quiet_level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        yield stream
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
        quiet.setLevel(quiet_level)


def test_message_states_are_json_events_with_the_raw_id(core: Core, json_log: io.StringIO) -> None:
    """Mail over real SMTP, then the pipeline: pending (with source), then done or held."""
    create_community(core)
    with bridge_listener(core, "bridge.example") as port, smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.sendmail(
            "ana@example.com", ["eng@lists.example.com"], _crlf(make_mail(msgid="a@x.test"))
        )
        smtp.sendmail(
            "ana@example.com",
            ["eng@lists.example.com"],
            _crlf(make_mail("Away", msgid="b@x.test", headers={"Auto-Submitted": "auto-replied"})),
        )
        # Bare LF in DATA: refused at the edge, the bytes kept as `rejected`.
        smtp.docmd("MAIL FROM:<ana@example.com>")
        smtp.docmd("RCPT TO:<eng@lists.example.com>")
        smtp.docmd("DATA")
        smtp.send(b"Subject: bare\nbad line endings\r\n.\r\n")
        assert smtp.getreply()[0] == 550
    core.pipeline.run([1, 2])
    reprocess(core, "held")  # the held auto-reply goes round again: pending, then held
    logging.getLogger("somewhere").error("boom\nsecond line", exc_info=ValueError("x"))
    lines = json_log.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    states = [
        (e["raw_id"], e["state"], e.get("source"), e.get("hold_kind"))
        for e in entries
        if e.get("event") == "message.state"
    ]
    assert sorted(states, key=lambda s: (s[0], s[1] != "pending")) == [
        (1, "pending", "smtp", None),
        (1, "done", None, None),
        (2, "pending", "smtp", None),
        (2, "pending", None, None),
        (2, "held", None, "auto_reply"),
        (2, "held", None, "auto_reply"),
        (3, "rejected", "smtp", None),
    ]
    error = entries[-1]
    assert (error["level"], error["logger"], error["message"]) == (
        "error",
        "somewhere",
        "boom\nsecond line",
    )
    assert "ValueError" in error["exc"]
    assert all("ana@example.com" not in line for line in lines)


def _crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
