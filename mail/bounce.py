"""Read bounces and delivery status notifications into failed recipients.

Two shapes reach us. The standard one is an RFC 3464 delivery status
notification: a multipart/report (RFC 6522) whose message/delivery-status
part has one field block per recipient, with Final-Recipient, Action and
Status (RFC 3463 enhanced codes). Everything else is plain text written by
the MTA in its own words; each is recognised by the fixed phrases its
software writes, and the failed addresses are read from the lines that
follow them, up to where the copy of the original message starts.

Only "failed" counts as a failure. A delay warning (RFC 3464 Action:
delayed, or the "will retry" / "has not yet been delivered" texts) is
returned with `permanent=False`: the mail is automatic and never posted, but
nobody's address is wrong yet.

The module is pure and cheap for ordinary mail: the text scans run only when
the message carries a delivery-status part or one of the bounce markers
(daemon sender, bounce subject, X-Failed-Recipients, a known MTA phrase).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mail.charsets import decode_text
from mail.parse import ParsedMessage, parse_message

_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# RFC 3463 enhanced status code, and an RFC 5321 reply code used in its place.
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_BASIC = re.compile(r"(?<![\d.#-])([45])([0-5])(\d)(?![\d.])")
_NOT_RECIPIENT_LOCALS = frozenset(
    {"postmaster", "mailer-daemon", "mail-daemon", "mailerdaemon", "root", "abuse", "noreply"}
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status|delivery (?:failure|notification|problem)|mail delivery|"
    r"returned mail|failure notice|non[- ]?delivery|not delivered|could not be delivered|"
    r"delivery report|warning: could not send|delayed mail|nicht zustellbar|"
    r"unzustellbar|non remis|message status|user unknown|automatically rejected",
    re.I,
)
# MDaemon (Alt-N) signs its bounces as MDaemon@host; Exchange's system
# mailbox has one fixed name in every organisation.
_DAEMON_LOCALS = frozenset(
    {
        "mailer-daemon",
        "mail-daemon",
        "postmaster",
        "mailerdaemon",
        "mdaemon",
        "microsoftexchange329e71ec88ae4615bbc36ab6ce41109e",
    }
)
_REPLY_PREFIX = re.compile(r"^\s*(?:re|aw|sv|vs|fwd?|wg|tr)\s*:", re.I)


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    """One recipient the report names: RFC 3463 `status` ("" when unknown)."""

    address: str
    status: str
    permanent: bool


@dataclass(frozen=True, slots=True)
class Bounce:
    """A delivery report: who failed (or is delayed) and which MTA form said so."""

    recipients: tuple[FailedRecipient, ...]
    kind: str

    @property
    def failed(self) -> tuple[FailedRecipient, ...]:
        """Recipients whose delivery was given up; delay warnings are not among them."""
        return tuple(r for r in self.recipients if r.permanent)

    @property
    def delay_only(self) -> bool:
        """A warning that delivery is late, with no recipient given up on."""
        return bool(self.recipients) and not self.failed

    def to_json(self) -> dict[str, list[dict[str, object]]]:
        """The `bridge parse --json` shape."""
        return {
            "recipients": [
                {"address": r.address, "status": r.status, "permanent": r.permanent}
                for r in self.recipients
            ]
        }


@dataclass(frozen=True, slots=True)
class _Form:
    """A plain-text bounce form: the phrase that starts its recipient list."""

    kind: str
    start: re.Pattern[str]
    warning: bool = False


# Phrases each MTA writes verbatim before the failed addresses. Order matters:
# the first form whose phrase is found wins, so warnings come before the
# failure texts they share wording with.
_FORMS = (
    # Exim's delay warning ("has not yet been delivered ... after more than").
    _Form(
        "exim",
        re.compile(r"has not yet been delivered to one or more of its\s+recipients", re.I),
        True,
    ),
    # Postfix's delay notice and Sendmail's "Warning: could not send message".
    _Form("postfix", re.compile(r"#+\s*THIS IS A WARNING ONLY", re.I), True),
    _Form("sendmail", re.compile(r"\*\*\s+THIS IS A WARNING MESSAGE ONLY", re.I), True),
    _Form(
        "generic",
        re.compile(r"(?:will|shall) (?:continue to )?(?:re)?try (?:to deliver|delivery|for)", re.I),
        True,
    ),
    _Form(
        "gmail", re.compile(r"Delivery to the following recipients? has been delayed:", re.I), True
    ),
    # Exchange Online's delay notice and the Windows SMTP service's plain
    # "Delivery Status Notification (Delay)", which carries no report part.
    _Form(
        "exchange", re.compile(r"Delivery is delayed to these recipients or groups:", re.I), True
    ),
    _Form(
        "dsn-text",
        re.compile(r"Delivery to the following recipients? (?:has been|was) delayed\.?", re.I),
        True,
    ),
    _Form("qmail", re.compile(r"This is the qmail-send program", re.I)),
    _Form(
        "exim",
        re.compile(r"could not be delivered to one or more of its\s+recipients[^\n]*\n", re.I),
    ),
    _Form("gmail", re.compile(r"Delivery to the following recipients? failed permanently:", re.I)),
    # Gmail's newer wording names the address inside its first sentence.
    _Form("gmail", re.compile(r"Your message wasn.t delivered to (?=\S+@\S+ because)", re.I)),
    # MDaemon: the verdict, then its SMTP session transcript with the RCPT lines.
    _Form("mdaemon", re.compile(r"had PERMANENT fatal delivery errors", re.I)),
    # The Windows SMTP service (IIS, older Exchange) writes its DSN as bare text.
    _Form("dsn-text", re.compile(r"Delivery to the following recipients? failed\.", re.I)),
    # Lotus Notes / Domino: "was not delivered to:" then the address, then
    # "because:" and the router's reason, on lines of their own or in a table.
    _Form("lotus", re.compile(r"was not delivered to:", re.I)),
    _Form(
        "exchange",
        re.compile(
            r"Delivery has failed to these recipients or groups:|"
            r"The following recipient\(s\) could not be reached:|"
            r"did not reach the following recipient\(s\):|"
            r"The following recipient\(s\) cannot be reached:|"
            # German Exchange ("Unzustellbar:").
            r"konnte an folgende Empf\S+nger oder Gruppen nicht \S+bermittelt werden:|"
            # Exchange Online names the address in its first sentence.
            r"^Your message to (?=\S+@\S+ couldn.t be delivered)",
            re.I | re.M,
        ),
    ),
    _Form(
        "yahoo",
        re.compile(
            r"unable to deliver your message to the following address|"
            r"Unable to deliver message to the following address",
            re.I,
        ),
    ),
    _Form(
        "sendmail",
        re.compile(
            r"-+ The following addresses had permanent fatal errors -+|"
            r"-+ Transcript of session follows -+",
            re.I,
        ),
    ),
    _Form("postfix", re.compile(r"This is the (?:mail system|Postfix program) at host", re.I)),
    _Form(
        "groupwise",
        re.compile(r"The message that you sent was undeliverable to the following:", re.I),
    ),
    _Form(
        "aol",
        re.compile(r"Your mail to the following recipients could not be delivered[^\n]*\n", re.I),
    ),
    _Form(
        "generic",
        re.compile(
            r"(?:could not|cannot|can't) be delivered to"
            r"(?: the following(?: recipients?| addresses)?)?:|"
            r"The following addresses did NOT receive a copy",
            re.I,
        ),
    ),
)
# Where the bounce's own words stop and the copy of the original mail starts,
# in the wordings of qmail, Exim, Sendmail, Exchange, Gmail and smaller MTAs.
_COPY_STARTS = re.compile(
    r"^\s*-*\s*(?:Below this line is a copy of the message|"
    r"This is a copy of the message|"
    r"Original message (?:follows|headers? follows?)|"
    r"Original message|Returned message|Unsent message below|"
    r"Message headers follow|Headers of the original message|"
    r"The original message was received|original message follows|"
    r"Original Message Headers|START OF RETURNED MESSAGE|RETURNED MAIL FOLLOWS|"
    r"Unsent Message below)",
    re.I | re.M,
)
# Texts that say delivery is only late: "warning", "will retry", and the
# Exim/Postfix/Sendmail delay notices.
_WARNING = re.compile(
    r"has not yet been delivered|not been delivered yet|this is (?:just |only )?a warning|"
    r"THIS IS A WARNING|advisory[- ]only|delivery attempts will continue|"
    r"will (?:continue to )?(?:re)?try|(?:continue|keep) (?:to )?(?:try|attempt)(?:ing)?|"
    r"has been delayed|has been postponed|still (?:trying|in the queue)",
    re.I,
)
# "Warning:" alone is not enough: MDaemon titles permanent failures so.
_WARNING_SUBJECT = re.compile(r"delayed|has not yet been delivered|delivery delay", re.I)
_QUOTED_FIELD = re.compile(
    r"^[ \t>]*(?:From|To|Cc|Reply-To|Sender|Return-Path|Message-Id|Date|Subject):[^\n]*$",
    re.I | re.M,
)
# RFC 3464 section 2.3.3 says "failed"; "failure" and "error" are seen in the wild.
_FAILED_ACTIONS = frozenset({"failed", "failure", "error"})
# Actions that mean the mail went on its way (RFC 3464 section 2.3.3).
SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
_ACTION = re.compile(r"^Action:[ \t]*(\S+)", re.I | re.M)
_ROUTE_PREFIX = re.compile(r"^(?:smtp|rfc822)[=:]", re.I)
_AOL_NAME = re.compile(r"^[ \t]+([A-Za-z][A-Za-z0-9._-]*)[ \t]*$", re.M)
# Lower-case fragments of the phrases above, tested with `in` before any
# regex runs: a substring scan is far cheaper than the alternation on the
# ordinary mail that bulk import is made of.
_PROBE_WORDS = (
    "deliver",
    "qmail-send",
    "mail system at host",
    "postfix program",
    "fatal errors",
    "transcript of session",
    "could not be reached",
    "recipient(s)",
    "warning only",
    "warning message only",
    "user unknown",
    "unknown user",
    "no such user",
    "mailbox unavailable",
    "does not exist",
    "address rejected",
    "recipient rejected",
    "unknown recipient",
    "invalid recipient",
    "invalid address",
    "invalid mailbox",
    "unrouteable",
    "host unknown",
)


def parse_bounce(msg: ParsedMessage) -> Bounce | None:
    """The delivery report in `msg`, or None when it is not a bounce or names nobody."""
    dsn = _dsn(msg)
    if dsn is not None:
        return dsn
    # A readable delivery-status part that names no failure (a success
    # notice asked for with NOTIFY=SUCCESS, RFC 3461) is believed over its
    # prose, which would otherwise be scanned for addresses.
    actions = delivery_actions(msg)
    if actions and actions <= SUCCESS_ACTIONS:
        return None
    if not _looks_bouncy(msg):
        return None
    return _plain_text(msg) or _forwarded_dsn(msg)


def _forwarded_dsn(msg: ParsedMessage) -> Bounce | None:
    """A DSN that a gateway wrapped as message/rfc822 under its own disclaimer text.

    Only the inner delivery-status part is read: the attached message of an
    ordinary bounce is the original mail, whose addresses are not failures.
    """
    for attachment in msg.attachments:
        if attachment.content_type == "message/rfc822" and b"delivery-status" in attachment.payload:
            inner = _dsn(parse_message(attachment.payload))
            if inner is not None:
                return inner
    return None


def _looks_bouncy(msg: ParsedMessage) -> bool:
    """Cheap gate before the text scans, so bulk import of ordinary mail stays fast."""
    local = (msg.from_.address if msg.from_ else "").lower().partition("@")[0]
    if local in _DAEMON_LOCALS or _BOUNCE_SUBJECT.search(msg.subject):
        return True
    if any(name.lower() == "x-failed-recipients" for name, _ in msg.headers):
        return True
    # A known MTA phrase or failure wording near the top (the copy of the
    # original comes later), as plain substrings: cheap on ordinary mail.
    head = msg.text[:4000].lower()
    return any(word in head for word in _PROBE_WORDS)


# -- RFC 3464 ----------------------------------------------------------------


def _dsn(msg: ParsedMessage) -> Bounce | None:
    recipients: list[FailedRecipient] = []
    for attachment in msg.attachments:
        if attachment.content_type in _DSN_TYPES:
            recipients.extend(dsn_recipients(decode_text(attachment.payload, "utf-8", [])))
    if not recipients:
        return None
    return Bounce(_dedupe(recipients, _excluded(msg)), "dsn")


def delivery_actions(msg: ParsedMessage) -> set[str]:
    """The Action values of all delivery-status parts, lower-cased (RFC 3464 2.3.3)."""
    actions: set[str] = set()
    for attachment in msg.attachments:
        if attachment.content_type in _DSN_TYPES:
            text = decode_text(attachment.payload, "utf-8", [])
            actions.update(a.lower() for a in _ACTION.findall(text))
    return actions


def dsn_recipients(text: str) -> list[FailedRecipient]:
    """Failed and delayed recipients of a delivery-status body (RFC 3464 section 2.3).

    Action: failed means the MTA gave up, so it is permanent even with a 4.x.x
    Status (4.4.7, "delivery time expired", is the usual one). Action: delayed
    is a warning. delivered, relayed and expanded are successes and skipped.
    A block without Action is judged by its Status class, as some MTAs omit it.
    """
    found: list[FailedRecipient] = []
    blocks = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n"))
    # The first block is per-message (Reporting-MTA, Arrival-Date).
    for block in blocks:
        fields = _block_fields(block)
        # Original-Recipient is the address the sender wrote (our subscriber
        # record); Final-Recipient may be an internal rewrite such as
        # "user@sims-ms-daemon" (Sun/iPlanet Messaging Server).
        address = _dsn_address(fields.get("original-recipient", "")) or _dsn_address(
            fields.get("final-recipient", "")
        )
        if not address:
            continue
        # Some MTAs append a comment, "failed (Bad destination mailbox address)".
        action = (fields.get("action", "").split() or [""])[0].lower()
        status = _status(fields.get("status", "")) or _status(fields.get("diagnostic-code", ""))
        if action in _FAILED_ACTIONS:
            found.append(FailedRecipient(address, status, True))
        elif action == "delayed":
            found.append(FailedRecipient(address, status, False))
        elif not action and status[:1] in ("4", "5"):
            found.append(FailedRecipient(address, status, status.startswith("5")))
    return found


def _dsn_address(value: str) -> str:
    """The address in "rfc822; someone@example.org" (RFC 3464 address-type prefix)."""
    kind, semicolon, rest = value.partition(";")
    if not semicolon:
        rest = value
    elif kind.strip().lower() not in ("rfc822", "utf-8", "x-unknown", ""):
        return ""
    match = _ADDRESS.search(rest)
    return _clean(match.group(0)) if match else ""


def _block_fields(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    name = ""
    for line in block.split("\n"):
        if line[:1] in (" ", "\t") and name:
            fields[name] += " " + line.strip()
            continue
        key, colon, value = line.partition(":")
        if colon and " " not in key.strip():
            name = key.strip().lower()
            fields.setdefault(name, value.strip())
    return fields


def _status(text: str) -> str:
    """An RFC 3463 code from `text`, else one derived from an RFC 5321 reply code.

    A bare "550" becomes "5.0.0" (class only, subject and detail unknown).
    """
    enhanced = _ENHANCED.search(text)
    if enhanced:
        return ".".join(enhanced.groups())
    basic = _BASIC.search(text)
    if basic:
        return f"{basic.group(1)}.0.0"
    return ""


# -- Plain-text forms --------------------------------------------------------


def _plain_text(msg: ParsedMessage) -> Bounce | None:
    text = msg.text.replace("\r\n", "\n")
    excluded = _excluded(msg)
    head = _section(text, 0)
    warning = bool(_WARNING.search(head) or _WARNING_SUBJECT.search(msg.subject))
    automatic = _looks_like_report(msg)
    for form in _FORMS:
        # The generic wordings are ones a person may write too; only an
        # automatic-looking sender's text is read for them.
        if form.kind == "generic" and not automatic:
            continue
        start = form.start.search(text)
        if not start:
            continue
        section = _section(text, start.end())
        if form.kind == "aol":
            # AOL lists bare screen names; the domain is implied.
            section = _AOL_NAME.sub(r"\1@aol.com", section)
        recipients = _recipients(section, not (form.warning or warning), excluded)
        if recipients:
            return Bounce(recipients, form.kind)
    header = _x_failed_recipients(msg, excluded)
    if header:
        return Bounce(header, "exim")
    if automatic:
        recipients = _recipients(_strip_quoted_fields(head), not warning, excluded)
        if recipients:
            return Bounce(recipients, "generic")
    return None


def _strip_quoted_fields(text: str) -> str:
    """Drop the original's header lines that bounces quote (they name the sender)."""
    return _QUOTED_FIELD.sub("", text)


