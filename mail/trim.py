"""Split the text of a reply into what the author wrote, the history it quotes, and the signature.

Three conventions meet here. Top-posting (Gmail, Outlook, phones) puts the new
text first and the whole earlier conversation after an attribution line ("On
<date>, <name> wrote:", in a dozen languages and often wrapped over two or three
lines), an Outlook header block (From/Sent/To/Subject, also translated), a
"-----Original Message-----" rule, or a phone's "Sent from my iPhone" footer; the
history under it may or may not carry ">" marks. Bottom-posting puts one quote
block first, under its attribution, and the answer below it: that block is
history too. Interleaved replies, the norm in kernel patch review, answer
between quoted excerpts; those excerpts are the context of each answer, so they
stay visible and only a trailing quote block counts as history. Top-posting
markers are looked for above the first quote line only (below it they belong to
an interleaved answer, or are an inline patch's "From:/Date:/Subject:"), except
Outlook's rule over its header block, which Outlook appends under inline answers.

Forwarded mail is content, never history: a forward announced before any
history stays visible. The trimmer never returns an empty visible part for a
message that has text.

The signature is what follows the author's text: after an RFC 3676 "-- " line
(or its looser cousins "--" and "__"), a phone footer, a mailing-list footer, a
corporate disclaimer, or a short closing such as "Regards,\nAna Lima".

Bulk import trims every message, so the text is scanned by offsets with a few
compiled patterns that each start with a literal (see "markers that start a
line" below) rather than split into lines, and most vocabulary is applied only
to the few lines those scans find.

Not done yet: an Outlook forward without a marker line ("FW:" in the subject,
then a bare header block) reads as a reply, since only the text is seen here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mail import trim_words as words

# RFC 3676 section 4.3: "-- " alone on a line; many clients drop the space, and
# some use a short rule of underscores instead. Never the first line: a signature
# follows the author's text.
_DELIMITER = re.compile(r"\n(?:(?P<strict>-- )|--|_{2,4})\r?(?=\n|\Z)")
_LOOSE_SIG_DELIMITERS = frozenset({"--", "__", "___", "____"})
_MAX_SIGNATURE_LINES = 50
_MAX_LOOSE_SIGNATURE_LINES = 10
_MAX_SIGN_OFF_LINES = 7
_MAX_FOOTER_LINES = 6
_MAX_ATTRIBUTION = 300  # characters; longer "lines ending in a colon" are prose


def _words(table: str) -> str:
    """A regex alternation of the phrases in a table: one language a line, "|" between
    phrases, longest first, a space matching any run of blanks."""
    phrases = {p.strip() for line in table.strip().splitlines() for p in line.split("|")}
    ordered = sorted(phrases - {""}, key=len, reverse=True)
    return "|".join(re.escape(phrase).replace(r"\ ", r"[ \t\xa0]+") for phrase in ordered)


def _list(table: str) -> list[str]:
    return [p.strip() for line in table.strip().splitlines() for p in line.split("|") if p.strip()]


# --- markers that start a line --------------------------------------------------------
#
# Speed matters here: the regex engine finds a pattern that starts with a literal
# character by a fast scan, but tries an alternation or a non-ASCII class at every
# position (ten times slower on long list mail). So each scanning pattern below starts
# with "\n" (the first line of a text is checked on its own where it matters) or a
# literal, and most vocabulary is applied only to the few lines such a scan finds.

_RULE_MARKER = re.compile(
    rf"[ \t]*-{{2,}}[ \t]*(?:(?P<forward>{_words(words.FORWARD_RULES)})"
    rf"|(?P<original>{_words(words.ORIGINAL_RULES)}))[ \t]*-{{2,}}[ \t]*(?=\n|\Z)",
    re.I,
)
_FORWARD_INTRO = re.compile(rf"[ \t]*(?:{_words(words.FORWARD_INTROS)})[ \t\xa0]*[:：][ \t]*", re.I)
_FROM_LABELS = _words(words.FROM_FIELDS)
# Lines that may start a rule marker (patches are full of "-" lines: only "--" lines that
# go on with a word) or a header block's From field (checked by _header_block_start).
# The lookahead on the first character lets most lines fail at once.
_LINE_START = re.compile(
    r"\n[ \t]*(?=[-*_fFvVdDoOkKlLåÅ\u0400-\u04ff\u3000-\u9fff\uac00-\ud7af])"
    r"(?:(?P<rule>--+[ \t]*[^\W\d_])"
    rf"|(?P<from>[*_]{{0,2}}(?:{_FROM_LABELS})[*_]{{0,2}}[ \t\xa0]*[:：]))",
    re.I,
)
# Phone and app footers, under which clients put the quoted original. The device part
# has no comma or semicolon, which keeps "Sent from my desk, which is easier" a sentence.
_DEVICE = r"[^\n,;]{1,80}?"
_FOOTER = (
    r"(?:sent (?:from|via|with|using) " + _DEVICE
    + r"|(?:get|download) outlook for " + _DEVICE
    + r"|outlook für (?:ios|android)[^\n,;]{0,40}"
    + r"|von meinem " + _DEVICE + r" gesendet"
    + r"|gesendet (?:von|mit) " + _DEVICE
    + r"|(?:télécharger|obtenir) outlook pour " + _DEVICE
    + r"|envoy[ée] (?:de|depuis|à partir de|avec) " + _DEVICE
    + r"|(?:obtener|descargar) outlook para " + _DEVICE
    + r"|enviado (?:desde|do|de|com|con) " + _DEVICE
    + r"|scarica outlook per " + _DEVICE
    + r"|inviato (?:da|dal|con) " + _DEVICE
    + r"|(?:verzonden|verstuurd) (?:vanaf|met|van|via) " + _DEVICE
    + r"|skickat från " + _DEVICE
    + r"|sendt fra " + _DEVICE
    + r"|wysłane (?:z|ze) " + _DEVICE
    + r"|odesláno z " + _DEVICE
    + r")[ \t.]*(?=\n|\Z)"
)  # fmt: skip
# Japanese and Chinese footers; tried only on text that is not ASCII, since the first
# one starts with any characters.
_CJK_FOOTER = (
    r"(?:[^\n]{1,30}から送信|(?:发自|發自|来自|來自)我的[^\n]{1,30}|從我的[^\n]{1,30}傳送)"
    r"[ \t.]*(?=\n|\Z)"
)
_FOOTER_LINE = re.compile(rf"[ \t]*(?:{_FOOTER}|{_CJK_FOOTER})", re.I)
_ASCII_FOOTER_LINE = re.compile(r"[ \t]*" + _FOOTER, re.I)
_FOOTER_ANYWHERE = re.compile(r"\n[ \t]*(?=[sSgGdDtToOeEvViIwW])" + _FOOTER, re.I)
_CJK_FOOTER_ANYWHERE = re.compile(r"\n[ \t]*" + _CJK_FOOTER)
# A phone reply is short: its footer is looked for as a history marker in this many
# first characters only (at the end of the author's text it is always found).
_FOOTER_REACH = 2000

# --- Outlook-style header blocks ------------------------------------------------------

# One field of a header block. Outlook translates the labels; Yahoo and Outlook web
# put a space before the colon, Gmail's HTML makes them bold ("*From:*").
_HEADER_FIELD = re.compile(
    rf"[ \t]*[*_]{{0,2}}(?:(?P<from>{_FROM_LABELS})|(?P<date>{_words(words.DATE_FIELDS)})"
    rf"|(?P<to>{_words(words.TO_FIELDS)})|(?P<cc>{_words(words.CC_FIELDS)})"
    rf"|(?P<subject>{_words(words.SUBJECT_FIELDS)}))[*_]{{0,2}}[ \t\xa0]*[:：]",
    re.I,
)
_HEADER_WINDOW = 14  # lines: four to six fields, some wrapped
# An Outlook rule line: "-----Original Message-----" and the like, or "________".
_OUTLOOK_RULE = re.compile(r"\n[ \t]*(?:-{2,}[ \t]*[^\W\d_][^\n]*-{2,}|_{10,})[ \t]*(?=\n|\Z)")
# A rule that sets off quoted history: Outlook's "____", "====", "----".
_RULE = re.compile(r"[ \t]*(?:[-_=*~]{2,}|—+)[ \t]*")

# --- attribution lines ------------------------------------------------------------------

_CJK_VERB = re.compile(_words(words.CJK_VERB_TABLE))
_CJK_VERBS = tuple(_list(words.CJK_VERB_TABLE))
# Verbs are recognised by their last word, with a set lookup: most lines that end in a
# colon are code labels or prose, and a regex alternation would try every position.
_FINAL_VERBS = frozenset(verb.rsplit(None, 1)[-1] for verb in _list(words.VERB_TABLE))
# "sent" counts only as the last word: "On Monday, Ben sent:" but not "I sent it to".
_MIDDLE_VERBS = _FINAL_VERBS - {"sent"}
# Android and Zoho frame the attribution in dashes and drop the colon: "---- Ben wrote ----".
_FRAMED = re.compile(r"[ \t]*-{2,}.*-{2,}[ \t]*")
# Lines that may end an attribution: a colon, or "wrote" without one (webmail). Each
# pattern starts with a literal, which the regex engine finds fast.
_LINE_ENDS = (
    re.compile(r":[ \t]*(?=\n|\Z)"),
    re.compile(r"：[ \t]*(?=\n|\Z)"),
    re.compile(r"wrote[ \t\-]*(?=\n|\Z)"),
)
_ATTRIBUTION_INTRO = re.compile(rf"(?:{_words(words.INTRO_TABLE)})[\s,]", re.I)
# An intro word after a space or a dash rule inside a line; the match starts at the rule.
_INLINE_INTRO = re.compile(r"(?:-{2,}[ \t]*|(?<=[ \t]))(?=(?:on|am|le|el|il|em|op)[ \t])", re.I)
# The domain after an "@" (found with str.find: a pattern starting with a character class
# would be tried, and backtrack, at every position).
_DOMAIN = re.compile(r"[\w-]+(?:\.[\w-]+)+")
# "... Name <name@example.com>:" (Gmail in many locales, with no verb at all).
_ADDRESS_COLON = re.compile(r"[>)\]][\"' \t]*[:：][ \t]*$")
# Runs of digits, read by _date_parts: "09:00" or "9.00" or "09h00" is a time; "2026" or
# "2026年" a year; "3月" a month.
_DIGITS = re.compile(r"\d+(?:[:.h]\d+)?[年년月월]?")
# What kernel and list mail write for a cut in a quote: "[...]", "<snip>".
_SNIP = re.compile(
    r"[ \t]*(?=[^\n]*(?:\.\.\.|…|snip|cut))[\[<(]?[ \t]*(?:\.{3,}|…)?[ \t]*"
    r"(?:snip(?:ped)?|cut)?[ \t]*(?:\.{3,}|…)?[ \t]*[\]>)]?[ \t]*",
    re.I,
)
# A "Label: value" trailer or a list item: text, not the start of a wrapped attribution.
_NOT_ATTRIBUTION_START = re.compile(r"[ \t]*(?:[\w-]+:[ \t]|[-*+•][ \t])")
_WRAPPED_ADDRESS_END = re.compile(r">[ \t]*[:：][ \t]*")
# Mutt's default attribution: "* Alice <alice@example.org> [2024-01-02 10:00]:".
_MUTT_ATTRIBUTION = re.compile(r"\* .+ \[[^\]]+\]:")
_SENTENCE_END = re.compile(r"[.!?;:。！？]\s*$")
_WEAK, _STRONG = 1, 2

# --- signatures ---------------------------------------------------------------------------

_VALEDICTIONS = _words(words.VALEDICTION_TABLE)
_VALEDICTION = re.compile(rf"(?:{_VALEDICTIONS})[ \t]*[,.!]?", re.I)
# "Regards, Ana" on one line: a closing, then one to three capitalised words.
_ONE_LINE_SIGN_OFF = re.compile(
    rf"(?:{_VALEDICTIONS})[ \t]*[,!.-][ \t]*"
    r"(?-i:[A-Z][\w.'-]*(?:[ \t]+[A-Z][\w.'-]*){0,2})[ \t]*",
    re.I,
)
_CLOSING_WORDS = frozenset(phrase.split()[0] for phrase in _list(words.VALEDICTION_TABLE))
_NAME_LINE = re.compile(r"[^\s>].{0,39}")
_LIST_FOOTER_HINTS = tuple(_list(words.LIST_FOOTER_WORDS))
_LIST_RULE = re.compile(r"[ \t]*(?:_{10,}|-{10,}|={10,})[ \t]*")
_CONFIDENTIAL = re.compile(_words(words.CONFIDENTIAL_TABLE), re.I)
_ADDRESSEE = re.compile(_words(words.ADDRESSEE_TABLE), re.I)
_DISCLAIMER_TITLE = re.compile(rf"[ \t*]*(?:{_words(words.DISCLAIMER_TITLES)})", re.I)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def split_reply(text: str) -> tuple[str, str, str]:
    """(visible, quoted, signature) of a message body; visible is empty only for empty text."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    text = text.rstrip()
    if not text:
        return "", "", ""
    # Top-posting markers and forwards are looked for above the first quoted line only:
    # one below a quote block belongs to an interleaved answer or to the history itself.
    # This also keeps long quoted list mail cheap to scan.
    first_quote = _first_quote_line(text)
    region = len(text) if first_quote is None else first_quote
    ends = _line_ends(text, region)
    rules, from_lines = _line_starts(text, region)
    limit = _forward_start(text, ends, rules)
    history = _history_start(text, min(limit, region), ends, rules, from_lines)
    if history is None and region < limit:
        history = _outlook_history_start(text, region, limit)
    if history is not None:
        # Top-posting: everything from the marker on is history, forwards in it included.
        head, signature = _split_signature(text[:history].rstrip())
        quoted, tail = text[history:], ""
    else:
        head, quoted, signature = _split_bottom(text[:limit].rstrip(), first_quote)
        tail = text[limit:]
    if not head.strip() and not tail.strip():
        # Everything looked quoted: show it rather than an empty message.
        head, quoted = quoted, ""
    visible = head.rstrip() + ("\n\n" + tail if tail.strip() else "")
    return _clean(visible), _clean(quoted), _clean(signature)


