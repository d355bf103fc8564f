"""The two-way bridge set up for reply tests: a core whose community `eng` has
an archived conversation, the real SMTP listener, a web reply mailed to the
participants, and what the Maildir outbox then holds for each address.

`core` and `smtp_port` here are fixtures for the modules that need this set-up
instead of the plain core of tests/support/fixtures.py; they import them by name.
"""

from __future__ import annotations

import mailbox
import smtplib
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bridge import admin
from bridge.core import Core, open_core
from bridge.outbound.sender import Sender
from bridge.posting import post_reply
from mail.envelope import Envelope
from tests.support.env import settings_for
from tests.support.factories import bridge_listener
from tests.support.messages import conversation
from threads.access import Viewer
from threads.db import writer
from threads.models import Message

DOMAIN = "bridge.example"


# Replies on the web come from a signed-in person (an admin, so any community is open).
EDITOR = Viewer(email="lee@example.com", is_admin=True)


PUBLIC = "https://bridge.example.com"


def open_reply_core(data: Path, **overrides: Any) -> Core:
    """A core with our mail domain, public URL, trusted authentication server and
    community `eng`; `overrides` are further settings a module's tests need."""
    c = open_core(
        settings_for(
            data,
            mail_domain=DOMAIN,
            public_url=PUBLIC,
            trusted_authserv_ids=["mx.example.com"],
            **overrides,
        )
    )
    with writer(c.engine).begin() as conn:
        admin.add_community(conn, "eng", "Engineering", addresses=["eng@lists.example.com"])
    return c


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    c = open_reply_core(tmp_path / "data")
    yield c
    c.close()


@pytest.fixture
def smtp_port(core: Core) -> Iterator[int]:
    """The real listener on a free loopback port, wired as `bridge serve` wires it."""
    with bridge_listener(core, DOMAIN) as port:
        yield port


def archived_thread(core: Core, source: str = "import") -> int:
    """A three-message conversation in `eng` (imported by default: no mail goes out for
    history); its thread id."""
    ids = [
        core.inbox.accept(raw, Envelope(source, community_hint="eng")).raw_id
        for raw in conversation(3)
    ]
    core.pipeline.run(ids)
    with core.engine.connect() as conn:
        return conn.execute(select(Message.thread_id).limit(1)).scalar_one()


def outbox(core: Core) -> list[EmailMessage]:
    box = mailbox.Maildir(core.settings.outbox_dir, create=True)
    return [message_from_bytes(bytes(m), policy=policy.default) for m in box]  # type: ignore[misc]


def mail_to(core: Core, address: str) -> list[EmailMessage]:
    return [m for m in outbox(core) if m["To"].addresses[0].addr_spec == address]


def send(port: int, msg: EmailMessage, rcpt: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.send_message(msg, from_addr=msg["From"].addresses[0].addr_spec, to_addrs=[rcpt])


def web_reply_mailed(core: Core) -> tuple[int, int]:
    thread_id = archived_thread(core)
    pk = post_reply(core, EDITOR, thread_id, "Agreed, ship it on Monday.\n", name="Local Admin")
    report = Sender(core.engine, core.settings).run_once()
    assert report.composed == 5
    assert report.sent == 5
    return thread_id, pk
