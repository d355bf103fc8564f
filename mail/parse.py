"""Turn the raw bytes of one e-mail into a `ParsedMessage`, never raising.

Real mail is messy: raw UTF-8 in headers (RFC 6532, often without the
`SMTPUTF8` agreement it needs), encoded-words cut in the middle of a character,
`iso-8859-1` labels on Windows text, bodies with no charset at all, path
tricks in attachment names. The parser keeps every character it can and
writes what it had to guess into `defects`. For speed it does not use
`email.policy.default` (about four times slower on kernel mail): it splits the
header section itself, hands only multipart messages to the stdlib's
`compat32` parser, and decodes just the header fields it needs. The MIME tree is
read by mail/mime.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Any

from mail.calendar import CalendarEvent, is_calendar, read_calendar
from mail.headers import (
    Address,
    clean_text,
    decode_words,
    first_id,
    impersonated_address,
    list_id,
    parse_addresses,
    parse_date,
    parse_msg_ids,
    repair_8bit,
    split_fields,
    split_head,
)
from mail.html import html_to_text, sanitize_html
from mail.mime import (
    BOUNDARY_PARAM,
    MAX_MIME_DEPTH,
    MAX_MIME_PARTS,
    MIME_FIELDS,
    Attachment,
    Body,
    BodyReader,
    ForwardedMessage,
    PartView,
    address_json,
    nesting_depth,
    part_count,
)
from mail.trim import split_reply

MAX_RAW_BYTES = 50 * 1024 * 1024
# Forwarded mail is summarised one level deep: the summary counts its own
# attachments (a forward inside the forward among them) without reading them.
MAX_FORWARD_DEPTH = 1
MAX_NESTED_TEXT_CHARS = 50_000


@dataclass(slots=True)
class ParsedMessage:
    """Everything the bridge uses of one message; `defects` says what was guessed."""

    message_id: str | None = None
    subject: str = ""
    from_: Address | None = None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    date: datetime | None = None
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    thread_index: str | None = None
    list_id: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    html: str | None = None
    visible_text: str = ""
    quoted_text: str = ""
    signature: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    # Calendar invites found among the parts (text/calendar, .ics files).
    events: list[CalendarEvent] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    # Why the parse stopped short (size, header, nesting or part-count cap), or "";
    # the pipeline holds such a message with this reason instead of publishing half of it.
    limit: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (the CLI's `parse` output)."""
        return {
            "message_id": self.message_id,
            "subject": self.subject,
            "from": address_json(self.from_) if self.from_ else None,
            "to": [address_json(a) for a in self.to],
            "cc": [address_json(a) for a in self.cc],
            "date": self.date.isoformat() if self.date else None,
            "in_reply_to": self.in_reply_to[0] if self.in_reply_to else None,
            "references": list(self.references),
            "text": self.text,
            "visible_text": self.visible_text,
            "quoted_text": self.quoted_text,
            "signature": self.signature,
            "from_impersonates": impersonated_address(self.from_) if self.from_ else None,
            "html_sanitized": self.html,
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "inline": a.inline,
                    "sha256": hashlib.sha256(a.payload).hexdigest(),
                    "nested": a.nested.to_json() if a.nested else None,
                }
                for a in self.attachments
            ],
            "events": [e.to_json() for e in self.events],
            "defects": list(self.defects),
            "limit": self.limit or None,
        }


# --- the whole message ----------------------------------------------------------

_PARSER = BytesParser(policy=compat32)
_NEEDED = frozenset(
    {
        "message-id",
        "subject",
        "from",
        "to",
        "cc",
        "reply-to",
        "date",
        "in-reply-to",
        "references",
        "thread-index",
        "list-id",
    }
)


def parse_message(raw: bytes, *, _forward_depth: int = 0) -> ParsedMessage:
    """Parse one message; never raises (a failure becomes a defect)."""
    defects: list[str] = []
    try:
        return _parse(bytes(raw), defects, _forward_depth)
    except (RecursionError, MemoryError) as error:
        reason = f"message too complex to parse: {type(error).__name__}"
        defects.append(reason)
        return ParsedMessage(defects=defects, limit=reason)
    except Exception as error:  # the contract is "never raises"
        defects.append(f"parser error: {type(error).__name__}: {error}")
    return ParsedMessage(defects=defects)


def _parse(raw: bytes, defects: list[str], forward_depth: int = 0) -> ParsedMessage:
    head, body_bytes, complete = split_head(raw, defects)
    fields, early_body = split_fields(head, defects)
    message = ParsedMessage(defects=defects)
    needed = _read_fields(fields, message, defects)
    _fill_envelope(message, needed, defects)
    if len(raw) > MAX_RAW_BYTES:
        message.limit = "message larger than 50 MB: body not parsed"
    elif not complete:
        message.limit = "header section larger than 1 MB: truncated, body not parsed"
    else:
        _fill_body(message, raw, fields, early_body.encode("ascii", "surrogateescape") + body_bytes)
        _fill_parts(message, forward_depth)
    if message.limit:
        defects.append(message.limit)
    message.defects = list(dict.fromkeys(defects))
    return message