def _line_ends(text: str, end: int) -> list[tuple[int, int]]:
    """(start, end) of the lines before `end` that end in a colon or "wrote", in order:
    where attributions and forward announcements may be."""
    found = sorted(
        match.end()
        for pattern in _LINE_ENDS
        if pattern.pattern[0] in text
        for match in pattern.finditer(text, 0, end)
    )
    return [(text.rfind("\n", 0, line_end) + 1, line_end) for line_end in found]


def _line_starts(text: str, end: int) -> tuple[list[tuple[int, str]], list[int]]:
    """The rule markers before `end` as (line start, "forward" or "original"), and the
    starts of the lines that open like a header block's From field. One scan finds both."""
    rules = []
    from_lines = []
    starts = [(0, "rule")] if text.lstrip(" \t").startswith("--") else []
    starts += [
        (match.start() + 1, match.lastgroup or "") for match in _LINE_START.finditer(text, 0, end)
    ]
    for start, kind in starts:
        if kind == "from":
            from_lines.append(start)
            continue
        rule = _RULE_MARKER.match(text, start, end)
        if rule is not None:
            rules.append((start, rule.lastgroup or ""))
    return rules, from_lines


def _forward_start(text: str, ends: list[tuple[int, int]], rules: list[tuple[int, str]]) -> int:
    """Where forwarded content starts (a rule or an announcing line), or len(text)."""
    start = next((line for line, kind in rules if kind == "forward"), len(text))
    for line_start, line_end in ends:
        if line_start >= start:
            break
        if line_end - line_start < 80 and _FORWARD_INTRO.fullmatch(text, line_start, line_end):
            return line_start
    return start


