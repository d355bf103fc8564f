"""One message's MIME tree read into body text, HTML and attachments, never raising.

The limits that keep a hostile message cheap (nesting, part count, filename length)
live here; a part the stdlib cannot read becomes a defect, not an error.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import MessageError
from email.message import Message
from email.policy import compat32
from typing import Any, cast

from mail.charsets import decode_text
from mail.headers import (
    Address,
    decode_words,
    field_text,
)

MAX_MIME_DEPTH = 50
# More parts than any real message has; each costs the stdlib parser a Message object.
MAX_MIME_PARTS = 2000
MAX_FILENAME_CHARS = 255


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
            "from": address_json(self.from_) if self.from_ else None,
            "to": [address_json(a) for a in self.to],
            "cc": [address_json(a) for a in self.cc],
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


def address_json(address: Address) -> dict[str, str]:
    return {"name": address.name, "address": address.address}


# --- MIME bodies --------------------------------------------------------------

MIME_FIELDS = ("content-type", "content-transfer-encoding", "content-disposition", "content-id")
_CHARSET_PARAM = re.compile(r"""(?:^|;)\s*charset\s*=\s*["']?([^"';\s]*)""", re.I)
_IDENTITY_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})
_PLACEHOLDER = re.compile(
    r"\bhtml\b.*\b(?:view|read|display|support|client|browser|version|format)|"
    r"\b(?:view|read|display|support|client|browser|version|format).*\bhtml\b",
    re.I | re.S,
)
BOUNDARY_PARAM = re.compile(rb"boundary\s*=\s*\"?([^\";\r\n]+)", re.I)
_CLOSE_DELIMITER = re.compile(rb"^--(.+?)--[ \t]*\r?$", re.M)


@dataclass(slots=True)
class Body:
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

    def absorb(self, other: Body, texts: bool = True) -> None:
        if texts:
            self.texts.extend(other.texts)
            self.html.extend(other.html)
            self.inline_texts.extend(other.inline_texts)
        self.attachments.extend(other.attachments)


class PartView:
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
            if lower in MIME_FIELDS and lower not in fields:
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


def nesting_depth(raw: bytes) -> int:
    """Deepest boundary nesting, read from boundary parameters and close delimiters.

    Only consulted when a message declares more boundaries than MAX_MIME_DEPTH,
    so that hostile nesting never reaches the stdlib's recursive parser.
    """
    events = sorted(
        [(m.start(), True, m.group(1).strip()) for m in BOUNDARY_PARAM.finditer(raw)]
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


def part_count(raw: bytes, boundaries: list[bytes]) -> int:
    """Delimiter lines of the declared boundaries: an upper bound on the parts the stdlib makes."""
    names = {b.strip() for b in boundaries if b.strip()}
    if not names:
        return 0
    delimiter = re.compile(rb"^--(" + b"|".join(re.escape(n) for n in names) + rb")", re.M)
    return sum(1 for _ in delimiter.finditer(raw))


class BodyReader:
    """Walks one message's MIME tree into a `Body`, recording defects."""

    def __init__(self, defects: list[str]) -> None:
        self.defects = defects

    def read(
        self, part: Message, view: PartView, depth: int, raw_body: bytes | None = None
    ) -> Body:
        """`raw_body` is the undecoded body of a single-part message, read without the stdlib."""
        body = Body()
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

    def _multipart(self, subtype: str, parts: list[Message], depth: int, body: Body) -> None:
        children: list[Body] = []
        for index, part in enumerate(parts):
            view = PartView(part.raw_items(), self.defects, part.get_default_type())
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

    def _alternative(self, children: list[Body], body: Body) -> None:
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

    def _text(self, part: Message, view: PartView, body: Body, raw_body: bytes | None) -> None:
        data = self._payload(part, view, raw_body)
        text = decode_text(data, view.charset(), self.defects)
        is_html = view.content_type == "text/html"
        body.texts.append((is_html, text))
        if is_html:
            body.html.append(text)

    def _payload(self, part: Message, view: PartView, raw_body: bytes | None = None) -> bytes:
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
        self, part: Message, view: PartView, raw_body: bytes | None = None
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
