"""Subjects as conversations: reply and forward prefixes as clients localise them, and
list tags, stripped to compare."""

from __future__ import annotations

import re

# Reply and forward prefixes as mail clients localise them (Outlook, Thunderbird,
# Apple Mail, Gmail, Foxmail...). Compared case-insensitively.
_REPLY_WORDS = frozenset(
    {
        "re",  # English and most clients (from Latin "in re")
        "aw",  # German Outlook, "Antwort"
        "antwort",
        "sv",  # Swedish, Norwegian, Danish "svar"
        "vs",  # Finnish "vastaus"
        "antw",  # Dutch "antwoord"
        "odp",  # Polish / Czech "odpowiedź", "odpověď"
        "rif",  # Italian "riferimento"
        "r",  # Italian Outlook
        "ref",
        "ré",  # French clients that translate "Re"
        "réf",  # French
        "res",  # Brazilian Portuguese Outlook "resposta"
        "vá",  # Hungarian "válasz"
        "ynt",  # Turkish "yanıt"
        "ats",  # Lithuanian "atsakymas"
        "odg",  # Croatian / Slovenian "odgovor"
        "απ",  # Greek
        "σχετ",  # Greek
        "отв",  # Russian "ответ"
        "回复",  # Simplified Chinese
        "答复",  # Simplified Chinese
        "回覆",  # Traditional Chinese
    }
)
_FORWARD_WORDS = frozenset(
    {
        "fwd",
        "fw",
        "wg",  # German "weitergeleitet"
        "tr",  # French "transféré"
        "enc",  # Portuguese "encaminhado"
        "rv",  # Spanish "reenviado"
        "doorst",  # Dutch "doorgestuurd"
        "pd",  # Polish "prześlij dalej"
        "vb",  # Swedish "vidarebefordrat"
        "vl",  # Finnish "välitetty"
        "ilt",  # Turkish "iletilen"
        "πρθ",  # Greek
        "转发",  # Simplified Chinese
        "轉寄",  # Traditional Chinese
        "轉發",  # Traditional Chinese
    }
)
# Longest first so that "antwort" is tried before "antw" and "re" before "r".
_PREFIX_ALTERNATION = "|".join(
    re.escape(word) for word in sorted(_REPLY_WORDS | _FORWARD_WORDS, key=len, reverse=True)
)
# A prefix may carry a reply counter ("Re[2]:", "Re(3):", some clients' way of
# folding "Re: Re: Re:") and may be followed by an ASCII or a full-width colon;
# French typography puts a space before the colon ("Réf :").
_PREFIX_RE = re.compile(
    rf"(?P<word>{_PREFIX_ALTERNATION})\s*(?:\[\d+\]|\(\d+\))?\s*[:：]", re.IGNORECASE
)
# A list tag is one bracketed word ("[eng]", "[cgroups]"). Tags with spaces,
# digits or "/" ("[PATCH v2 1/3]") say which posting this is and must stay.
_TAG_RE = re.compile(r"\[(?P<tag>[^\[\]\s\d/]+)\]")
# One-word tags that also distinguish postings (an RFC and the PATCH that
# follows it are different threads in kernel-style review), so they stay.
_MEANINGFUL_TAGS = frozenset({"patch", "rfc", "resend", "pull"})


# --- Subjects ---------------------------------------------------------------


def _strip_leading(subject: str) -> tuple[str, str | None]:
    """Remove leading prefixes and list tags; also return the first prefix word."""
    rest = subject
    first: str | None = None
    while True:
        rest = rest.lstrip()
        prefix = _PREFIX_RE.match(rest)
        if prefix:
            first = first or prefix["word"].casefold()
            rest = rest[prefix.end() :]
            continue
        tag = _TAG_RE.match(rest)
        if tag and tag["tag"].casefold() not in _MEANINGFUL_TAGS:
            rest = rest[tag.end() :]
            continue
        return rest, first


def normalize_subject(subject: str | None) -> str:
    """The subject without reply/forward prefixes and list tags, casefolded.

    "[eng] Re: [eng] AW: Re[3]: Budget" and "budget" normalise alike: list
    managers add their tag once per hop and clients stack their prefixes in
    the user's language. Expects a decoded subject (RFC 2047 already undone).
    """
    if not subject:
        return ""
    rest, _ = _strip_leading(subject)
    return " ".join(rest.casefold().split())


def thread_title(subject: str | None) -> str:
    """A thread's title from its first message's subject: reply and forward
    prefixes and list tags removed ("AW: [eng] Re: Budget" is "Budget"), the
    case kept. A reply that arrives before what it answers (or alone) must not
    name the thread "Re: ..."; a subject that is nothing but prefixes stays."""
    if not subject:
        return ""
    rest, _ = _strip_leading(subject)
    return " ".join(rest.split()) or " ".join(subject.split())


def has_reply_prefix(subject: str | None) -> bool:
    """True when the outermost prefix (after list tags) is a reply, not a forward.

    "Fwd: Re: x" is a forward (to a new audience, a new conversation);
    "Re: Fwd: x" is a reply.
    """
    if not subject:
        return False
    _, first = _strip_leading(subject)
    return first in _REPLY_WORDS