_LEADING_BLANK_LINES = re.compile(r"(?:[ \t]*\n)+")


def _clean(part: str) -> str:
    """Drop leading and trailing blank lines, keep the first line's indentation."""
    part = part.rstrip()
    blank = _LEADING_BLANK_LINES.match(part)
    return part[blank.end() :] if blank else part


# The first line of a quote block: ">" then a blank, another ">" or the line's end, or
# a ">text" line with another quote line under it. Not a lone ">:" (the end of an
# attribution wrapped inside "<address>") and not a line a client wrapped at a ">" in
# the author's own text ("(a>" / ">8));").
_QUOTE_LINE = re.compile(r"\n *>(?![ \t]*[:：][ \t]*(?:\n|\Z))(?:[ \t>]|(?=\n|\Z)|[^\n]*\n *>)")
# Any quote line (at the start of the text, or after a newline).
_QUOTE_START = re.compile(r"(?:^|\n) *>")
# A line that is neither blank nor a quote.
_TEXT_LINE = re.compile(r"\n(?![ \t]*(?:\n|\Z)| *>)")


def _first_quote_line(text: str) -> int | None:
    """Start of the first quote line."""
    found = _QUOTE_LINE.match("\n" + text[:400])
    if found is not None:
        return 0
    found = _QUOTE_LINE.search(text)
    return None if found is None else found.start() + 1