def _read_fields(
    fields: list[tuple[str, str]], message: ParsedMessage, defects: list[str]
) -> dict[str, str]:
    """Fill `headers` and return the first value of each field the parser uses."""
    needed: dict[str, str] = {}
    headers = message.headers
    for name, value in fields:
        # field_text inlined: this loop runs for every field of every message.
        if "\n" in value:
            value = value.replace("\n", "")  # every newline here is a fold: RFC 5322 section 2.2.3
        if not value.isascii():
            value = repair_8bit(value, name, defects)
        value = value.strip()
        lower = name.lower()
        if lower in _NEEDED and lower not in needed:
            needed[lower] = value  # still encoded: addresses must be split first
        headers.append((name, decode_words(value, name, defects) if "=?" in value else value))
    return needed


def _fill_envelope(message: ParsedMessage, needed: dict[str, str], defects: list[str]) -> None:
    get = needed.get
    message.message_id = first_id(get("message-id"))
    message.subject = clean_text(decode_words(get("subject", ""), "Subject", defects))
    senders = parse_addresses(get("from", ""), "From", defects)
    message.from_ = senders[0] if senders else None
    message.to = parse_addresses(get("to", ""), "To", defects)
    message.cc = parse_addresses(get("cc", ""), "Cc", defects)
    message.reply_to = parse_addresses(get("reply-to", ""), "Reply-To", defects)
    message.date = parse_date(get("date"), defects)
    message.in_reply_to = parse_msg_ids(get("in-reply-to"))
    message.references = parse_msg_ids(get("references"))
    message.thread_index = get("thread-index") or None
    message.list_id = list_id(get("list-id"))


def _fill_body(
    message: ParsedMessage, raw: bytes, fields: list[tuple[str, str]], body_bytes: bytes
) -> None:
    defects = message.defects
    view = PartView(fields, defects)
    reader = BodyReader(defects)
    if view.content_type.startswith(("multipart/", "message/")):
        boundaries = BOUNDARY_PARAM.findall(raw)
        if len(boundaries) > MAX_MIME_DEPTH and nesting_depth(raw) > MAX_MIME_DEPTH:
            message.limit = f"MIME nesting deeper than {MAX_MIME_DEPTH}: body not parsed"
            return
        if raw.count(b"\n--") > MAX_MIME_PARTS and part_count(raw, boundaries) > MAX_MIME_PARTS:
            message.limit = f"more than {MAX_MIME_PARTS} MIME parts: body not parsed"
            return
        # The stdlib re-reads the header section, but only its MIME fields are used.
        root = _PARSER.parsebytes(raw)
        body = reader.read(root, view, 0)
    else:
        # A single part (most mail): its body bytes go straight to decoding,
        # skipping the feed parser's line-by-line pass over the body.
        part = Message(policy=compat32)
        for name, value in fields:
            if name.lower() in MIME_FIELDS:
                part.set_raw(name, value)
        body = reader.read(part, view, 0, raw_body=body_bytes)
    _fill_text(message, body)


def _fill_text(message: ParsedMessage, body: Body) -> None:
    chosen = body.texts or [(False, text) for text in body.inline_texts]
    texts = [html_to_text(text) if is_html else text for is_html, text in chosen]
    text = "\n\n".join(_normalize_newlines(t).strip("\n") for t in texts if t.strip())
    message.text = text
    message.attachments = body.attachments
    if body.html:
        known = {a.content_id: f"cid:{a.content_id}" for a in body.attachments if a.content_id}
        message.html = sanitize_html("\n".join(body.html), known)
    message.visible_text, message.quoted_text, message.signature = split_reply(text)


def _fill_parts(message: ParsedMessage, forward_depth: int) -> None:
    """Calendar invites and forwarded mail among the attachments, read for display."""
    for index, attachment in enumerate(message.attachments):
        if is_calendar(attachment.content_type, attachment.filename):
            message.events.extend(read_calendar(attachment.payload, message.defects))
        elif attachment.content_type == "message/rfc822" and forward_depth < MAX_FORWARD_DEPTH:
            message.attachments[index].nested = forwarded_summary(
                attachment.payload, forward_depth + 1
            )


def forwarded_summary(raw: bytes, forward_depth: int = 1) -> ForwardedMessage:
    """Who sent the forwarded message, when, its subject, visible text and attachments."""
    inner = parse_message(raw, _forward_depth=forward_depth)
    return ForwardedMessage(
        from_=inner.from_,
        to=inner.to,
        cc=inner.cc,
        date=inner.date,
        subject=inner.subject,
        message_id=inner.message_id,
        visible_text=(inner.visible_text or inner.text)[:MAX_NESTED_TEXT_CHARS],
        attachments=len(inner.attachments),
        defects=len(inner.defects),
    )


def _normalize_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text