def _section(text: str, start: int) -> str:
    """Text from `start` up to where the copy of the original message begins."""
    end = _COPY_STARTS.search(text, start)
    return text[start : end.start() if end else start + 6000]


def _recipients(section: str, permanent: bool, excluded: set[str]) -> tuple[FailedRecipient, ...]:
    """Addresses in a bounce section, each with the status code written after it.

    Addresses that open a line (qmail "<a>:", Exim and Gmail indented, Postfix
    "<a>: host ... said") are the recipient list; other addresses are only
    taken when no line starts with one, as they are often hosts' contacts.
    """
    hits = list(_ADDRESS.finditer(section))
    leading = [m for m in hits if _opens_line(section, m.start())]
    chosen = leading or hits
    found: list[FailedRecipient] = []
    for index, match in enumerate(chosen):
        stop = chosen[index + 1].start() if index + 1 < len(chosen) else len(section)
        after = section[match.end() : min(stop, match.end() + 600)]
        status = _status(after)
        address = _clean(match.group(0))
        if address:
            found.append(FailedRecipient(address, status, permanent))
    return _dedupe(found, excluded)


def _clean(address: str) -> str:
    """Drop Exchange's "smtp=" / "SMTP:" routing prefix; refuse truncated "a...@b" forms."""
    address = _ROUTE_PREFIX.sub("", address.strip(".'`"))
    local = address.partition("@")[0]
    return "" if ".." in local or local.startswith(".") else address