_NON_SPACE = re.compile(r"\S")


def _has_text(text: str, end: int) -> bool:
    """Whether text[:end] has a non-blank character (found without copying the text)."""
    return _NON_SPACE.search(text, 0, end) is not None


def _is_quote(line: str) -> bool:
    return line.lstrip(" ")[:1] == ">"


def _line_at(text: str, start: int) -> str:
    end = text.find("\n", start)
    return text[start:] if end < 0 else text[start:end]


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end < 0 else end


def _lines_up(text: str, end: int) -> Iterator[tuple[int, str]]:
    """(start, line) for the line ending at `end` and each line above it."""
    while end >= 0:
        start = text.rfind("\n", 0, end) + 1
        yield start, text[start:end]
        end = start - 1


def _next_text_line(
    text: str, start: int, limit: int, skip_snips: bool = False
) -> tuple[int, str] | None:
    """(start, line) of the first non-blank line at or after `start` and before `limit`
    (also passing over "[...]"-style snip marks when asked)."""
    while start < limit:
        end = min(_line_end(text, start), limit)
        line = text[start:end]
        if line.strip() and not (skip_snips and _SNIP.fullmatch(line)):
            return start, line
        start = end + 1
    return None


# --- top-posting: where the history starts ------------------------------------------------


def _history_start(
    text: str,
    limit: int,
    ends: list[tuple[int, int]],
    rules: list[tuple[int, str]],
    from_lines: list[int],
) -> int | None:
    """Offset of the first history marker before `limit` that has the author's text above it."""
    marker = _first_marker(text, limit, rules, from_lines)
    attribution = _first_attribution(text, limit if marker is None else marker, ends)
    return attribution if attribution is not None else marker


