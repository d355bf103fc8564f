"""`bridge serve --role smtp --role worker --role sender` as separate roles of a real process.

A reply sent by SMTP to the community, without Cc, is owed to the thread's
other participant; the sender role relays it to a recording relay (aiosmtpd)
with the headers a mail client threads by.
"""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller

from tests.support.env import bridge_env
from tests.support.messages import make_mail
from tests.support.net import free_port, wait_for
from tests.support.relay import RelayHandler

LIST = ("--address", "eng@lists.example.com")


def test_sender_role_relays_a_reply_to_the_participant_it_did_not_reach(tmp_path: Path) -> None:
    """One process, three roles: SMTP in, pipeline, sender out to the relay."""
    handler = RelayHandler()
    relay_port, smtp_port = free_port(), free_port()
    relay = Controller(handler, hostname="127.0.0.1", port=relay_port)
    relay.start()
    env = {
        **os.environ,
        **bridge_env(tmp_path / "d"),
        "BRIDGE_MAIL_DOMAIN": "bridge.example",
        "BRIDGE_SMTP_RELAY": f"127.0.0.1:{relay_port}",
        "BRIDGE_SMTP_RELAY_TLS": "none",
        "BRIDGE_SENDER_POLL_SECONDS": "0.3",
    }
    bridge = [sys.executable, "-m", "bridge"]
    subprocess.run(
        [*bridge, "community", "add", "eng", "--name", "Engineering", *LIST],
        env=env,
        check=True,
        capture_output=True,
    )
    roles = ["--role", "smtp", "--role", "worker", "--role", "sender"]
    proc = subprocess.Popen(
        [*bridge, "serve", "--smtp-port", str(smtp_port), *roles],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: socket.create_connection(("127.0.0.1", smtp_port), timeout=1).close() or 1)
        first = make_mail(
            "Rollout plan",
            sender="Ana Lima <ana@example.com>",
            cc="Bo Berg <bo@example.com>",
            msgid="plan-1@example.com",
        )
        answer = make_mail(
            "Re: Rollout plan",
            sender="Bo Berg <bo@example.com>",
            msgid="plan-2@example.com",
            in_reply_to="plan-1@example.com",
            references="<plan-1@example.com>",
            body="Monday is fine.\n",
        )
        with smtplib.SMTP("127.0.0.1", smtp_port) as smtp:
            for raw in (first, answer):
                crlf = raw.replace(b"\n", b"\r\n")
                assert smtp.sendmail("x@example.com", ["eng@lists.example.com"], crlf) == {}
        ((mail_from, rcpts, content),) = wait_for(lambda: handler.received, timeout=60)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
        relay.stop()
    assert "outbound sender to 127.0.0.1" in out
    assert rcpts == ["ana@example.com"]  # Bo wrote it; Ana was not on its To/Cc
    assert mail_from.startswith("bounces+")
    msg = message_from_bytes(content, policy=policy.default)
    assert str(msg["From"]) == "Bo Berg via Engineering <eng@lists.example.com>"
    assert msg["Message-ID"] == "<plan-2@example.com>"
    assert msg["In-Reply-To"] == "<plan-1@example.com>"
    assert str(msg["Reply-To"]).startswith("Engineering <reply+")
    assert msg.get_body(("plain",)).get_content().startswith("Monday is fine.")
