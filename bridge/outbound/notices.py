"""System notices the bridge mails to one person (login links, moderation answers).

A notice is composed like every other message we send (mail/compose.py: our
own From, Auto-Submitted, the loop mark) and queued in the outbound queue
(bridge/outbound/sender.py), so a relay that is down delays it instead of losing it.
With no relay configured (the embedded default) it is written into the
Maildir outbox at once, so a login link is there when the person looks.

`send_notice` opens its own short write transaction: call it outside any
other write transaction of the caller's (on SQLite the two would wait for
each other until the busy timeout).
"""

from __future__ import annotations

from sqlalchemy import Engine

from bridge.outbound.sender import Sender, queue_notice
from bridge.settings import Settings
from mail.compose import ENGLISH, Language
from threads.db import make_engine


def send_notice(
    settings: Settings, to: str, subject: str, text: str, language: Language = ENGLISH
) -> str:
    """Mail `text` (written in `language`) to `to` from the bridge itself; returns the
    notice's Message-ID."""
    engine = make_engine(settings.effective_database_url)
    try:
        mail_id, message_id = queue_notice(engine, settings, to, subject, text, language)
        deliver_if_local(engine, settings, mail_id)
    finally:
        engine.dispose()
    return message_id


def deliver_if_local(engine: Engine, settings: Settings, mail_id: int) -> None:
    """Write a queued notice into the outbox now when there is no relay.

    The outbox is local and instant; a relay is left to the sender role,
    which retries with backoff (a web request must not wait on a relay).
    """
    if not settings.smtp_relay:
        Sender(engine, settings).deliver_due(only=[mail_id])