def _first_marker(
    text: str, limit: int, rules: list[tuple[int, str]], from_lines: list[int]
) -> int | None:
    """The first "-----Original Message-----" rule, header block or phone footer before
    `limit` with text above it. The first line is never one: nothing is above it."""
    best = next(
        (
            line
            for line, kind in rules
            if kind == "original" and line < limit and _has_text(text, line)
        ),
        None,
    )
    end = limit if best is None else best
    for line in from_lines:
        if line >= end:
            break
        start = _header_block_start(text, line)
        if start is not None and _has_text(text, start):
            best = end = start
            break
    reach = min(end, _FOOTER_REACH)
    footers = [_FOOTER_ANYWHERE] if text.isascii() else [_FOOTER_ANYWHERE, _CJK_FOOTER_ANYWHERE]
    for pattern in footers:
        for match in pattern.finditer(text, 0, reach):
            start = _after_footer(text, match.end(), limit)
            if start is not None and _has_text(text, match.start()):
                return start
    return best


def _outlook_history_start(text: str, start: int, end: int) -> int | None:
    """Outlook's quoted original between `start` and `end`, below quote lines.

    Outlook users answer inline at the top and Outlook still appends the whole
    original under a "-----Original Message-----" line or a "____" rule and a
    header block. Those two are looked for below the first quote line too; a bare
    header block is not, since that is how an inline patch starts ("From:",
    "Date:", "Subject: [PATCH]").
    """
    for match in _OUTLOOK_RULE.finditer(text, start, end):
        line = match.start() + 1
        if _RULE_MARKER.match(text, line, end) is not None:
            return line
        following = _next_text_line(text, match.end() + 1, end)
        if following is not None and _HEADER_FIELD.match(following[1]):
            block = _header_block_start(text, following[0])
            if block == line:
                return line
    return None


def _after_footer(text: str, end: int, limit: int) -> int | None:
    """Where history starts under a phone footer: the next text, unless it is a quote block
    (left to _split_bottom) or a signature."""
    following = _next_text_line(text, end + 1, limit)
    if following is None:
        return None
    start, line = following
    if _is_quote(line) or line.rstrip() in _LOOSE_SIG_DELIMITERS:
        return None
    return start


def _header_block_start(text: str, start: int) -> int | None:
    """Start of an Outlook-style header block whose From line is at `start`, or None.

    A block is From plus at least two of Sent/Date, To and Subject (one suffices
    under a rule), each field on its own line; a long value may wrap onto up to
    two more lines. Fields just above the From line (Hotmail puts Date first)
    and a rule above the block belong to it.
    """
    kinds: set[str] = set()
    wrapped = 0
    for line in text[start : start + 3000].split("\n", _HEADER_WINDOW)[:_HEADER_WINDOW]:
        if not line.strip():
            break
        field = _HEADER_FIELD.match(line)
        if field is None:
            wrapped += 1
            if wrapped > 2:
                break
            continue
        wrapped = 0
        kinds.add(field.lastgroup or "")
    if "from" not in kinds:
        return None
    top = start
    for line_start, line in _lines_up(text, start - 1):
        field = _HEADER_FIELD.match(line)
        if field is None or not line.strip():
            break
        kinds.add(field.lastgroup or "")
        top = line_start
    found = len(kinds & {"date", "to", "subject"})
    above = _rule_above(text, top)
    if found >= 2 or (found == 1 and above != top):
        return above
    return None


