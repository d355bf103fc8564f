"""Calendar invites read into an event summary, and forwarded mail into a nested message."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mail.calendar import read_calendar
from mail.headers import Address
from mail.parse import parse_message
from tests.support.paths import MAIL_SAMPLES

SAMPLES = MAIL_SAMPLES


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_outlook_meeting_request_in_alternative() -> None:
    """Outlook's text/calendar alternative: summary, Windows zone with offset, organizer."""
    parsed = parse_message(sample("0041-outlook-meeting-request.eml"))
    assert parsed.text == "Let us plan the next quarter together."
    (event,) = parsed.events
    assert event.method == "REQUEST"
    assert event.summary == "Quarterly planning, Q2 – budget ; roadmap"
    assert (event.start, event.end) == ("2026-03-10T14:00:00+01:00", "2026-03-10T15:30:00+01:00")
    assert event.timezone == "W. Europe Standard Time"
    assert event.location == "Room 4.12 \n(second floor)"
    assert event.organizer == Address("Lima, Ana", "ana@example.com")
    assert (event.status, event.cancelled, event.attendees) == ("CONFIRMED", False, 2)
    assert parsed.defects == []


def test_ics_attachment_cancel_with_utc_and_all_day_events() -> None:
    """A CANCEL .ics attachment: every event is cancelled; UTC and all-day times."""
    parsed = parse_message(sample("0042-ics-attachment-cancel.eml"))
    standup, offsite = parsed.events
    assert (standup.method, standup.cancelled, standup.timezone) == ("CANCEL", True, "UTC")
    assert standup.start == "2026-03-11T08:30:00+00:00"
    assert standup.recurrence == "FREQ=WEEKLY;BYDAY=WE"
    assert (offsite.start, offsite.end, offsite.all_day) == ("2026-04-01", "2026-04-03", True)
    assert offsite.cancelled  # the method applies to the whole object
    assert parsed.attachments[0].filename == "invite.ics"  # still downloadable as sent
    assert parsed.to_json()["events"][0]["summary"] == "Team stand-up"


def test_iana_and_unknown_time_zones() -> None:
    """An IANA TZID gets its offset; an unknown one is named beside the local time."""
    ics = (
        b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:A\nDTSTART;TZID=Europe/Berlin:20260701T100000\n"
        b"DTEND;TZID=Custom Zone 7:20260701T110000\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    (event,) = read_calendar(ics, [])
    assert event.start == "2026-07-01T10:00:00+02:00"
    assert event.end == "2026-07-01T11:00:00"
    assert event.method is None


def test_malformed_calendar_is_read_as_far_as_it_goes() -> None:
    """Junk lines, bad dates and an unterminated event: no exception, defects noted."""
    defects: list[str] = []
    ics = b"BEGIN:VCALENDAR\nnonsense\nBEGIN:VEVENT\nDTSTART:20261340T999999\nSUMMARY:x\n"
    assert read_calendar(ics, defects) == []
    assert "unreadable calendar line" in defects
    (event,) = read_calendar(ics + b"END:VEVENT\n", [])
    assert (event.summary, event.start) == ("x", None)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_random_calendar_bytes_never_raise(data: bytes) -> None:
    """Any bytes in a calendar part give a list of events, never an exception."""
    for event in read_calendar(b"BEGIN:VCALENDAR\nBEGIN:VEVENT\n" + data, []):
        assert isinstance(event.summary, str)


def test_forwarded_message_is_summarised() -> None:
    """message/rfc822: sender, recipients, subject and text of the forwarded mail."""
    parsed = parse_message(sample("0011-forwarded-message-rfc822.eml"))
    (attachment,) = parsed.attachments
    nested = attachment.nested
    assert nested is not None
    assert nested.from_ == Address("Ben Ortiz", "ben@example.org")
    assert nested.to == [Address("Ana Lima", "ana@example.com")]
    assert (nested.subject, nested.visible_text, nested.attachments) == (
        "Old thread: plans/2025",
        "The old content.",
        0,
    )
    assert parsed.to_json()["attachments"][0]["nested"]["subject"] == "Old thread: plans/2025"


def test_forwards_inside_forwards_are_counted_not_read() -> None:
    """A forward of a forward of ...: the outer forward is summarised, deeper ones counted."""
    raw = b"From: a@example.com\nSubject: level 9\n\nbottom\n"
    for level in range(8, -1, -1):
        raw = (
            (
                f"From: a@example.com\nSubject: level {level}\nMIME-Version: 1.0\n"
                f'Content-Type: multipart/mixed; boundary="b{level}"\n\n'
                f"--b{level}\nContent-Type: text/plain\n\ntext {level}\n"
                f"--b{level}\nContent-Type: message/rfc822\n\n"
            ).encode()
            + raw
            + f"\n--b{level}--\n".encode()
        )
    parsed = parse_message(raw)
    nested = parsed.attachments[0].nested
    assert nested is not None
    assert (nested.subject, nested.visible_text, nested.attachments) == ("level 1", "text 1", 1)
