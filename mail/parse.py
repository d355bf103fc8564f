"""Turn the raw bytes of one e-mail into a `ParsedMessage`, never raising.

Real mail is messy: raw UTF-8 in headers (RFC 6532, often without the
`SMTPUTF8` agreement it needs), encoded-words cut in the middle of a character,
`iso-8859-1` labels on Windows text, bodies with no charset at all, path
tricks in attachment names. The parser keeps every character it can and
writes what it had to guess into `defects`. For speed it does not use
`email.policy.default` (about four times slower on kernel mail): it splits the
header section itself, hands only multipart messages to the stdlib's
`compat32` parser, and decodes just the header fields it needs.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import MessageError
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Any, cast

from mail.calendar import CalendarEvent, is_calendar, read_calendar
from mail.charsets import decode_text
from mail.headers import (
    Address,
    clean_text,
    decode_words,
    field_text,
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
from mail.trim import split_reply

MAX_RAW_BYTES = 50 * 1024 * 1024
MAX_MIME_DEPTH = 50
# More parts than any real message has; each costs the stdlib parser a Message object.
MAX_MIME_PARTS = 2000
MAX_FILENAME_CHARS = 255
# Forwarded mail is summarised one level deep: the summary counts its own
# attachments (a forward inside the forward among them) without reading them.
MAX_FORWARD_DEPTH = 1
MAX_NESTED_TEXT_CHARS = 50_000


@dataclass(frozen=True, slots=True)
class ForwardedMessage:
    """A message/rfc822 attachment (forwarded mail) as the reader sees it."""

    from_: Address | None
    to: list[Address]
    cc: list[Address]
    date: datetime | None
    subject: str
    message_id: str | None
    visible_text: str
    attachments: int
    defects: int

    def to_json(self) -> dict[str, Any]:
        return {
            "from": _address_json(self.from_) if self.from_ else None,
            "to": [_address_json(a) for a in self.to],
            "cc": [_address_json(a) for a in self.cc],
            "date": self.date.isoformat() if self.date else None,
            "subject": self.subject,
            "message_id": self.message_id,
            "visible_text": self.visible_text,
            "attachments": self.attachments,
            "defects": self.defects,
        }


@dataclass(slots=True)
class Attachment:
    """A MIME part that is not body text, with its decoded bytes."""

    filename: str | None
    content_type: str
    size: int
    content_id: str | None
    inline: bool
    payload: bytes = field(repr=False)
    # Forwarded mail (message/rfc822), summarised; None for every other part.
    nested: ForwardedMessage | None = None


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
            "from": _address_json(self.from_) if self.from_ else None,
            "to": [_address_json(a) for a in self.to],
            "cc": [_address_json(a) for a in self.cc],
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


def _address_json(address: Address) -> dict[str, str]:
    return {"name": address.name, "address": address.address}


# --- MIME bodies --------------------------------------------------------------

_MIME_FIELDS = ("content-type", "content-transfer-encoding", "content-disposition", "content-id")
_CHARSET_PARAM = re.compile(r"""(?:^|;)\s*charset\s*=\s*["']?([^"';\s]*)""", re.I)
_IDENTITY_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})
_PLACEHOLDER = re.compile(
    r"\bhtml\b.*\b(?:view|read|display|support|client|browser|version|format)|"
    r"\b(?:view|read|display|support|client|browser|version|format).*\bhtml\b",
    re.I | re.S,
)
_BOUNDARY_PARAM = re.compile(rb"boundary\s*=\s*\"?([^\";\r\n]+)", re.I)
_CLOSE_DELIMITER = re.compile(rb"^--(.+?)--[ \t]*\r?$", re.M)


@dataclass(slots=True)
class _Body:
    """Text and attachments gathered from a MIME tree, in reading order."""

    texts: list[tuple[bool, str]] = field(default_factory=list)  # (is_html, content)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    # Inline text/plain parts with a filename: attachments, but the body when
    # nothing else is (Mutt's "attach a file inline" as the only content).
    inline_texts: list[str] = field(default_factory=list)

    def has_plain_text(self) -> bool:
        plain = "".join(text for is_html, text in self.texts if not is_html).strip()
        return bool(plain) and not (len(plain) < 300 and _PLACEHOLDER.search(plain))

    def absorb(self, other: _Body, texts: bool = True) -> None:
        if texts:
            self.texts.extend(other.texts)
            self.html.extend(other.html)
            self.inline_texts.extend(other.inline_texts)
        self.attachments.extend(other.attachments)


