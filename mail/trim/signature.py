"""The signature under the author's text: after a delimiter line, or undelimited (a phone
or list footer, a disclaimer, a short closing such as "Regards,\nAna")."""

from __future__ import annotations

import re

from mail.trim import words
from mail.trim.footers import ASCII_FOOTER_LINE, FOOTER_LINE
from mail.trim.text import alternation, first_quote_line, has_text, is_quote, lines_up, phrases

# RFC 3676 section 4.3: "-- " alone on a line; many clients drop the space, and
# some use a short rule of underscores instead. Never the first line: a signature
# follows the author's text.
_DELIMITER = re.compile(r"\n(?:(?P<strict>-- )|--|_{2,4})\r?(?=\n|\Z)")
LOOSE_SIG_DELIMITERS = frozenset({"--", "__", "___", "____"})
_MAX_SIGNATURE_LINES = 50
_MAX_LOOSE_SIGNATURE_LINES = 10
_MAX_SIGN_OFF_LINES = 7
_MAX_FOOTER_LINES = 6

_VALEDICTIONS = alternation(words.VALEDICTION_TABLE)
_VALEDICTION = re.compile(rf"(?:{_VALEDICTIONS})[ \t]*[,.!]?", re.I)
# "Regards, Ana" on one line: a closing, then one to three capitalised words.
_ONE_LINE_SIGN_OFF = re.compile(
    rf"(?:{_VALEDICTIONS})[ \t]*[,!.-][ \t]*"
    r"(?-i:[A-Z][\w.'-]*(?:[ \t]+[A-Z][\w.'-]*){0,2})[ \t]*",
    re.I,
)
_CLOSING_WORDS = frozenset(phrase.split()[0] for phrase in phrases(words.VALEDICTION_TABLE))
_NAME_LINE = re.compile(r"[^\s>].{0,39}")
_LIST_FOOTER_HINTS = tuple(phrases(words.LIST_FOOTER_WORDS))
_LIST_RULE = re.compile(r"[ \t]*(?:_{10,}|-{10,}|={10,})[ \t]*")
_CONFIDENTIAL = re.compile(alternation(words.CONFIDENTIAL_TABLE), re.I)
_ADDRESSEE = re.compile(alternation(words.ADDRESSEE_TABLE), re.I)
_DISCLAIMER_TITLE = re.compile(rf"[ \t*]*(?:{alternation(words.DISCLAIMER_TITLES)})", re.I)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def split_signature(head: str) -> tuple[str, str]:
    """(text, signature) of the author's part."""
    loose = None
    # One scan finds both kinds of delimiter; an RFC 3676 one wins over a loose one.
    for match in _DELIMITER.finditer(head):
        strict = match.group("strict") is not None
        if not strict and loose is not None:
            continue
        signature = head[match.end() + 1 :]
        longest = _MAX_SIGNATURE_LINES if strict else _MAX_LOOSE_SIGNATURE_LINES
        if (
            head.count("\n", match.end()) <= longest
            and has_text(head, match.start())
            # A signature quotes nothing: quotes below this one mean it ended an inline
            # patch ("-- \n2.20.1") or a quoted message, and the real one is further down.
            and first_quote_line(signature) is None
        ):
            if strict:
                return head[: match.start()], signature
            loose = head[: match.start()], signature
    if loose is not None:
        return loose
    start = _undelimited_start(head)
    return (head, "") if start is None else (head[:start], head[start:])


def _undelimited_start(head: str) -> int | None:
    """Start of a signature that has no delimiter line: a phone footer, a list footer or a
    disclaimer at the end, and a closing ("Regards,\\nAna") just above any of them."""
    found = [
        start
        for start in (_footer_start(head), _list_footer_start(head), _disclaimer_start(head))
        if start is not None and has_text(head, start)
    ]
    end = min(found) if found else len(head)
    closing = _sign_off_start(head[:end].rstrip())
    if closing is not None:
        return closing
    return end if found else None


def _footer_start(head: str) -> int | None:
    """A phone footer among the last lines ("Sent from my iPhone")."""
    start = None
    for index, (line_start, line) in enumerate(lines_up(head, len(head))):
        if index >= _MAX_FOOTER_LINES:
            break
        footer = ASCII_FOOTER_LINE if line.isascii() else FOOTER_LINE
        if len(line) <= 160 and footer.match(line):
            start = line_start
    return start


def _list_footer_start(head: str) -> int | None:
    """A mailing list's footer: a long rule, then a few lines naming the list."""
    tail = head[-600:].lower()
    if not any(hint in tail for hint in _LIST_FOOTER_HINTS):
        return None
    for index, (line_start, line) in enumerate(lines_up(head, len(head))):
        if index > _MAX_LOOSE_SIGNATURE_LINES:
            return None
        if _LIST_RULE.fullmatch(line):
            footer = head[line_start:].lower()
            return line_start if any(hint in footer for hint in _LIST_FOOTER_HINTS) else None
    return None


def _disclaimer_start(head: str) -> int | None:
    """The first of the closing paragraphs that reads like a confidentiality disclaimer."""
    breaks = [match.end() for match in _PARAGRAPH_BREAK.finditer(head, max(0, len(head) - 3000))]
    breaks = breaks[-5:]
    if not breaks:
        return None
    # One quick word test on the closing paragraphs, lowered once, before reading each.
    closing = head[breaks[0] :].lower()
    if not any(stem in closing for stem in words.DISCLAIMER_STEMS) and not any(
        stem in closing for stem in words.DISCLAIMER_STEMS_MORE
    ):
        return None
    for start in breaks:
        paragraph = head[start : start + 600]
        if _DISCLAIMER_TITLE.match(paragraph) or (
            _CONFIDENTIAL.search(paragraph) and _ADDRESSEE.search(paragraph)
        ):
            return start
    return None


def _sign_off_start(head: str) -> int | None:
    """A closing like "Thanks,\\nAlice": only when it is clearly one, at the very end."""
    pieces = head.rsplit("\n", _MAX_SIGN_OFF_LINES)
    first = 1 if len(pieces) > _MAX_SIGN_OFF_LINES else 0
    for index in range(first, len(pieces) - 1):
        if not _may_close(pieces[index]) or not _VALEDICTION.fullmatch(pieces[index].strip()):
            continue
        after = index + 1
        if not pieces[after].strip() and after + 1 < len(pieces):
            after += 1  # "Regards,", a blank line, then the name
        name, rest = pieces[after].strip(), pieces[after + 1 :]
        before = "\n".join(pieces[:index])
        if (
            _NAME_LINE.fullmatch(name)
            and name[-1] not in ".?!:;,"
            and len(name.split()) <= 5
            and all(len(line) <= 80 and not is_quote(line) for line in rest)
            and before.strip()
        ):
            return len(before) + 1
    last = pieces[-1]
    if (
        _may_close(last)
        and _ONE_LINE_SIGN_OFF.fullmatch(last.strip())
        and has_text(head, len(head) - len(last))
    ):
        return len(head) - len(last)
    return None


def _may_close(line: str) -> bool:
    """A quick test before the closing patterns: a short line whose first word opens one."""
    words = line.split(None, 1)
    return bool(words) and len(line) <= 60 and words[0].lower().rstrip(",.!-") in _CLOSING_WORDS