def _opens_line(text: str, index: int) -> bool:
    line_start = text.rfind("\n", 0, index) + 1
    prefix = text[line_start:index]
    # Sendmail notes an alias as "(expanded from: list@example.org)".
    return not prefix.strip(" \t<\"'*-:>") or prefix.strip().lower() in (
        "to:",
        "rcpt to:",
        "(expanded from:",
    )


def _x_failed_recipients(msg: ParsedMessage, excluded: set[str]) -> tuple[FailedRecipient, ...]:
    """Exim's X-Failed-Recipients header, used when the body names nobody."""
    found = [
        FailedRecipient(m.group(0), "", True)
        for name, value in msg.headers
        if name.lower() == "x-failed-recipients"
        for m in _ADDRESS.finditer(value)
    ]
    return _dedupe(found, excluded)


def _looks_like_report(msg: ParsedMessage) -> bool:
    """A daemon sender, a report part or a bounce subject: the generic scan is then trusted.

    A reply in a conversation ("Re: Mail delivery problems" answering an
    earlier message) is a person writing about a bounce, not the bounce
    itself. A reply prefix alone is not enough: some gateways title their
    bounces "RE: <original subject> : non remis (delivery failed)".
    """
    local = (msg.from_.address if msg.from_ else "").lower().partition("@")[0]
    if local in _DAEMON_LOCALS:
        return True
    if any(a.content_type in _DSN_TYPES for a in msg.attachments):
        return True
    answers = bool(msg.in_reply_to or msg.references) and bool(_REPLY_PREFIX.match(msg.subject))
    return not answers and bool(_BOUNCE_SUBJECT.search(msg.subject))


def _excluded(msg: ParsedMessage) -> set[str]:
    """The bounce's own sender and the original sender it is addressed to."""
    own = {a.address.lower() for a in (*msg.to, *msg.cc, *msg.reply_to) if a.address}
    if msg.from_ and msg.from_.address:
        own.add(msg.from_.address.lower())
    return own


def _dedupe(recipients: list[FailedRecipient], excluded: set[str]) -> tuple[FailedRecipient, ...]:
    """First mention wins; a permanent mention beats a delayed one; skip daemons."""
    chosen: dict[str, FailedRecipient] = {}
    for recipient in recipients:
        key = recipient.address.lower()
        if key in excluded or key.partition("@")[0] in _NOT_RECIPIENT_LOCALS:
            continue
        old = chosen.get(key)
        if old is None or (recipient.permanent and not old.permanent):
            chosen[key] = FailedRecipient(
                recipient.address,
                recipient.status or (old.status if old else ""),
                recipient.permanent,
            )
        elif not old.status and recipient.status:
            chosen[key] = FailedRecipient(old.address, recipient.status, old.permanent)
    return tuple(chosen.values())
