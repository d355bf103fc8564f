"""Factories for test data: defaults that work, overrides for what a test is about."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bridge import admin
from bridge.core import Core
from mail.envelope import Envelope
from threads.db import writer
from threads.store import Letter

if TYPE_CHECKING:
    from mail.smtp import Limits


def create_community(core: Core, **overrides: Any) -> int:
    fields: dict[str, Any] = {
        "slug": "eng",
        "name": "Engineering",
        "visibility": "org",
        "description": "",
        "addresses": ["eng@lists.example.com"],
    }
    fields.update(overrides)
    with writer(core.engine).begin() as conn:
        return admin.add_community(conn, **fields)


def deliver(
    core: Core, *raws: bytes, source: str = "smtp", rcpt: tuple[str, ...] = ()
) -> list[Any]:
    """Accept messages as an intake adapter would, then run the pipeline on them."""
    receipts = [
        core.inbox.accept(raw, Envelope(source=source, mail_from="", rcpt_to=rcpt)) for raw in raws
    ]
    return core.pipeline.run([r.raw_id for r in receipts if not r.duplicate])


@contextmanager
def bridge_listener(
    core: Core, domain: str, limits: Limits | None = None, observer: Any = None
) -> Iterator[int]:
    """The real SMTP listener on a free loopback port, wired as `bridge serve` wires it:
    the bridge's own reply/bounce addresses at `domain`, then the route table (and the
    metrics' `observer`, if given)."""
    from bridge.recipients import AnyOf, OwnAddresses, RoutedRecipients
    from mail.smtp import SMTPListener
    from tests.support.net import free_port

    port = free_port()
    listener = SMTPListener(
        core.inbox,
        AnyOf(OwnAddresses(domain, core.settings.secret_key), RoutedRecipients(core.engine)),
        hostname="127.0.0.1",
        port=port,
        server_hostname=domain,
        limits=limits,
        observer=observer,
    )
    listener.start()
    try:
        yield port
    finally:
        listener.stop()


def make_letter(**fields: Any) -> Letter:
    """A Letter as filing gets it, empty where the test does not say otherwise."""
    empty: dict[str, Any] = {
        "message_id": "letter@example.com",
        "in_reply_to": (),
        "references": (),
        "thread_index": None,
        "subject": "",
        "from_name": "",
        "from_addr": "",
        "to": [],
        "cc": [],
        "date": None,
        "visible_text": "",
        "quoted_text": "",
        "signature": "",
        "html": None,
        "auto_reply": False,
        "sensitivity": None,
        "attachment_count": 0,
    }
    return Letter(**{**empty, **fields})