class _PartView:
    """The MIME fields of one part, 8-bit values repaired.

    Type, disposition and charset are read directly, as `Message` reads them;
    other parameters (RFC 2231 continuations, filenames) go through the stdlib.
    """

    __slots__ = ("_params", "content_id", "content_type", "disposition", "encoding", "fields")

    def __init__(
        self, items: Iterable[tuple[str, str]], defects: list[str], default_type: str = "text/plain"
    ) -> None:
        fields: dict[str, str] = {}
        for name, value in items:
            lower = name.lower()
            if lower in _MIME_FIELDS and lower not in fields:
                fields[lower] = field_text(name, value, defects)
        self.fields = fields
        self._params: Message | None = None
        self.content_type = default_type
        if "content-type" in fields:
            main = fields["content-type"].split(";", 1)[0].strip().lower()
            # RFC 2045 section 5.2: a malformed type means text/plain.
            self.content_type = main if main.count("/") == 1 else "text/plain"
        disposition = fields.get("content-disposition")
        self.disposition = disposition.split(";", 1)[0].strip().lower() if disposition else None
        self.encoding = fields.get("content-transfer-encoding", "").lower()
        self.content_id = fields.get("content-id", "").strip("<> \t") or None

    @property
    def params(self) -> Message:
        if self._params is None:
            self._params = Message(policy=compat32)
            for name, text in self.fields.items():
                self._params.set_raw(name, text)
        return self._params

    def charset(self) -> str | None:
        value = self.fields.get("content-type", "")
        if "*" in value:  # RFC 2231 parameter syntax: let the stdlib read it
            try:
                return self.params.get_content_charset()
            except (ValueError, LookupError, TypeError):
                # str(bytes, charset) raises on a NUL in the declared charset (found by fuzzing).
                return None
        match = _CHARSET_PARAM.search(value)
        return match.group(1).lower() if match else None

    def filename(self, defects: list[str]) -> str | None:
        if not self._may_have_filename():
            return None
        try:
            name = self.params.get_filename()
        except (ValueError, LookupError, TypeError):
            defects.append("unreadable attachment filename")
            return None
        return safe_filename(decode_words(name, "filename", defects)) if name else None

    def _may_have_filename(self) -> bool:
        found = self.fields.get("content-type", "") + self.fields.get("content-disposition", "")
        return "name" in found.lower()

    def is_body_text(self, top_level: bool) -> bool:
        if self.content_type not in ("text/plain", "text/html"):
            return False
        if top_level:
            return True  # a single-part message's text is its body, whatever it is called
        return self.disposition != "attachment" and not (
            self._may_have_filename() and self.params.get_filename() is not None
        )


_UNSAFE_FILENAME_CHARS = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


_WINDOWS_DEVICE = re.compile(r"(?:con|prn|aux|nul|com\d|lpt\d)(?:\.|$)", re.I)


def safe_filename(name: str) -> str | None:
    """A base name that is safe anywhere: no directories, controls or bidi tricks.

    Right-to-left overrides hide real extensions ("invoice\u202egpj.exe" shows as
    "invoiceexe.jpg"), so format characters go with the controls.
    """
    name = _UNSAFE_FILENAME_CHARS.sub("", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".").strip()
    # Windows drops trailing dots and spaces ("x.exe." runs as x.exe) and treats
    # device names ("CON", "nul.txt") as devices when a reader saves the file.
    name = name.rstrip(". ")
    if not name:
        return None
    if _WINDOWS_DEVICE.match(name):
        name = "_" + name
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: MAX_FILENAME_CHARS - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_FILENAME_CHARS]
    return name


