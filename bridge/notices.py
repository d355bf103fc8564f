"""System notices the bridge mails to one person (login links, moderation answers).

The outbound work routes these through the delivery queue and the composer;
until then a notice goes straight into the Maildir outbox (DATA/outbox), which
is where the embedded default delivers all mail.
"""

from __future__ import annotations

import mailbox
import uuid
from email.message import EmailMessage
from email.utils import format_datetime

from bridge.settings import Settings
from threads.models import utcnow


def send_notice(settings: Settings, to: str, subject: str, text: str) -> str:
    """Mail `text` to `to` from the bridge itself; returns the notice's Message-ID."""
    msg = EmailMessage()
    msg["From"] = f"Commons Bridge <bridge@{settings.mail_domain}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    message_id = f"notice-{uuid.uuid4().hex}@{settings.mail_domain}"
    msg["Message-ID"] = f"<{message_id}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    box = mailbox.Maildir(settings.outbox_dir, create=True)
    box.add(msg)
    return message_id