def _rule_above(text: str, start: int) -> int:
    """Include a rule line ("_____", "-----Original Message-----") just above `start`, blank
    lines between allowed."""
    for line_start, line in _lines_up(text, start - 1):
        if line.strip():
            return line_start if _RULE.fullmatch(line) or _RULE_MARKER.fullmatch(line) else start
    return start


def _is_header_block(text: str) -> bool:
    """Whether the text is one header block and nothing else, perhaps under a rule."""
    lines = text.strip().split("\n")
    if len(lines) > _HEADER_WINDOW + 1:
        return False
    if _RULE.fullmatch(lines[0]) or _RULE_MARKER.fullmatch(lines[0]):
        lines = lines[1:]
    kinds: set[str] = set()
    wrapped = 0
    for line in lines:
        field = _HEADER_FIELD.match(line)
        if field is not None:
            kinds.add(field.lastgroup or "")
            wrapped = 0
        elif not line.strip() or wrapped == 2:
            return False
        else:
            wrapped += 1
    return "from" in kinds and len(kinds & {"date", "to", "subject"}) >= 2


def _first_attribution(text: str, limit: int, ends: list[tuple[int, int]]) -> int | None:
    """Start of the first strong attribution followed by unquoted text (top-posting without
    ">" marks), with author text above it."""
    for line_start, end in ends:
        if end > limit:
            break
        line = text[line_start:end]
        if (_is_quote(line) and not _WRAPPED_ADDRESS_END.fullmatch(line)) or not (
            _ends_in_verb(line) or _ADDRESS_COLON.search(line[-8:])
        ):
            continue
        found = _attribution(text, line_start, end)
        if found is None or found[1] < _STRONG or not _has_text(text, found[0]):
            continue
        following = _next_text_line(text, end + 1, limit, skip_snips=True)
        if following is not None and not _is_quote(following[1]):
            return found[0]
    return None


def _ends_in_verb(line: str) -> bool:
    """Whether the line's last word, before its colon, is an attribution verb."""
    stripped = line.rstrip(" \t:：-")
    if stripped.endswith(_CJK_VERBS):
        return True
    words = stripped.rsplit(None, 1)
    return bool(words) and _verb_word(words[-1].lower()) in _FINAL_VERBS


def _verb_word(word: str) -> str:
    """A word as the verb tables spell it: Czech, Slovak and Polish add "(a)" for either
    gender ("napsal(a)"), Russian "(а)"."""
    return word[:-3] if word.endswith(("(a)", "(а)")) else word


def _attribution(text: str, line_start: int, line_end: int) -> tuple[int, int] | None:
    """(start, strength) of an attribution whose last line is text[line_start:line_end].

    Clients wrap long attributions over two or three lines ("On Mon, ... Ben
    Ortiz <" / "ben@example.org> wrote:"). The start is the first line of the
    longest run that begins like one ("On ...", "Am ...") or, failing that,
    the run extended upwards over lines that carry a date or an address.
    """
    lines = [(line_start, text[line_start:line_end])]
    for start, line in _lines_up(text, line_start - 1):
        if len(lines) == 3 or not line.strip() or _is_quote(line):
            break
        lines.insert(0, (start, line))
    framed = _FRAMED.fullmatch(lines[-1][1]) is not None
    for count in range(len(lines), 0, -1):
        chunk = _joined(lines[-count:])
        if _ATTRIBUTION_INTRO.match(chunk):
            strength = _strength(chunk, framed)
            if strength:
                return lines[-count][0], strength
    inline = _inline_attribution(*lines[-1])
    if inline is not None:
        return inline, _STRONG
    count = 1
    while count < len(lines):
        above = lines[-count - 1][1]
        if (
            _SENTENCE_END.search(above)
            or _NOT_ATTRIBUTION_START.match(above)
            or not ("@" in above or any(_date_parts(above)))
        ):
            break
        count += 1
    for size in (count, 1) if count > 1 else (1,):
        strength = _strength(_joined(lines[-size:]), framed)
        if strength:
            return lines[-size][0], strength
    return None


def _inline_attribution(start: int, line: str) -> int | None:
    """Where an attribution starts inside a line, after the reply ("Thanks On Mon, Mar 2,
    2026 at 9:00 AM, Ben <ben@example.com> wrote:"): clients that flatten HTML join them.
    Only a full one counts here: a verb at the end, an address, a year and a time."""
    for match in _INLINE_INTRO.finditer(line, 1):
        rest = line[match.end() :]
        time, year = _date_parts(rest)
        if time and year and _has_address(rest) and _ends_in_verb(rest):
            return start + match.start()
    return None