def _nesting_depth(raw: bytes) -> int:
    """Deepest boundary nesting, read from boundary parameters and close delimiters.

    Only consulted when a message declares more boundaries than MAX_MIME_DEPTH,
    so that hostile nesting never reaches the stdlib's recursive parser.
    """
    events = sorted(
        [(m.start(), True, m.group(1).strip()) for m in _BOUNDARY_PARAM.finditer(raw)]
        + [(m.start(), False, m.group(1)) for m in _CLOSE_DELIMITER.finditer(raw)]
    )
    stack: list[bytes] = []
    deepest = 0
    for _, opens, boundary in events:
        if opens:
            stack.append(boundary)
            deepest = max(deepest, len(stack))
        elif boundary in stack:
            del stack[stack.index(boundary) :]
    return deepest


def _part_count(raw: bytes, boundaries: list[bytes]) -> int:
    """Delimiter lines of the declared boundaries: an upper bound on the parts the stdlib makes."""
    names = {b.strip() for b in boundaries if b.strip()}
    if not names:
        return 0
    delimiter = re.compile(rb"^--(" + b"|".join(re.escape(n) for n in names) + rb")", re.M)
    return sum(1 for _ in delimiter.finditer(raw))


class _BodyReader:
    """Walks one message's MIME tree into a `_Body`, recording defects."""

    def __init__(self, defects: list[str]) -> None:
        self.defects = defects

    def read(
        self, part: Message, view: _PartView, depth: int, raw_body: bytes | None = None
    ) -> _Body:
        """`raw_body` is the undecoded body of a single-part message, read without the stdlib."""
        body = _Body()
        if depth > MAX_MIME_DEPTH:
            self.defects.append(f"MIME nesting deeper than {MAX_MIME_DEPTH}: rest not parsed")
            return body
        self._stdlib_defects(part)
        multipart = view.content_type.startswith("multipart/")
        if multipart and part.is_multipart():
            self._multipart(view.content_type, _subparts(part), depth, body)
        elif multipart or view.is_body_text(depth == 0):
            # A multipart without usable boundaries is shown as the text it is.
            self._text(part, view, body, raw_body)
        else:
            attachment = self._attachment(part, view, raw_body)
            body.attachments.append(attachment)
            if view.content_type == "text/plain" and view.disposition == "inline":
                text = decode_text(attachment.payload, view.charset(), self.defects)
                body.inline_texts.append(text)
        return body

    def _multipart(self, subtype: str, parts: list[Message], depth: int, body: _Body) -> None:
        children: list[_Body] = []
        for index, part in enumerate(parts):
            view = _PartView(part.raw_items(), self.defects, part.get_default_type())
            if subtype == "multipart/signed" and index > 0 and not part.is_multipart():
                # RFC 1847: what follows the signed content is the signature.
                body.attachments.append(self._attachment(part, view))
            else:
                children.append(self.read(part, view, depth + 1))
        if subtype == "multipart/alternative":
            self._alternative(children, body)
        else:
            for child in children:
                body.absorb(child)

    def _alternative(self, children: list[_Body], body: _Body) -> None:
        # RFC 2046 section 5.1.4 orders alternatives from plainest to richest;
        # prefer plain text unless it is empty or a "view this in HTML" stub.
        with_html = [c for c in children if c.html]
        richest = with_html[-1] if with_html else None
        plain = next((c for c in children if not c.html and c.has_plain_text()), None)
        chosen = plain or richest or next((c for c in children if c.texts), None)
        for child in children:
            body.absorb(child, texts=child is chosen)
        if richest is not None and richest is not chosen:
            body.html.extend(richest.html)

    def _text(self, part: Message, view: _PartView, body: _Body, raw_body: bytes | None) -> None:
        data = self._payload(part, view, raw_body)
        text = decode_text(data, view.charset(), self.defects)
        is_html = view.content_type == "text/html"
        body.texts.append((is_html, text))
        if is_html:
            body.html.append(text)

    def _payload(self, part: Message, view: _PartView, raw_body: bytes | None = None) -> bytes:
        if part.is_multipart():
            return _serialize_parts(view.content_type, _subparts(part))
        if raw_body is not None and view.encoding in _IDENTITY_ENCODINGS:
            return raw_body
        if raw_body is not None:
            part.set_payload(raw_body.decode("ascii", "surrogateescape"))
        try:
            # compat32 hands back the original bytes for 7bit/8bit/binary and
            # decodes base64, quoted-printable and uuencode leniently.
            data = part.get_payload(decode=True)
        except (ValueError, TypeError, LookupError, binascii.Error):
            data = None
        self._stdlib_defects(part)
        if isinstance(data, bytes):
            return data
        self.defects.append(f"undecodable {view.encoding} payload: kept as is")
        return str(part.get_payload()).encode("utf-8", "surrogateescape")

    def _attachment(
        self, part: Message, view: _PartView, raw_body: bytes | None = None
    ) -> Attachment:
        data = self._payload(part, view, raw_body)
        filename = view.filename(self.defects)
        if view.content_type == "message/rfc822" and filename is None:
            filename = self._forwarded_name(part)
        return Attachment(
            filename=filename,
            content_type=view.content_type,
            size=len(data),
            content_id=view.content_id,
            # RFC 2183 says inline; a part with a Content-ID and no disposition
            # is an image the HTML shows (multipart/related, RFC 2387).
            inline=view.disposition == "inline"
            or (view.disposition is None and view.content_id is not None),
            payload=data,
        )

    def _forwarded_name(self, part: Message) -> str:
        """Forwarded mail is named after its subject, as mail clients save it."""
        subject = ""
        inner = _subparts(part) if part.is_multipart() else []
        if inner and isinstance(inner[0], Message):
            raw_subject = next((v for k, v in inner[0].raw_items() if k.lower() == "subject"), "")
            subject = decode_words(
                field_text("Subject", raw_subject, self.defects), "Subject", self.defects
            )
        # A subject is not a path: "plans/2025" must not lose its first half.
        subject = subject.replace("/", "_").replace("\\", "_").strip()
        return safe_filename(f"{subject or 'forwarded message'}.eml") or "message.eml"

    def _stdlib_defects(self, part: Message) -> None:
        self.defects.extend(type(defect).__name__ for defect in part.defects)
        part.defects.clear()


