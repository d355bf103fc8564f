"""Header fields of one message: splitting, RFC 2047 words, addresses, ids and dates.

Tolerant on purpose (RFC 6532 raw UTF-8, broken encoded-words, comments in
address lists, junk in References): every field yields the best text it can
and what had to be repaired goes into the caller's `defects` list.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from mail.charsets import ASCII_LABELS, decode_cp1252, resolve_charset, utf8_or_windows

MAX_HEADER_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: display name and address (domain lower-cased, local part as sent)."""

    name: str
    address: str


_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")
_FIELD_BREAK = re.compile(r"\n(?![ \t])")
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?(.*?)\?=", re.S)
_BLANK = re.compile(r"\s*")

# What must never stay in a subject or a display name: C0 and C1 controls
# (CR/LF decoded from an encoded-word, "=?utf-8?q?Hi=0D=0ABcc:_x?=", would
# split a header we write again; NUL cannot be stored on PostgreSQL; ESC
# paints terminals), the Unicode line and paragraph separators (Python's
# email package refuses them as line breaks), and the bidirectional
# controls that reorder what a reader sees (Unicode TR9: LRE..RLO, LRI..PDI,
# LRM, RLM, ALM), seen in the wild making "exe.pdf" out of "fdp.exe".
UNSAFE_CHARS = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[{UNSAFE_CHARS}]+")
_SPACE_RUN = re.compile(r"  +")


def split_head(raw: bytes, defects: list[str]) -> tuple[bytes, bytes, bool]:
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


def repair_8bit(value: str, name: str, defects: list[str]) -> str:
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
        value = repair_8bit(value, name, defects)
    return value.strip()


def clean_text(value: str) -> str:
    """Header text safe to store and to write into a header again: one line, nothing hidden.

    Each run of unsafe characters (UNSAFE_CHARS) becomes one space and space
    runs collapse, so "Hello\\r\\nBcc: x" reads "Hello Bcc: x": nothing is
    lost that a reader could see. Other invisible characters (ZWJ in emoji,
    no-break spaces) are text and stay.
    """
    if value.isprintable() or not _UNSAFE.search(value):
        return value
    return _SPACE_RUN.sub(" ", _UNSAFE.sub(" ", value)).strip()


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
    if codec is None and charset.lower() not in ASCII_LABELS:
        fixed, how = utf8_or_windows(data)
        defects.append(f"charset {charset!r} replaced by {how} in header {name}")
        return fixed
    try:
        return data.decode(codec or "ascii")
    except UnicodeDecodeError:
        fixed, how = utf8_or_windows(data)
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
        return Address(clean_text(display), normalize_address(address))


def _simple_addresses(value: str, name: str, defects: list[str]) -> list[Address]:
    """The common case, "Name <addr>, addr": no quotes, comments or groups to honour."""
    found: list[Address] = []
    for entry in value.split(","):
        display, bracket, rest = entry.partition("<")
        if bracket:
            display = " ".join(display.split())
            if "=?" in display:
                display = decode_words(display, name, defects)
            found.append(Address(clean_text(display), normalize_address(rest.partition(">")[0])))
        elif (bare := entry.strip()) and " " not in bare:
            found.append(Address("", normalize_address(bare)))
        elif bare:
            mailbox = _Mailbox()
            mailbox.phrase.append(entry)
            if (address := mailbox.result(name, defects)) is not None:
                found.append(address)
    return found


# An address written inside a display name: '"ceo@example.com" <x@attacker.example>'
# shows the reader one sender while the mail comes from another.
_ADDRESS_IN_NAME = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")


def impersonated_address(mailbox: Address) -> str | None:
    """The address a display name claims when it differs from the real one, else None."""
    real = mailbox.address.lower()
    claimed: str
    for claimed in _ADDRESS_IN_NAME.findall(mailbox.name):
        if claimed.lower() != real:
            return claimed
    return None


def normalize_address(address: str) -> str:
    """Strip space and source routes; lower-case the domain, never the local part (RFC 5321 2.4)."""
    if not address.isprintable() or " " in address:
        address = _UNSAFE.sub("", "".join(address.split()))
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
    return list(dict.fromkeys(i for i in found if i))  # first of each, in order


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


def first_id(value: str | None) -> str | None:
    ids = parse_msg_ids(value)
    if ids:
        return ids[0]
    tokens = value.split() if value else []
    if not tokens:
        return None
    return tokens[0].strip("<>") or None


def list_id(value: str | None) -> str | None:
    if not value:
        return None
    ids = _BRACKETED_ID.findall(value)
    if ids:
        return "".join(ids[-1].split()).lower() or None
    tokens = value.split()
    return tokens[0].lower() if len(tokens) == 1 else None
