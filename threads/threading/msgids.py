"""Message-IDs and what points at them: In-Reply-To and References (RFC 5322 section
3.6.4) read into a message's ancestors, and the conversation part of Outlook's Thread-Index."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

# References of a long-lived thread grow without bound (some clients never trim
# it, RFC 5322 only suggests trimming); the nearest ancestors carry the
# information, the far end is the root, which the nearer ids usually reach too.
MAX_REFERENCES = 100

# Outlook's Thread-Index ([MS-OXOMSG] 2.2.1.3 PidTagConversationIndex): a 22-byte
# header (1 reserved byte, 5 bytes of the FILETIME of the first message, a
# 16-byte GUID minted per conversation) then one 5-byte block per reply/forward.
_TI_HEADER_LEN = 22
_TI_CHILD_LEN = 5
_TI_GUID = slice(6, 22)


# --- Message-ID lists -------------------------------------------------------


def looks_like_msgid(value: str) -> bool:
    """True for an id of the RFC 5322 shape ``left@right`` without spaces or brackets.

    RFC 5322 3.6.4 requires the "@". Ids without it seen in real References
    are answers typed at a prompt ("y", "all", a subject line); shared by
    unrelated threads, they would merge them, so they are not ids for us.
    """
    left, at, right = value.partition("@")
    # A quote would only come from the obsolete quoted-string form of the left
    # part, which no mail client we know writes; in real headers it is debris.
    return (
        bool(at and left and right)
        and not any(ch.isspace() for ch in value)
        and not any(ch in '<>"' for ch in value)
    )


def _skip_comment(value: str, pos: int) -> int:
    """Index just past the RFC 5322 comment opening at `pos` (nesting, quoted-pairs)."""
    depth = 0
    while pos < len(value):
        char = value[pos]
        if char == "\\":
            pos += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    return pos


def _skip_quoted(value: str, pos: int) -> int:
    """Index just past the quoted-string opening at `pos`."""
    pos += 1
    while pos < len(value):
        if value[pos] == "\\":
            pos += 1
        elif value[pos] == '"':
            return pos + 1
        pos += 1
    return pos


def _closing_bracket(value: str, pos: int) -> int:
    """Index of the ">" closing the "<" at `pos`, or -1 if unterminated or nested."""
    end = value.find(">", pos + 1)
    restart = value.find("<", pos + 1)
    return -1 if end < 0 or 0 <= restart < end else end


def _scan(value: str) -> list[tuple[bool, str]]:
    """Split a header value into (bracketed?, text) tokens, in order.

    Bracketed tokens are the insides of <...> with folding whitespace removed
    (some clients fold mid-id); the rest is split into words. Comments and
    quoted strings are skipped: "<id> (Fred's message of "Mon, 1 Jan <x>")"
    is a common shape (Emacs, Gnus) and must yield nothing from the comment.
    """
    pieces: list[tuple[bool, str]] = []
    prose: list[str] = []
    pos = 0
    while pos < len(value):
        char = value[pos]
        end = _closing_bracket(value, pos) if char == "<" else -1
        if end >= 0:
            pieces += [(False, "".join(prose)), (True, "".join(value[pos + 1 : end].split()))]
            prose = []
            pos = end + 1
        elif char in '("':
            pos = _skip_comment(value, pos) if char == "(" else _skip_quoted(value, pos)
            prose.append(" ")
        else:
            # A stray "<" is junk: drop it and read on.
            prose.append(" " if char == "<" else char)
            pos += 1
    pieces.append((False, "".join(prose)))
    tokens: list[tuple[bool, str]] = []
    for bracketed, text in pieces:
        if bracketed:
            tokens.append((True, text))
        else:
            words = (word.strip(",;") for word in text.replace(",", " ").split())
            tokens.extend((False, word) for word in words if word)
    return tokens


def parse_msgid_list(value: str | None) -> list[str]:
    """Message-IDs in an In-Reply-To/References value, without brackets, in order.

    Deduplicated (first occurrence kept), junk between ids ignored, folding
    whitespace inside an id removed. Bare ids without brackets are accepted
    only when every word outside brackets looks like an id: "References: a@x
    b@y" is a sloppy client, while "message from fred@example.com of Monday"
    is prose whose address is no message id.
    At most MAX_REFERENCES ids are returned, the last ones.
    """
    if not value:
        return []
    tokens = _scan(value)
    bare_ok = all(looks_like_msgid(text) for bracketed, text in tokens if not bracketed)
    candidates = (text for bracketed, text in tokens if bracketed or bare_ok)
    ids = list(dict.fromkeys(mid for mid in candidates if looks_like_msgid(mid)))
    return ids[-MAX_REFERENCES:]


def reference_chain(
    own_id: str, in_reply_to: Sequence[str], references: Sequence[str]
) -> list[str]:
    """The message's ancestors, oldest to nearest (JWZ step 1A).

    References gives the ancestry in order (RFC 5322 3.6.4); In-Reply-To names
    the parent, so it becomes the last link even when References listed it
    earlier (out-of-order References exist, In-Reply-To is the direct claim).
    When In-Reply-To holds several ids, the first that looks like an id wins
    (JWZ). A message never is its own ancestor.
    """
    parent = next((mid for mid in in_reply_to if looks_like_msgid(mid)), None)
    chain = [
        mid
        for mid in dict.fromkeys(references)
        if mid not in (own_id, parent) and looks_like_msgid(mid)
    ]
    if parent is not None and parent != own_id:
        chain.append(parent)
    return chain


# --- Outlook Thread-Index ---------------------------------------------------


def thread_index_key(value: str | None) -> str | None:
    """Hex of the 22-byte conversation header of an Outlook Thread-Index, or None.

    Every reply or forward Outlook writes keeps the header and appends a 5-byte
    child block ([MS-OXOMSG] 2.2.1.3), so equal headers mean one conversation
    even when References were dropped (Exchange often drops them). A value that
    is not base64, is shorter than the header, is not header + whole child
    blocks, or has an all-zero GUID (not unique to any conversation) is ignored.
    """
    if not value:
        return None
    compact = "".join(value.split())
    compact += "=" * (-len(compact) % 4)
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < _TI_HEADER_LEN or (len(raw) - _TI_HEADER_LEN) % _TI_CHILD_LEN:
        return None
    if not any(raw[_TI_GUID]):
        return None
    return raw[:_TI_HEADER_LEN].hex()