def _joined(lines: list[tuple[int, str]]) -> str:
    joined = " ".join(line.strip() for _, line in lines).replace("\xa0", " ")
    return joined.strip("- \t")


def _strength(chunk: str, framed: bool = False) -> int:
    """How surely a (joined) line is an attribution: 0 not, _WEAK above quotes only, _STRONG."""
    if len(chunk) > _MAX_ATTRIBUTION:
        return 0
    if chunk.startswith("* ") and _MUTT_ATTRIBUTION.fullmatch(chunk):
        return _STRONG
    colon = chunk.endswith((":", "："))
    verb_last = _ends_in_verb(chunk)
    address = _has_address(chunk)
    if not colon and not framed and not verb_last:
        # Old Gmail: "2011/4/7 Ben Ortiz <ben@example.org>" with no colon, right above quotes.
        return _WEAK if address and chunk.endswith(">") and any(_date_parts(chunk)) else 0
    if verb_last or _has_verb(chunk):
        intro = _ATTRIBUTION_INTRO.match(chunk) is not None
        if address or (intro and "," in chunk):
            return _STRONG
        # Dates are read only now: most attributions carry an address.
        dated = any(_date_parts(chunk))
        if not colon and not framed and not dated:
            return 0  # "On Monday I wrote" ending a wrapped sentence
        cjk = not chunk.isascii() and _CJK_VERB.search(chunk) is not None
        if (intro or cjk) and dated:
            return _STRONG
        return _WEAK if intro or framed or len(chunk) < 150 else 0
    if colon and address:
        # "2017-11-24 16:32 GMT+01:00 Ben Ortiz <ben@example.org>:" (Gmail in many locales):
        # a time, a year and an address just before the colon. In a language whose verb
        # we do not know, only above a quote block.
        time, year = _date_parts(chunk)
        if time and year and _ADDRESS_COLON.search(chunk[-8:]):
            return _STRONG
        return _WEAK if time or year else 0
    return 0


def _has_address(chunk: str) -> bool:
    at = chunk.find("@")
    while at > 0:
        before = chunk[at - 1]
        if (before.isalnum() or before in "._+-") and _DOMAIN.match(chunk, at + 1):
            return True
        at = chunk.find("@", at + 1)
    return False


def _date_parts(chunk: str) -> tuple[bool, bool]:
    """(has a time, has a year or a CJK date)."""
    time = year = False
    for match in _DIGITS.finditer(chunk):
        token = match.group()
        if token[-1] in "年년月월":
            year = True
        elif token.isdigit():
            year = year or (len(token) == 4 and token[:2] in ("19", "20"))
        else:
            hours, minutes = re.split(r"[:.h]", token, maxsplit=1)
            time = time or (len(hours) <= 2 and len(minutes) == 2)
    return time, year


def _has_verb(chunk: str) -> bool:
    """An attribution verb anywhere in the chunk, by its words ("schrieb Ben <ben@...>:")."""
    if not chunk.isascii() and _CJK_VERB.search(chunk):
        return True
    return any(
        _verb_word(word.strip(",.:;：!?\"'")) in _MIDDLE_VERBS for word in chunk.lower().split()
    )


# --- bottom-posting and interleaving ----------------------------------------------------------


def _split_bottom(body: str, first_quote: int | None) -> tuple[str, str, str]:
    """(head, quoted, signature) when no top-posting marker was found; `first_quote` is
    where the first quote line starts, if any."""
    cut = _trailing_quote_start(body, len(body))
    if cut is not None:
        head, signature = _split_signature(body[:cut].rstrip())
        return head, body[cut:], signature
    # Bottom-quoting with a signature after the quotes: the block is trailing
    # once the signature is set aside.
    head, signature = _split_signature(body)
    cut = _trailing_quote_start(head, len(head))
    if cut is not None:
        return head[:cut], head[cut:], signature
    end = None if first_quote is None else _leading_quote_end(head, first_quote)
    if end is not None:
        return head[end:], head[:end], signature
    return head, "", signature


