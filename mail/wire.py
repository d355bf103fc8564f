"""How our mail is written on the wire: CRLF, folded lines, and structured headers left readable.

The email package's SMTP policy folds every header it does not know as
unstructured text, and unstructured text with a "word" longer than a line
(a reply token in an angle-bracketed URL) is written as RFC 2047 encoded
words: `List-Unsubscribe: =?utf-8?q?=3Cmailto=3A...`. RFC 2047 section 5
allows encoded words only in text and phrases, never in a msg-id or a URL,
so Gmail's and Yahoo's one-click unsubscribe (RFC 8058) cannot read such a
header and mail clients see a broken thread. `WIRE` folds the structured
headers below at the spaces between their items instead, and leaves a long
item whole on its own continuation line (RFC 5322 2.2.3 allows lines up to
998 octets; the composer keeps items shorter than that). Every other header,
From/To/Reply-To included, is folded by the email package, which writes an
address's display name as encoded words when it is not ASCII and leaves the
address itself alone.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import EmailPolicy
from typing import Any

# Headers whose value is a list of items (msg-ids, <URL>s, tokens) that an
# encoded word would break. List-Id's phrase is encoded by the composer
# itself when the community's name is not ASCII (RFC 2919 section 3 allows it).
STRUCTURED = frozenset(
    {
        "message-id",
        "in-reply-to",
        "references",
        "list-id",
        "list-post",
        "list-archive",
        "list-help",
        "list-owner",
        "list-subscribe",
        "list-unsubscribe",
        "list-unsubscribe-post",
    }
)


def fold_items(name: str, value: str, *, width: int = 78, linesep: str = "\r\n") -> str:
    """`Name: value` folded only where `value` has white space, lines kept within `width`
    where an item allows it. Line breaks inside `value` cannot survive: it is split on
    any white space, so a stored value cannot smuggle a header of its own."""
    head = f"{name}:"
    line = head
    lines: list[str] = []
    for item in value.split():
        if line != head and len(line) + 1 + len(item) > width:
            lines.append(line)
            line = f" {item}"
        else:
            line = f"{line} {item}"
    lines.append(line)
    return linesep.join(lines) + linesep


class WirePolicy(EmailPolicy):
    """The SMTP policy (CRLF, 78-column folding) that never encodes a structured header."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        # Kept as given: the email package's header objects decode encoded words, and
        # a List-Id phrase the composer encoded would come back to be encoded whole.
        if name.lower() in STRUCTURED and isinstance(value, str) and value.isascii():
            if "\r" in value or "\n" in value:
                raise ValueError(f"{name} value holds a line break")
            return name, value
        stored: tuple[str, Any] = super().header_store_parse(name, value)
        return stored

    def fold(self, name: str, value: Any) -> str:
        text = str(value)
        if name.lower() in STRUCTURED and text.isascii():
            return fold_items(name, text, width=self.max_line_length or 78, linesep=self.linesep)
        folded: str = super().fold(name, value)
        return folded

    def fold_binary(self, name: str, value: Any) -> bytes:
        text = str(value)
        if name.lower() in STRUCTURED and text.isascii():
            return self.fold(name, value).encode("ascii")
        folded: bytes = super().fold_binary(name, value)
        return folded


WIRE = WirePolicy(linesep="\r\n")


def new_message() -> EmailMessage:
    """An empty message that keeps its structured headers as written until it is sent."""
    return EmailMessage(policy=WIRE)


def to_wire(msg: EmailMessage) -> bytes:
    """The bytes we queue and send: CRLF line endings, every header folded as above."""
    return msg.as_bytes(policy=WIRE)