def _fields_and_payload(message: Message) -> bytes:
    head = "".join(f"{k}: {v}\n" for k, v in message.raw_items())
    payload = message.get_payload()
    body = payload if isinstance(payload, str) else ""
    return (head + "\n" + body).encode("utf-8", "surrogateescape")


def _subparts(part: Message) -> list[Message]:
    """A multipart's parts: the stdlib's payload is this list whenever is_multipart() is true."""
    return cast("list[Message]", part.get_payload())


def _serialize_parts(content_type: str, parts: list[Any]) -> bytes:
    """Bytes of a message/* part: the inner message, or delivery-status blocks (RFC 3464)."""
    messages = [p for p in parts if isinstance(p, Message)]
    if content_type != "message/delivery-status" and messages:
        try:
            return messages[0].as_bytes()
        except (ValueError, TypeError, LookupError, UnicodeError, IndexError, MessageError):
            # The generator refolds headers and refuses some it could read (found by
            # fuzzing: "appears to contain an embedded header"); keep the fields as read.
            return _fields_and_payload(messages[0])
    blocks = ["".join(f"{k}: {v}\n" for k, v in m.raw_items()) for m in messages]
    return "\n".join(blocks).encode("utf-8", "surrogateescape")


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
    view = _PartView(fields, defects)
    reader = _BodyReader(defects)
    if view.content_type.startswith(("multipart/", "message/")):
        boundaries = _BOUNDARY_PARAM.findall(raw)
        if len(boundaries) > MAX_MIME_DEPTH and _nesting_depth(raw) > MAX_MIME_DEPTH:
            message.limit = f"MIME nesting deeper than {MAX_MIME_DEPTH}: body not parsed"
            return
        if raw.count(b"\n--") > MAX_MIME_PARTS and _part_count(raw, boundaries) > MAX_MIME_PARTS:
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
            if name.lower() in _MIME_FIELDS:
                part.set_raw(name, value)
        body = reader.read(part, view, 0, raw_body=body_bytes)
    _fill_text(message, body)


def _fill_text(message: ParsedMessage, body: _Body) -> None:
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
