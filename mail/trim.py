"""Split the text of a reply into what the author wrote, the history it quotes, and the signature.

Three conventions meet here. Top-posting (Gmail, Outlook, phones) puts the new
text first and the whole earlier conversation after an attribution line or an
Outlook header block. Bottom-quoting puts a "> " block last. Interleaved
replies, the norm in kernel patch review, answer between quoted excerpts; those
excerpts are the context of each answer, so only a trailing quote block counts
as history. Forwarded mail is content, never history, and the trimmer never
returns an empty visible part for a message that has text. The text is scanned
by offsets rather than split into lines: most mail needs only its last lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# RFC 3676 section 4.3: "-- " alone on a line; many clients drop the space.
_SIG_DELIMITER = "-- "
_LOOSE_SIG_DELIMITER = "--"
_MAX_SIGNATURE_LINES = 50
_MAX_LOOSE_SIGNATURE_LINES = 10
_MAX_SIGN_OFF_LINES = 6

# Lines that start forwarded content (Gmail, Thunderbird, Apple Mail, in the
# languages seen most), that start Outlook's quoted original, or that may
# start an Outlook "From:/Sent:/To:/Subject:" header block. One pass finds all.
_MARKER = re.compile(
    # The lookahead rejects most lines on their first character, cheaply.
    r"\n[ \t]*(?=[-*bBaAdDfFvV])(?:"
    r"(?P<forward>(?:-{3,}[ \t]*(?:forwarded message|weitergeleitete nachricht|"
    r"message transf[ée]r[ée]|mensaje reenviado|messaggio inoltrato|doorgestuurd bericht|"
    r"vidarebefordrat meddelande)[ \t]*-{3,}|begin forwarded message:|"
    r"anfang der weitergeleiteten nachricht:|d[ée]but du message r[ée]exp[ée]di[ée][ \t\xa0]?:)"
    r"[ \t]*(?=\n|$))"
    r"|(?P<original>-{3,}[ \t]*(?:original message|ursprüngliche nachricht|message d'origine|"
    r"mensaje original|messaggio originale|oorspronkelijk bericht|originalmeddelande)"
    r"[ \t]*-{3,}[ \t]*(?=\n|$))"
    r"|(?P<header>\*?(?:from|von|de|van|da|från)\*?[ \t\xa0]?:)"
    r")",
    re.I,
)
_HEADER_SENT = re.compile(
    r"[ \t]*\*?(?:sent|date|gesendet|datum|envoy[ée]|enviado|fecha|inviato|data|verzonden|"
    r"skickat)\*?[ \t\xa0]?:",
    re.I,
)
_HEADER_TO = re.compile(
    r"[ \t]*\*?(?:to|an|à|a|para|aan|till|subject|betreff|objet|asunto|oggetto|onderwerp|"
    r"ämne)\*?[ \t\xa0]?:",
    re.I,
)
# Outlook's plain-text rule above a quoted message.
_RULE = re.compile(r"[ \t]*_{20,}[ \t]*")
_WROTE = re.compile(
    r"\b(?:wrote|writes|schrieb|a écrit|escribió|schreef|ha scritto|escreveu|skrev|napisał|"
    r"napsal|kirjoitti)\b",
    re.I,
)
_ATTRIBUTION_INTRO = re.compile(
    r"(?:on|am|le|el|op|il|em|den|på|w dniu|dne|quoting|excerpts from)\s", re.I
)
# Mutt's default attribution: "* Alice <alice@example.org> [2024-01-02 10:00]:".
_MUTT_ATTRIBUTION = re.compile(r"\* .+ \[[^\]]+\]:")
_VALEDICTION = re.compile(
    r"(?:thanks|thank you|thx|many thanks|thanks a lot|thanks again|cheers|regards|best regards|"
    r"kind regards|warm regards|best wishes|best|all the best|sincerely|yours sincerely|"
    r"yours truly|yours|br|cordialement|bien cordialement|bien à vous|salutations|"
    r"mit freundlichen grü(?:ß|ss)en|freundliche grü(?:ß|ss)e|viele grü(?:ß|ss)e|"
    r"beste grü(?:ß|ss)e|liebe grü(?:ß|ss)e|grü(?:ß|ss)e|gru(?:ß|ss)|lg|mfg|saludos|un saludo|"
    r"atentamente|cordiali saluti|saluti|met vriendelijke groet|groeten|"
    r"med vänliga hälsningar|hälsningar|mvh)[ \t]*[,.!]?",
    re.I,
)
_NAME_LINE = re.compile(r"[^\s>].{0,39}")


def split_reply(text: str) -> tuple[str, str, str]:
    """(visible, quoted, signature) of a message body; visible is empty only for empty text."""
    text = text.replace("\r\n", "\n").rstrip()
    if not text.strip():
        return "", "", ""
    limit, history = _scan_markers(text)
    cut = history if history is not None else _trailing_quote_start(text, limit)
    if cut is not None:
        head, signature = _split_signature(text[:cut].rstrip())
        quoted = text[cut:limit]
    else:
        # Bottom-quoting with a signature after the quotes: the block is trailing
        # once the signature is set aside.
        head, signature = _split_signature(text[:limit].rstrip())
        cut = _trailing_quote_start(head, len(head))
        head, quoted = (head, "") if cut is None else (head[:cut], head[cut:])
    tail = text[limit:]
    if not head.strip() and not tail.strip():
        # Everything looked quoted: show it rather than an empty message.
        head, quoted = quoted, ""
    visible = head.rstrip() + ("\n\n" + tail if tail.strip() else "")
    return _clean(visible), _clean(quoted), _clean(signature)


_LEADING_BLANK_LINES = re.compile(r"(?:[ \t]*\n)+")


def _clean(part: str) -> str:
    """Drop leading and trailing blank lines, keep the first line's indentation."""
    part = part.rstrip()
    blank = _LEADING_BLANK_LINES.match(part)
    return part[blank.end() :] if blank else part