def _trailing_quote_start(text: str, limit: int) -> int | None:
    """Start of the trailing "> " block before `limit`, with the attribution above it."""
    region = text[:limit].rstrip()
    if not _is_quote(region[region.rfind("\n") + 1 :]):
        return None  # the common case, decided without reading the text
    # The block starts at the first quote line under the last line of the author's
    # text: a line neither blank nor quoted, nor one a client re-wrapped between two
    # quote lines. The regex finds the candidates; the last few are checked.
    boundary = 0
    for match in reversed(list(_TEXT_LINE.finditer(region))):
        line = _line_at(region, match.end())
        if not _is_wrapped_quote(region, match.end(), line):
            boundary = match.end() + len(line)
            break
    else:
        first = _line_at(region, 0)
        if first.strip() and not _is_quote(first):
            boundary = len(first)
    found = _QUOTE_START.search(region, max(boundary - 1, 0))
    if found is None:
        return None
    block_start = found.start() + (region[found.start()] == "\n")
    return _attribution_start(region, block_start)


def _leading_quote_end(text: str, block_start: int) -> int | None:
    """End of a single quote block that opens the message with only an attribution (or an
    Outlook header block) above it and only the author's answer below (bottom-posting).
    Several quote blocks with answers between them are an interleaved reply and stay."""
    if block_start >= len(text):
        return None
    above = text[:block_start].strip()
    if above and not (
        (above.count("\n") <= 2 and not _has_text(text, _attribution_start(text, block_start)))
        or (len(above) < 2000 and _is_header_block(above))
    ):
        return None  # more above the quotes than an attribution or a header block
    end = len(text)
    for match in _TEXT_LINE.finditer(text, block_start):
        line = _line_at(text, match.end())
        if not _is_wrapped_quote(text, match.end(), line):
            end = match.end()
            break
    rest = text[end:]
    if not rest.strip() or _first_quote_line(rest) is not None:
        return None
    return end


def _is_wrapped_quote(text: str, start: int, line: str) -> bool:
    """A line that lost its ">" when a client re-wrapped a long quoted line."""
    if start == 0:
        return False
    above = _line_at(text, text.rfind("\n", 0, start - 1) + 1)
    below = _line_at(text, start + len(line) + 1)
    return _is_quote(above) and _is_quote(below)


def _attribution_start(text: str, start: int) -> int:
    """Move `start` up to an attribution ("On ..., X wrote:") right above the block."""
    first = _line_at(text, start)
    if _WRAPPED_ADDRESS_END.fullmatch(first) and start > 0:
        # Gmail wrapped "... Ben <ben@example.org" / ">:" and the block seems to start
        # with a quote line ">:" that is really the attribution's end.
        found = _attribution(text, start, start + len(first))
        if found is not None:
            return found[0]
    before = text[:start].rstrip()
    if not before:
        return start
    line_start = before.rfind("\n") + 1
    found = _attribution(before, line_start, len(before))
    return start if found is None else found[0]


# --- signatures ---------------------------------------------------------------------------


def _split_signature(head: str) -> tuple[str, str]:
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
            and _has_text(head, match.start())
            # A signature quotes nothing: quotes below this one mean it ended an inline
            # patch ("-- \n2.20.1") or a quoted message, and the real one is further down.
            and _first_quote_line(signature) is None
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
        if start is not None and _has_text(head, start)
    ]
    end = min(found) if found else len(head)
    closing = _sign_off_start(head[:end].rstrip())
    if closing is not None:
        return closing
    return end if found else None


def _footer_start(head: str) -> int | None:
    """A phone footer among the last lines ("Sent from my iPhone")."""
    start = None
    for index, (line_start, line) in enumerate(_lines_up(head, len(head))):
        if index >= _MAX_FOOTER_LINES:
            break
        footer = _ASCII_FOOTER_LINE if line.isascii() else _FOOTER_LINE
        if len(line) <= 160 and footer.match(line):
            start = line_start
    return start


def _list_footer_start(head: str) -> int | None:
    """A mailing list's footer: a long rule, then a few lines naming the list."""
    tail = head[-600:].lower()
    if not any(hint in tail for hint in _LIST_FOOTER_HINTS):
        return None
    for index, (line_start, line) in enumerate(_lines_up(head, len(head))):
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
            and all(len(line) <= 80 and not _is_quote(line) for line in rest)
            and before.strip()
        ):
            return len(before) + 1
    last = pieces[-1]
    if (
        _may_close(last)
        and _ONE_LINE_SIGN_OFF.fullmatch(last.strip())
        and _has_text(head, len(head) - len(last))
    ):
        return len(head) - len(last)
    return None


def _may_close(line: str) -> bool:
    """A quick test before the closing patterns: a short line whose first word opens one."""
    words = line.split(None, 1)
    return bool(words) and len(line) <= 60 and words[0].lower().rstrip(",.!-") in _CLOSING_WORDS
