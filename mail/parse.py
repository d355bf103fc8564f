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

import base64
import binascii
import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

from mail.html import html_to_text, sanitize_html
from mail.trim import split_reply

MAX_RAW_BYTES = 50 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024
MAX_MIME_DEPTH = 50
MAX_FILENAME_CHARS = 255

_CP1252 = "windows-1252"
_FALLBACK_ERRORS = "commons-bridge-cp1252"


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: display name and address (domain lower-cased, local part as sent)."""

    name: str
    address: str


@dataclass(slots=True)
class Attachment:
    """A MIME part that is not body text, with its decoded bytes."""

    filename: str | None
    content_type: str
    size: int
    content_id: str | None
    inline: bool
    payload: bytes = field(repr=False)


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
    defects: list[str] = field(default_factory=list)

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
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": a.size}
                for a in self.attachments
            ],
            "defects": list(self.defects),
        }


def _address_json(address: Address) -> dict[str, str]:
    return {"name": address.name, "address": address.address}


# --- charsets ---------------------------------------------------------------

# The WHATWG Encoding Standard's windows-1252 maps the five bytes Microsoft
# left undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) to the C1 controls of the same
# value; Python's cp1252 refuses them. Doing the same never loses a byte.
_CP1252_TABLE = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))


def decode_cp1252(data: bytes) -> str:
    """Decode as windows-1252 the way browsers do: every byte becomes a character."""
    return codecs.charmap_decode(data, "strict", _CP1252_TABLE)[0]


def _cp1252_error_handler(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return decode_cp1252(exc.object[exc.start : exc.end]), exc.end


codecs.register_error(_FALLBACK_ERRORS, _cp1252_error_handler)

# Labels mail clients use that mean a superset in practice, as the WHATWG
# Encoding Standard maps them: an "iso-8859-1" message from Windows carries
# curly quotes and euro signs in 0x80-0x9F, which only windows-1252 defines.
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "cp819": "cp1252",
    "ibm819": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gbk",
    "x-gbk": "gbk",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "big5": "big5hkscs",
}
# Codecs that accept bytes but are not charsets a message can legitimately
# declare; "charset=unicode_escape" must not run Python's escape decoder.
_NOT_CHARSETS = frozenset({"idna", "punycode", "raw_unicode_escape", "unicode_escape", "undefined"})
# Charsets whose text can be pure 7-bit but still needs the codec to decode.
_SEVEN_BIT_SPECIAL = ("utf_7", "iso2022", "hz", "utf_16", "utf_32")
_ASCII_LABELS = frozenset({"us-ascii", "ascii", "us", "ansi_x3.4-1968", "iso646-us", "7bit"})


@lru_cache(maxsize=256)
def resolve_charset(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when unknown or merely ASCII."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if not name or name in _ASCII_LABELS:
        return None
    name = _CHARSET_ALIASES.get(name, name)
    try:
        codec = codecs.lookup(name).name.replace("-", "_")
    except (LookupError, ValueError):
        return None
    return None if codec in _NOT_CHARSETS or codec.startswith("rot") else codec


def decode_text(data: bytes, label: str | None, defects: list[str]) -> str:
    """Decode body text with its declared charset, repairing what real mail gets wrong."""
    codec = resolve_charset(label)
    if codec is not None and codec.startswith(_SEVEN_BIT_SPECIAL):
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            defects.append(f"text not valid {label}: read as utf-8")
            return data.decode("utf-8", _FALLBACK_ERRORS)
    if data.isascii():
        return data.decode("ascii")
    if codec is None:
        return _decode_undeclared(data, label, defects)
    if codec == "cp1252":
        return _decode_windows(data, label, defects)
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        pass
    if codec == "utf_8":
        fixed, how = _utf8_or_windows(data)
        defects.append(f"text not valid {label}: read as {how}")
        return fixed
    # Mislabelled mail is usually UTF-8; otherwise keep the declared charset
    # for what it can read and the stray bytes as windows-1252, losing nothing.
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        defects.append(f"text not valid {label}: invalid bytes read as windows-1252")
        return data.decode(codec, _FALLBACK_ERRORS)
    defects.append(f"charset {label!r} mislabelled: text is utf-8")
    return text


def _decode_undeclared(data: bytes, label: str | None, defects: list[str]) -> str:
    fixed, how = _utf8_or_windows(data)
    if label and label.strip().lower() not in _ASCII_LABELS:
        defects.append(f"charset {label!r} replaced by {how}")
    else:
        defects.append(f"undeclared 8-bit text read as {how}")
    return fixed


def _decode_windows(data: bytes, label: str | None, defects: list[str]) -> str:
    # A latin-1 label on text that is valid UTF-8 with multi-byte sequences is a
    # mislabel (git send-email and some MUAs do this); genuine latin-1 prose
    # practically never forms valid UTF-8 sequences ("Ã©" pairs).
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if label and label.strip().lower() not in ("windows-1252", "cp1252"):
            defects.append(f"charset {label!r} read as windows-1252")
        return decode_cp1252(data)
    defects.append(f"charset {label!r} mislabelled: text is utf-8")
    return text


def _utf8_or_windows(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _looks_mostly_utf8(data):
        return data.decode("utf-8", _FALLBACK_ERRORS), "utf-8 with windows-1252 for invalid bytes"
    return decode_cp1252(data), _CP1252


_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")


def _looks_mostly_utf8(data: bytes) -> bool:
    """True when most 8-bit bytes form UTF-8 sequences (mixed-encoding text)."""
    sequences = _UTF8_SEQUENCE.findall(data)
    covered = sum(len(s) for s in sequences)
    return covered * 2 > len(_HIGH_BYTE.findall(data))


# --- header fields ------------------------------------------------------------

_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")
_FIELD_BREAK = re.compile(r"\n(?![ \t])")
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?(.*?)\?=", re.S)
_BLANK = re.compile(r"\s*")


def _split_head(raw: bytes, defects: list[str]) -> tuple[bytes, bytes, bool]:
    """Header section, body, and whether the header section was small enough to read whole."""
    if raw.startswith((b"\n", b"\r\n")):
        return b"", raw[raw.index(b"\n") + 1 :], True
    # An empty line ends the header section: "\n\n", "\r\n\r\n" or a mix of both.
    end = raw.find(b"\n\n", 0, MAX_HEADER_BYTES)
    crlf = raw.find(b"\n\r\n", 0, MAX_HEADER_BYTES if end < 0 else end)
    if crlf >= 0 or end >= 0:
        end = crlf if crlf >= 0 else end
        body_start = end + (3 if crlf == end else 2)
        return raw[: end - 1 if raw[end - 1 : end] == b"\r" else end], raw[body_start:], True
    if len(raw) <= MAX_HEADER_BYTES:
        return raw, b"", True
    defects.append("header section larger than 1 MB: truncated, body not parsed")
    return raw[: max(raw.rfind(b"\n", 0, MAX_HEADER_BYTES), 0)], b"", False


def split_fields(head: bytes, defects: list[str]) -> tuple[list[tuple[str, str]], str]:
    """Header fields as (name, raw value) and any lines that began the body early.

    Values keep their folding and 8-bit characters (as surrogate escapes), like
    `compat32`. A line that is neither a field nor a continuation ends the
    header section, as in the stdlib feed parser.
    """
    chunks = _FIELD_BREAK.split(head.replace(b"\r\n", b"\n").decode("ascii", "surrogateescape"))
    fields: list[tuple[str, str]] = []
    for chunk in chunks:
        name, colon, value = chunk.partition(":")
        # Printable ASCII without space or colon: a field name (RFC 5322 section 3.6.8).
        if not (colon and name and name.isascii() and name.isprintable() and " " not in name):
            return _split_fields_slowly(chunks, defects)
        fields.append((name, value.lstrip(" \t")))
    return fields, ""


def _split_fields_slowly(
    chunks: list[str], defects: list[str]
) -> tuple[list[tuple[str, str]], str]:
    fields: list[tuple[str, str]] = []
    for index, chunk in enumerate(chunks):
        name, colon, value = chunk.partition(":")
        if colon and (_FIELD_NAME.fullmatch(name) or _FIELD_NAME.fullmatch(name.rstrip(" \t"))):
            # RFC 5322 section 4.5 (obsolete syntax) allows space before the colon.
            fields.append((name.rstrip(" \t"), value.lstrip(" \t")))
        elif index == 0 and chunk.startswith("From "):
            continue  # the mbox envelope line
        elif chunk.strip():
            defects.append("MissingHeaderBodySeparatorDefect")
            return fields, "\n".join(chunks[index:]) + "\n"
    return fields, ""


def _repair_8bit(value: str, name: str, defects: list[str]) -> str:
    """Raw 8-bit header bytes: UTF-8 per RFC 6532, else windows-1252."""
    data = value.encode("ascii", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        defects.append(f"undecodable header {name}: 8-bit bytes read as windows-1252")
        return decode_cp1252(data)


def field_text(name: str, value: str, defects: list[str]) -> str:
    """A raw field value unfolded (RFC 5322 section 2.2.3) with 8-bit bytes decoded."""
    if "\n" in value:
        value = _UNFOLD.sub("", value)
    if not value.isascii():
        value = _repair_8bit(value, name, defects)
    return value.strip()


def decode_words(value: str, name: str, defects: list[str]) -> str:
    """Decode RFC 2047 encoded-words, tolerating the usual breakage.

    Whitespace between adjacent encoded-words is dropped (RFC 2047 section 6.2);
    adjacent words in the same charset are joined before decoding, because
    some mailers split a multi-byte character across two words.
    """
    if "=?" not in value:
        return value
    pieces: list[str] = []
    pending: list[bytes] = []
    pending_charset = ""
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        if between and not (pending and _BLANK.fullmatch(between)):
            if pending:
                pieces.append(_decode_word_bytes(b"".join(pending), pending_charset, name, defects))
                pending = []
            pieces.append(between)
        charset = match.group(1).split("*", 1)[0]
        data = _word_bytes(match.group(2), match.group(3), name, defects)
        if pending and charset.lower() != pending_charset.lower():
            pieces.append(_decode_word_bytes(b"".join(pending), pending_charset, name, defects))
            pending = []
        pending.append(data)
        pending_charset = charset
        position = match.end()
    if pending:
        pieces.append(_decode_word_bytes(b"".join(pending), pending_charset, name, defects))
    pieces.append(value[position:])
    return "".join(pieces)


def _word_bytes(encoding: str, text: str, name: str, defects: list[str]) -> bytes:
    if encoding in "qQ":
        # Raw 8-bit inside a word was already read as UTF-8; give back those bytes.
        return binascii.a2b_qp(text.encode("utf-8"), header=True)
    data = re.sub(r"[^A-Za-z0-9+/]", "", text)
    data = data[: len(data) - len(data) % 4] if len(data) % 4 == 1 else data
    if len(text.rstrip("=")) != len(data):
        defects.append(f"broken encoded-word in header {name}")
    return base64.b64decode(data + "=" * (-len(data) % 4))


def _decode_word_bytes(data: bytes, charset: str, name: str, defects: list[str]) -> str:
    codec = resolve_charset(charset)
    if codec is None and charset.lower() not in _ASCII_LABELS:
        fixed, how = _utf8_or_windows(data)
        defects.append(f"charset {charset!r} replaced by {how} in header {name}")
        return fixed
    try:
        return data.decode(codec or "ascii")
    except UnicodeDecodeError:
        fixed, how = _utf8_or_windows(data)
        defects.append(f"undecodable header {name}: read as {how}")
        return fixed


# --- addresses ----------------------------------------------------------------

_ADDRESS_TOKEN = re.compile(
    r"""
    (?P<quoted>"(?:[^"\\]|\\.)*"?)
  | (?P<angle><[^<>]*>?)
  | (?P<comment>\((?:[^()\\]|\\.)*\)?)
  | (?P<sep>[,;:])
  | (?P<text>[^",;:<(]+)
  | (?P<stray>.)
    """,
    re.X | re.S,
)
_BACKSLASH = re.compile(r"\\(.)", re.S)
_HARD_ADDRESS_CHARS = re.compile(r'["(:;\\]')


class _Mailbox:
    """The pieces of one address-list entry while it is being read."""

    __slots__ = ("angle", "comments", "phrase")

    def __init__(self) -> None:
        self.phrase: list[str] = []
        self.comments: list[str] = []
        self.angle: str | None = None

    def result(self, name: str, defects: list[str]) -> Address | None:
        display = " ".join(" ".join(self.phrase).split())
        if self.angle is not None:
            address = self.angle
        elif display and " " not in display:
            address, display = display, ""
        elif "@" in display:
            # "Alice alice@example.org" without brackets: the last word with an @ is the address.
            words = display.split()
            address = next(w for w in reversed(words) if "@" in w)
            words.remove(address)
            display = " ".join(words)
        else:
            address = ""
        if not display and self.comments:
            display = " ".join(" ".join(self.comments).split())
        if not (display or address):
            return None
        display = decode_words(display, name, defects)
        return Address(display, normalize_address(address))


def _simple_addresses(value: str, name: str, defects: list[str]) -> list[Address]:
    """The common case, "Name <addr>, addr": no quotes, comments or groups to honour."""
    found: list[Address] = []
    for entry in value.split(","):
        display, bracket, rest = entry.partition("<")
        if bracket:
            display = " ".join(display.split())
            if "=?" in display:
                display = decode_words(display, name, defects)
            found.append(Address(display, normalize_address(rest.partition(">")[0])))
        elif (bare := entry.strip()) and " " not in bare:
            found.append(Address("", normalize_address(bare)))
        elif bare:
            mailbox = _Mailbox()
            mailbox.phrase.append(entry)
            if (address := mailbox.result(name, defects)) is not None:
                found.append(address)
    return found


def normalize_address(address: str) -> str:
    """Strip space and source routes; lower-case the domain, never the local part (RFC 5321 2.4)."""
    if not address.isprintable() or " " in address:
        address = "".join(address.split())
    if ":" in address and address.startswith("@"):
        address = address.split(":", 1)[1]  # obsolete source route, RFC 5322 section 4.4
    local, at, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}" if at else address


def parse_addresses(value: str, name: str, defects: list[str]) -> list[Address]:
    """Read an address list (RFC 5322 section 3.4) leniently.

    Faster than `email.utils.getaddresses` (a character-at-a-time parser) on the
    long Cc lists of mailing-list mail. Groups are flattened; encoded-words in
    display names are decoded after splitting, so an encoded comma cannot split
    a name.
    """
    if not _HARD_ADDRESS_CHARS.search(value):
        return _simple_addresses(value, name, defects)
    found: list[Address] = []
    current = _Mailbox()
    for match in _ADDRESS_TOKEN.finditer(value):
        kind = match.lastgroup
        piece = match.group()
        if kind == "text":
            current.phrase.append(piece)
        elif kind == "quoted":
            current.phrase.append(
                _BACKSLASH.sub(r"\1", piece[1:-1] if piece.endswith('"') else piece[1:])
            )
        elif kind == "angle":
            current.angle = piece[1:-1] if piece.endswith(">") else piece[1:]
        elif kind == "comment":
            current.comments.append(piece[1:-1] if piece.endswith(")") else piece[1:])
        elif kind == "sep" and piece == ":" and current.angle is None:
            current = _Mailbox()  # a group's display name: keep only its members
        elif kind == "sep":
            if (address := current.result(name, defects)) is not None:
                found.append(address)
            current = _Mailbox()
    if (address := current.result(name, defects)) is not None:
        found.append(address)
    return found


# --- identifiers and dates ------------------------------------------------------

_BRACKETED_ID = re.compile(r"<([^<>]*)>")


def parse_msg_ids(value: str | None) -> list[str]:
    """Message ids in a References/In-Reply-To value, without brackets, first-seen order.

    Junk is tolerated: comments and text around the ids (old mailers write
    "<id> (Alice's message of ...)"), whitespace inside folded ids, and a single
    bare id with no brackets at all.
    """
    if not value:
        return []
    found = ["".join(raw.split()) for raw in _BRACKETED_ID.findall(value)]
    if not found and "@" in value and len(value.split()) == 1:
        found = [value.strip()]
    seen: set[str] = set()
    return [i for i in found if i and not (i in seen or seen.add(i))]


def parse_date(value: str | None, defects: list[str]) -> datetime | None:
    """An aware datetime; a missing or "-0000" zone means UTC (RFC 5322 section 3.3)."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("unparseable Date")
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _first_id(value: str | None) -> str | None:
    ids = parse_msg_ids(value)
    if ids:
        return ids[0]
    tokens = value.split() if value else []
    if not tokens:
        return None
    return tokens[0].strip("<>") or None


def _list_id(value: str | None) -> str | None:
    if not value:
        return None
    ids = _BRACKETED_ID.findall(value)
    if ids:
        return "".join(ids[-1].split()).lower() or None
    tokens = value.split()
    return tokens[0].lower() if len(tokens) == 1 else None


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
            return self.params.get_content_charset()
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


def safe_filename(name: str) -> str | None:
    """A base name that is safe anywhere: no directories, controls or bidi tricks.

    Right-to-left overrides hide real extensions ("invoice\u202egpj.exe" shows as
    "invoiceexe.jpg"), so format characters go with the controls.
    """
    name = _UNSAFE_FILENAME_CHARS.sub("", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".").strip()
    if not name:
        return None
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
            self._multipart(view.content_type, part.get_payload(), depth, body)
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
            return _serialize_parts(view.content_type, part.get_payload())
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
        inner = part.get_payload() if part.is_multipart() else []
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


def _serialize_parts(content_type: str, parts: list[Any]) -> bytes:
    """Bytes of a message/* part: the inner message, or delivery-status blocks (RFC 3464)."""
    messages = [p for p in parts if isinstance(p, Message)]
    if content_type != "message/delivery-status" and messages:
        try:
            return messages[0].as_bytes()
        except (ValueError, TypeError, LookupError, UnicodeError, IndexError):
            return b""
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


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one message; never raises (a failure becomes a defect)."""
    defects: list[str] = []
    try:
        return _parse(bytes(raw), defects)
    except (RecursionError, MemoryError) as error:
        defects.append(f"message too complex to parse: {type(error).__name__}")
    except Exception as error:  # the contract is "never raises"
        defects.append(f"parser error: {type(error).__name__}: {error}")
    return ParsedMessage(defects=defects)


def _parse(raw: bytes, defects: list[str]) -> ParsedMessage:
    head, body_bytes, complete = _split_head(raw, defects)
    fields, early_body = split_fields(head, defects)
    message = ParsedMessage(defects=defects)
    needed = _read_fields(fields, message, defects)
    _fill_envelope(message, needed, defects)
    if len(raw) > MAX_RAW_BYTES:
        defects.append("message larger than 50 MB: body not parsed")
    elif complete:
        _fill_body(message, raw, fields, early_body.encode("ascii", "surrogateescape") + body_bytes)
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
            value = _repair_8bit(value, name, defects)
        value = value.strip()
        lower = name.lower()
        if lower in _NEEDED and lower not in needed:
            needed[lower] = value  # still encoded: addresses must be split first
        headers.append((name, decode_words(value, name, defects) if "=?" in value else value))
    return needed


def _fill_envelope(message: ParsedMessage, needed: dict[str, str], defects: list[str]) -> None:
    get = needed.get
    message.message_id = _first_id(get("message-id"))
    message.subject = decode_words(get("subject", ""), "Subject", defects)
    senders = parse_addresses(get("from", ""), "From", defects)
    message.from_ = senders[0] if senders else None
    message.to = parse_addresses(get("to", ""), "To", defects)
    message.cc = parse_addresses(get("cc", ""), "Cc", defects)
    message.reply_to = parse_addresses(get("reply-to", ""), "Reply-To", defects)
    message.date = parse_date(get("date"), defects)
    message.in_reply_to = parse_msg_ids(get("in-reply-to"))
    message.references = parse_msg_ids(get("references"))
    message.thread_index = get("thread-index") or None
    message.list_id = _list_id(get("list-id"))


def _fill_body(
    message: ParsedMessage, raw: bytes, fields: list[tuple[str, str]], body_bytes: bytes
) -> None:
    defects = message.defects
    view = _PartView(fields, defects)
    reader = _BodyReader(defects)
    if view.content_type.startswith(("multipart/", "message/")):
        if (
            len(_BOUNDARY_PARAM.findall(raw)) > MAX_MIME_DEPTH
            and _nesting_depth(raw) > MAX_MIME_DEPTH
        ):
            defects.append(f"MIME nesting deeper than {MAX_MIME_DEPTH}: body not parsed")
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


def _normalize_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text