def _is_quote(line: str) -> bool:
    return line.lstrip(" ")[:1] == ">"


def _line_at(text: str, start: int) -> str:
    end = text.find("\n", start)
    return text[start:] if end < 0 else text[start:end]


def _scan_markers(text: str) -> tuple[int, int | None]:
    """(start of forwarded content or len(text), start of Outlook-style history or None)."""
    for match in _MARKER.finditer("\n" + text):
        start = match.start()  # the "\n" prefix shifts offsets by one: this is the line start
        if match.group("forward"):
            return start, None
        if match.group("original"):
            return len(text), start
        if _is_header_block(text, start):
            return len(text), _rule_above(text, start)
    return len(text), None


def _is_header_block(text: str, start: int) -> bool:
    """From: followed closely by Sent:/Date: and To:/Subject: (Outlook's reply header)."""
    following = text[start : start + 2000].split("\n", 6)[1:6]
    return any(_HEADER_SENT.match(line) for line in following) and any(
        _HEADER_TO.match(line) for line in following
    )


def _lines_up(text: str, end: int) -> Iterator[tuple[int, str]]:
    """(start, line) for the line ending at `end` and each line above it."""
    while end >= 0:
        start = text.rfind("\n", 0, end) + 1
        yield start, text[start:end]
        end = start - 1


def _rule_above(text: str, start: int) -> int:
    """Include Outlook's "________" rule (and blank lines) just above the header block."""
    for line_start, line in _lines_up(text, start - 1):
        if line.strip():
            return line_start if _RULE.fullmatch(line) else start
    return start


def _trailing_quote_start(text: str, limit: int) -> int | None:
    """Start of the trailing "> " block before `limit`, with the attribution above it."""
    region = text[:limit].rstrip()
    block_start = None
    for start, line in _lines_up(region, len(region)):
        if _is_quote(line):
            block_start = start
        elif line.strip() and not (
            block_start is not None and _is_wrapped_quote(region, start, line)
        ):
            break
    return None if block_start is None else _attribution_start(region, block_start)


def _is_wrapped_quote(text: str, start: int, line: str) -> bool:
    """A line that lost its ">" when a client re-wrapped a long quoted line."""
    if start == 0:
        return False
    above = _line_at(text, text.rfind("\n", 0, start - 1) + 1)
    below = _line_at(text, start + len(line) + 1)
    return _is_quote(above) and _is_quote(below)


def _attribution_start(text: str, start: int) -> int:
    """Move `start` up to an attribution ("On ..., X wrote:") right above the block."""
    before = text[:start].rstrip()
    if not before:
        return start
    # Gmail wraps long attributions over two or three lines, so "alice@example.org>
    # wrote:" alone may be the tail of one: prefer a longer one that starts like one.
    lines = before.rsplit("\n", 3)
    bare = None
    for count in range(1, len(lines) + 1):
        chunk = lines[-count:]
        if count > 1 and not chunk[0].strip():
            break
        joined = " ".join(line.strip() for line in chunk).replace("\xa0", " ")
        if not _is_attribution(joined):
            continue
        chunk_start = len(before) - len("\n".join(chunk))
        if _ATTRIBUTION_INTRO.match(joined) or _MUTT_ATTRIBUTION.fullmatch(joined):
            return chunk_start
        bare = chunk_start if bare is None else bare
    return start if bare is None else bare


def _is_attribution(line: str) -> bool:
    """ "On <date>, <name> wrote:" and its translations, or a short "<name> writes:"."""
    if not line.endswith(":") or len(line) > 300:
        return False
    if _MUTT_ATTRIBUTION.fullmatch(line):
        return True
    return bool(_WROTE.search(line)) and (bool(_ATTRIBUTION_INTRO.match(line)) or len(line) < 150)


def _split_signature(head: str) -> tuple[str, str]:
    """(text, signature) of the author's part."""
    for delimiter, longest in (
        (_SIG_DELIMITER, _MAX_SIGNATURE_LINES),
        (_LOOSE_SIG_DELIMITER, _MAX_LOOSE_SIGNATURE_LINES),
    ):
        found = _after_delimiter(head, delimiter, longest)
        if found is not None:
            return found
    return _sign_off(head)


def _after_delimiter(head: str, delimiter: str, longest: int) -> tuple[str, str] | None:
    if "\n--" not in head:
        return None
    pieces = head.rsplit("\n", longest + 1)
    for index in range(1 if len(pieces) > longest + 1 else 0, len(pieces)):
        if pieces[index].rstrip("\r") == delimiter:
            before = "\n".join(pieces[:index])
            if before.strip():
                return before, "\n".join(pieces[index + 1 :])
    return None


def _sign_off(head: str) -> tuple[str, str]:
    """A closing like "Thanks,\\nAlice": only when it is clearly one, at the very end."""
    pieces = head.rsplit("\n", _MAX_SIGN_OFF_LINES)
    for index in range(1 if len(pieces) > _MAX_SIGN_OFF_LINES else 0, len(pieces) - 1):
        if not _VALEDICTION.fullmatch(pieces[index].strip()):
            continue
        name, rest = pieces[index + 1].strip(), pieces[index + 2 :]
        before = "\n".join(pieces[:index])
        if (
            _NAME_LINE.fullmatch(name)
            and name[-1] not in ".?!:;,"
            and len(name.split()) <= 5
            and all(len(line) <= 80 and not _is_quote(line) for line in rest)
            and before.strip()
        ):
            return before, "\n".join(pieces[index:])
    return head, ""
