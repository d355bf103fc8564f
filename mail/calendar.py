"""Calendar invites (RFC 5545 iCalendar, RFC 5546 iTIP) as a short event summary.

Outlook and Google send a meeting as a `text/calendar` part (in the
multipart/alternative beside the text, or as `invite.ics`); readers of a
thread want "what, when, where, who invited, and is it on or cancelled", not
the raw file. This reads only what that summary needs, by hand rather than
with a full iCalendar library: content lines unfolded, parameters with quoted
values, text escapes, and DTSTART/DTEND as UTC, floating, date-only or with a
TZID. A TZID that is an IANA name gets its UTC offset; Outlook's Windows zone
names ("W. Europe Standard Time") are mapped for the common zones, and any
other TZID is kept as written beside the local time. Recurrence rules are
passed on as written (RRULE), not expanded. Never raises; malformed lines are
skipped and recorded as defects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mail.charsets import decode_text
from mail.headers import Address, normalize_address

# One calendar part bigger than this is not an invite anyone wrote by hand.
MAX_CALENDAR_BYTES = 1024 * 1024
MAX_EVENTS = 20
MAX_TEXT_CHARS = 2000

CALENDAR_TYPES = frozenset({"text/calendar", "application/ics", "text/x-vcalendar"})


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """One VEVENT of an invite. Times are ISO 8601: with an offset when it is known."""

    method: str | None  # REQUEST, CANCEL, REPLY, PUBLISH... (iTIP, RFC 5546)
    summary: str
    start: str | None
    end: str | None
    timezone: str | None  # the TZID as sent, "UTC", or None for floating/all-day times
    all_day: bool
    location: str
    organizer: Address | None
    status: str | None  # CONFIRMED, TENTATIVE, CANCELLED
    uid: str | None
    recurrence: str | None  # the RRULE as written
    attendees: int

    @property
    def cancelled(self) -> bool:
        return self.method == "CANCEL" or self.status == "CANCELLED"

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "summary": self.summary,
            "start": self.start,
            "end": self.end,
            "timezone": self.timezone,
            "all_day": self.all_day,
            "location": self.location,
            "organizer": (
                {"name": self.organizer.name, "address": self.organizer.address}
                if self.organizer
                else None
            ),
            "status": self.status,
            "cancelled": self.cancelled,
            "uid": self.uid,
            "recurrence": self.recurrence,
            "attendees": self.attendees,
        }


def is_calendar(content_type: str, filename: str | None) -> bool:
    return content_type in CALENDAR_TYPES or (
        filename is not None and filename.lower().endswith((".ics", ".vcs"))
    )


@dataclass(slots=True)
class _Line:
    name: str
    params: dict[str, str]
    value: str


_UNFOLD = re.compile(r"\r?\n[ \t]")
_TEXT_ESCAPE = re.compile(r"\\(.)", re.S)
_DATE_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})?(Z)?)?")


def read_calendar(
    data: bytes, defects: list[str], charset: str | None = None
) -> list[CalendarEvent]:
    """The events of one iCalendar object; [] when it holds none or cannot be read."""
    if len(data) > MAX_CALENDAR_BYTES:
        defects.append("calendar part larger than 1 MB: not read")
        return []
    # RFC 5545 section 3.1.4: UTF-8 unless the part says otherwise.
    text = decode_text(data, charset or "utf-8", defects)
    method: str | None = None
    stack: list[str] = []
    current: list[_Line] | None = None
    events: list[CalendarEvent] = []
    for raw_line in _UNFOLD.sub("", text).splitlines():
        if not raw_line.strip():
            continue
        line = _content_line(raw_line)
        if line is None:
            defects.append("unreadable calendar line")
            continue
        if line.name == "BEGIN":
            stack.append(line.value.upper())
            if stack == ["VCALENDAR", "VEVENT"] or stack == ["VEVENT"]:
                current = []
        elif line.name == "END":
            if stack and stack[-1] == "VEVENT" and current is not None and len(stack) <= 2:
                if len(events) < MAX_EVENTS:
                    events.append(_event(current, method))
                current = None
            if stack:
                stack.pop()
        elif line.name == "METHOD" and stack == ["VCALENDAR"]:
            method = line.value.strip().upper() or None
        elif current is not None and stack and stack[-1] == "VEVENT":
            current.append(line)  # not VALARM's properties: those describe the reminder
    # An iTIP method applies to every event; the one read after them still counts.
    return [_with_method(e, method) for e in events]


def _with_method(event: CalendarEvent, method: str | None) -> CalendarEvent:
    if event.method == method:
        return event
    return CalendarEvent(
        method,
        event.summary,
        event.start,
        event.end,
        event.timezone,
        event.all_day,
        event.location,
        event.organizer,
        event.status,
        event.uid,
        event.recurrence,
        event.attendees,
    )


def _content_line(line: str) -> _Line | None:
    """name *(";" param) ":" value (RFC 5545 section 3.1); quoted values may hold : and ;."""
    quoted = False
    cut = -1
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            cut = index
            break
    if cut <= 0:
        return None
    head, value = line[:cut], line[cut + 1 :]
    name, *raw_params = _split_params(head)
    params: dict[str, str] = {}
    for raw in raw_params:
        key, equals, param = raw.partition("=")
        if equals:
            params[key.strip().upper()] = param.strip().strip('"')
    return _Line(name.strip().upper(), params, value)


def _split_params(head: str) -> list[str]:
    parts: list[str] = []
    quoted = False
    start = 0
    for index, char in enumerate(head):
        if char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            parts.append(head[start:index])
            start = index + 1
    parts.append(head[start:])
    return parts


def _event(lines: list[_Line], method: str | None) -> CalendarEvent:
    first: dict[str, _Line] = {}
    attendees = 0
    for line in lines:
        first.setdefault(line.name, line)
        attendees += line.name == "ATTENDEE"
    start, timezone, all_day = _when(first.get("DTSTART"))
    end, end_zone, _ = _when(first.get("DTEND"))
    status = first.get("STATUS")
    uid = first.get("UID")
    rrule = first.get("RRULE")
    return CalendarEvent(
        method=method,
        summary=_text(first.get("SUMMARY")),
        start=start,
        end=end,
        timezone=timezone or end_zone,
        all_day=all_day,
        location=_text(first.get("LOCATION")),
        organizer=_organizer(first.get("ORGANIZER")),
        status=status.value.strip().upper() or None if status else None,
        uid=uid.value.strip()[:500] or None if uid else None,
        recurrence=rrule.value.strip()[:500] or None if rrule else None,
        attendees=attendees,
    )


def _text(line: _Line | None) -> str:
    if line is None:
        return ""
    # RFC 5545 section 3.3.11: \n and \N are newlines, \\ \; \, the characters.
    value = _TEXT_ESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), line.value)
    return value.strip()[:MAX_TEXT_CHARS]


def _organizer(line: _Line | None) -> Address | None:
    if line is None:
        return None
    address = line.value.strip()
    if address.lower().startswith("mailto:"):
        address = address[7:]
    name = line.params.get("CN", "")
    if not (address or name):
        return None
    return Address(name[:200], normalize_address(address[:320]))


def _when(line: _Line | None) -> tuple[str | None, str | None, bool]:
    """(ISO time, time zone name, all day) of a DTSTART/DTEND line."""
    if line is None:
        return None, None, False
    match = _DATE_TIME.match(line.value.strip())
    if match is None:
        return None, None, False
    year, month, day, hour, minute, second, utc = match.groups()
    try:
        if hour is None or line.params.get("VALUE", "").upper() == "DATE":
            return date(int(year), int(month), int(day)).isoformat(), None, True
        when = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    except ValueError:
        return None, None, False
    if utc:
        return when.replace(tzinfo=UTC).isoformat(), "UTC", False
    tzid = line.params.get("TZID", "").strip()[:100] or None
    zone = _zone(tzid) if tzid else None
    if zone is not None:
        try:
            return when.replace(tzinfo=zone).isoformat(), tzid, False
        except (OverflowError, ValueError):
            pass
    return when.isoformat(), tzid, False


# Outlook writes Windows time zone names as TZIDs; the most common ones, after
# the Unicode CLDR windowsZones table ("001" territory).
_WINDOWS_ZONES = {
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev",
    "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "Pacific Standard Time": "America/Los_Angeles",
    "India Standard Time": "Asia/Calcutta",
    "China Standard Time": "Asia/Shanghai",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Singapore Standard Time": "Asia/Singapore",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "E. South America Standard Time": "America/Sao_Paulo",
    "UTC": "UTC",
}


@lru_cache(maxsize=256)
def _zone(tzid: str) -> ZoneInfo | None:
    name = _WINDOWS_ZONES.get(tzid, tzid)
    # Some clients write "/mozilla.org/20050126_1/Europe/Berlin"; keep the IANA tail.
    if name.count("/") > 1:
        name = "/".join(name.strip("/").split("/")[-2:])
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
