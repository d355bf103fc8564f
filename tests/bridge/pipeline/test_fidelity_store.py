"""What the parser keeps for display reaches the database: events, forwards, limits, flags."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from bridge.core import open_core
from bridge.pipeline import steps
from bridge.settings import Settings
from mail.parse import parse_message
from tests.support.env import settings_for
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from tests.support.paths import MAIL_SAMPLES
from threads.models import Attachment, Message, RawState

SAMPLES = MAIL_SAMPLES


def _messages(core) -> list[Message]:
    with core.engine.connect() as conn:
        return list(conn.execute(select(Message).where(Message.placeholder.is_(False))).all())


def _attachments(core) -> list[Attachment]:
    with core.engine.connect() as conn:
        return list(conn.execute(select(Attachment).order_by(Attachment.id)).all())


def test_calendar_invite_is_stored_as_events(core) -> None:
    """A meeting request's event summary is kept on the message for the web to show."""
    create_community(core)
    (outcome,) = deliver(core, (SAMPLES / "0041-outlook-meeting-request.eml").read_bytes())
    assert outcome.state == RawState.done
    (message,) = _messages(core)
    (event,) = message.events
    assert event["method"] == "REQUEST"
    assert event["summary"] == "Quarterly planning, Q2 – budget ; roadmap"
    assert event["start"] == "2026-03-10T14:00:00+01:00"
    assert message.from_impersonates is None


def test_forwarded_message_summary_is_stored_on_its_attachment(core) -> None:
    """message/rfc822: the attachment row carries the forwarded message's summary."""
    create_community(core)
    raw = (SAMPLES / "0011-forwarded-message-rfc822.eml").read_bytes()
    (outcome,) = deliver(core, raw, rcpt=("eng@lists.example.com",))
    assert outcome.state == RawState.done
    (attachment,) = _attachments(core)
    assert attachment.nested["subject"] == "Old thread: plans/2025"
    assert attachment.nested["from"] == {"name": "Ben Ortiz", "address": "ben@example.org"}
    assert (attachment.stored, attachment.note) == (True, "")


def test_impersonating_display_name_is_stored(core) -> None:
    """A From display name that claims another address is flagged on the message."""
    create_community(core)
    deliver(core, make_mail(sender='"ceo@example.com" <x@attacker.example>'))
    (message,) = _messages(core)
    assert message.from_impersonates == "ceo@example.com"


def _with_attachments(*sizes: int) -> bytes:
    m = EmailMessage()
    m["From"] = "Ana Lima <ana@example.com>"
    m["To"] = "eng@lists.example.com"
    m["Subject"] = "Files"
    m["Message-ID"] = "<files@example.com>"
    m.set_content("Files attached.")
    for index, size in enumerate(sizes):
        data = bytes([65 + index]) * size
        m.add_attachment(data, maintype="application", subtype="octet-stream", filename=f"f{index}")
    return bytes(m)


def test_attachments_over_the_limits_are_listed_not_stored(tmp_path: Path) -> None:
    """Per attachment and per message: over-limit files get a note, no file on disk."""
    core = open_core(
        settings_for(
            tmp_path / "data", attachment_max_bytes=2000, message_attachments_max_bytes=250
        )
    )
    try:
        create_community(core)
        (outcome,) = deliver(core, _with_attachments(100, 3000, 200))
        assert outcome.state == RawState.done
        rows = _attachments(core)
        assert [(a.filename, a.size, a.stored) for a in rows] == [
            ("f0", 100, True),
            ("f1", 3000, False),
            ("f2", 200, False),
        ]
        assert rows[1].note == "not stored: 2.9 KB is over the limit of 2.0 KB per attachment"
        assert rows[2].note == (
            "not stored: the message's attachments are over the limit of 250 bytes in all"
        )
        on_disk = {p.name for p in core.settings.attachments_dir.rglob("*") if p.is_file()}
        assert on_disk == {rows[0].sha256}
    finally:
        core.close()


def test_attachment_notes_are_pure_and_ordered() -> None:
    """The first attachments that fit are kept; a zero limit stores nothing."""
    parsed = parse_message(_with_attachments(10, 10, 10))
    config = Settings(attachment_max_bytes=10, message_attachments_max_bytes=20).pipeline
    assert steps.attachment_notes(config, parsed.attachments)[:2] == ["", ""]
    assert steps.attachment_notes(config, parsed.attachments)[2].startswith("not stored")
    nothing = Settings(attachment_max_bytes=0).pipeline
    assert all(steps.attachment_notes(nothing, parsed.attachments))
