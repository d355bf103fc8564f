"""Decide what kind of mail a parsed message is before anyone publishes it.

Auto-replies, bounces and our own mail coming back must not become community
posts (and must never be answered: RFC 3834 section 2). Mailing-list traffic
looks automatic to naive checks (lists add "Precedence: bulk" or "list"), so
list evidence is weighed first. Sensitivity labels, from the RFC 2156
Sensitivity field or a Microsoft Purview label, let a moderator hold private
mail. Every decision carries a human-readable reason for the admin log.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32
from enum import StrEnum

from mail.bounce import SUCCESS_ACTIONS, Bounce, delivery_actions, dsn_recipients, parse_bounce
from mail.charsets import decode_text
from mail.headers import normalize_address
from mail.parse import ParsedMessage

LOOP_HEADER = "x-commons-bridge-loop"

_LIST_HEADERS = ("list-id", "list-post", "list-unsubscribe", "mailing-list", "x-mailing-list")
_AUTO_REPLY_PRECEDENCE = frozenset({"bulk", "junk", "auto_reply"})
# Prefixes that Outlook, Exchange, Gmail and common vacation responders put
# on their automatic answers, in the languages we meet.
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:(?:auto(?:matic)?[ -]?reply|auto response|autosvar|abwesenheitsnotiz|"
    r"automatische antwort|r[ée]ponse automatique|risposta automatica|"
    r"respuesta autom[áa]tica|automatisch antwoord|vacation reply)\b|"
    r"out of (?:the )?office(?: reply| autoreply)?\s*:|out of (?:the )?office\s*$)",
    re.I,
)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliver(?:ed|able)|delivery status notification|mail delivery (?:failed|failure|"
    r"system)|returned mail|failure notice|delivery failure|non[- ]delivery|"
    r"unzustellbar|nicht zustellbar|non remis|undelivered mail returned to sender|"
    r"delivery (?:delayed|has failed|notification)|delayed mail)",
    re.I,
)
# Exchange sends its NDRs from a system mailbox whose name is the same everywhere;
# MDaemon signs its own as MDaemon@host.
_DAEMON_SENDERS = frozenset(
    {
        "mailer-daemon",
        "mail-daemon",
        "mdaemon",
        "microsoftexchange329e71ec88ae4615bbc36ab6ce41109e",
    }
)
_SENSITIVITY_VALUES = frozenset({"normal", "personal", "private", "company-confidential"})
_MSIP_FIELD = re.compile(r"MSIP_Label_([0-9a-f-]+)_(\w+)\s*=\s*([^;]*)", re.I)


@dataclass(frozen=True, slots=True)
class Classification:
    """What the pipeline must know before publishing; `reasons` explains each flag.

    `bounce` means delivery failed for good (`failed_recipients`, with status
    codes in `bounce_report`). A delay warning is not a bounce: it is
    automatic mail (`auto_reply`), held from posting, with its delayed
    recipients in `bounce_report` marked `permanent=False`.
    """

    auto_reply: bool = False
    bounce: bool = False
    failed_recipients: list[str] = field(default_factory=list)
    bounce_report: Bounce | None = None
    loop: bool = False
    sensitivity: str | None = None
    # "S/MIME" or "PGP" when the content is encrypted: readable only by its recipients.
    encrypted: str | None = None
    reasons: tuple[str, ...] = ()


class _Headers:
    """Case-insensitive access to a message's decoded header fields."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self.values: dict[str, list[str]] = {}
        for name, value in fields:
            self.values.setdefault(name.lower(), []).append(value)

    def first(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[0] if found else None

    def has(self, name: str) -> bool:
        return name in self.values


def classify(msg: ParsedMessage) -> Classification:
    """Classify one parsed message."""
    headers = _Headers(msg.headers)
    reasons: list[str] = []
    report = _report_type(headers)
    bounce, failed, bounce_report = _bounce(msg, headers, report, reasons)
    # A bounce often says "Auto-Submitted: auto-replied" too; it is reported
    # as what it is, so that its failed recipients are acted on.
    auto_reply = not bounce and _auto_reply(msg, headers, report, reasons)
    if not bounce and bounce_report is not None and bounce_report.delay_only:
        delayed = ", ".join(r.address for r in bounce_report.recipients)
        reasons.append(f"delivery delay warning for {delayed}: automatic, not a failure")
        auto_reply = True
    elif not bounce and report == "delivery-status":
        reasons.append("delivery status notification reporting success only (RFC 3464)")
        auto_reply = True
    loop = headers.has(LOOP_HEADER)
    if loop:
        reasons.append("X-Commons-Bridge-Loop present: the bridge sent this mail")
    sensitivity = _sensitivity(headers, reasons)
    encrypted = _encryption(msg, headers)
    if encrypted:
        reasons.append(f"encrypted with {encrypted}: meant for its recipients only")
    return Classification(
        auto_reply=auto_reply,
        bounce=bounce,
        failed_recipients=failed,
        bounce_report=bounce_report,
        loop=loop,
        sensitivity=sensitivity,
        encrypted=encrypted,
        reasons=tuple(reasons),
    )


def _is_list_traffic(headers: _Headers) -> bool:
    """RFC 2369/2919 list fields, or "Precedence: list", mark mail relayed by a list."""
    precedence = (headers.first("precedence") or "").strip().lower()
    return precedence == "list" or any(headers.has(name) for name in _LIST_HEADERS)


def _auto_reply(
    msg: ParsedMessage, headers: _Headers, report: str | None, reasons: list[str]
) -> bool:
    before = len(reasons)
    submitted = (headers.first("auto-submitted") or "").split(";")[0].strip().lower()
    if submitted and submitted != "no":
        reasons.append(f"Auto-Submitted: {submitted} (RFC 3834)")
    for name in ("x-autoreply", "x-autorespond"):
        if headers.has(name):
            reasons.append(f"{name.title()} header present")
    precedence = (headers.first("precedence") or "").strip().lower()
    if precedence in _AUTO_REPLY_PRECEDENCE and not _is_list_traffic(headers):
        reasons.append(f"Precedence: {precedence} outside list traffic")
    if _AUTO_REPLY_SUBJECT.match(msg.subject):
        reasons.append(f"auto-reply subject {msg.subject[:60]!r}")
    if report == "disposition-notification":
        reasons.append("read receipt (RFC 8098 disposition notification)")
    # X-Auto-Response-Suppress is deliberately ignored: Outlook sets it on
    # ordinary mail to ask others not to auto-reply.
    return len(reasons) > before


def _report_type(headers: _Headers) -> str | None:
    """The report-type of a multipart/report message (RFC 6522), else None."""
    content_type = headers.first("content-type")
    if not content_type:
        return None
    probe = Message(policy=compat32)
    probe["Content-Type"] = content_type
    if probe.get_content_type() != "multipart/report":
        return None
    return str(probe.get_param("report-type") or "").strip().lower()


def _bounce(
    msg: ParsedMessage, headers: _Headers, report: str | None, reasons: list[str]
) -> tuple[bool, list[str], Bounce | None]:
    """Whether delivery failed, for whom, and the parsed report (mail.bounce).

    Only automatic-looking mail is parsed, which keeps bulk import fast and
    keeps a person quoting a bounce in a discussion from being held.
    """
    dsn = report == "delivery-status"
    daemon = _looks_like_bounce(msg, headers)
    if not (dsn or daemon or _automatic_sender(headers)):
        return False, [], None
    parsed = parse_bounce(msg)
    if parsed is not None and parsed.delay_only:
        return False, [], parsed
    actions = delivery_actions(msg) if dsn and parsed is None else set()
    if actions and actions <= SUCCESS_ACTIONS:
        return False, [], None  # classify() holds it as automatic mail
    if dsn:
        reasons.append("delivery status notification (RFC 3464 multipart/report)")
    elif daemon:
        reasons.append("bounce: from a mailer daemon, or a bounce subject from postmaster or <>")
    elif parsed is not None:
        reasons.append(f"bounce: {parsed.kind} failure report from an automatic sender")
    else:
        return False, [], None
    failed = [normalize_address(r.address) for r in parsed.failed] if parsed else []
    if not failed:
        # Exim names the failed addresses in a header of its own.
        for value in headers.values.get("x-failed-recipients", []):
            failed.extend(normalize_address(a) for a in value.split(",") if a.strip())
    return True, list(dict.fromkeys(failed)), parsed


def _automatic_sender(headers: _Headers) -> bool:
    """Auto-Submitted other than "no" (RFC 3834) or a null return path (RFC 5321 4.5.5)."""
    submitted = (headers.first("auto-submitted") or "").split(";")[0].strip().lower()
    null_sender = headers.has("return-path") and (headers.first("return-path") or "") in ("<>", "")
    return (bool(submitted) and submitted != "no") or null_sender


def _looks_like_bounce(msg: ParsedMessage, headers: _Headers) -> bool:
    """Bounces without an RFC 3464 report (qmail, old Exchange, Exim).

    MAILER-DAEMON sends nothing else, and X-Failed-Recipients is Exim's bounce
    mark. A postmaster address or a null return path (RFC 5321 section 4.5.5,
    `MAIL FROM:<>`) also needs a bounce-like subject: postmasters are people
    too, RFC 3834 auto-replies use the null path, and spam forges both.
    """
    local = (msg.from_.address if msg.from_ else "").lower().partition("@")[0]
    if local in _DAEMON_SENDERS or headers.has("x-failed-recipients"):
        return True
    null_sender = headers.has("return-path") and (headers.first("return-path") or "") in ("<>", "")
    return (local == "postmaster" or null_sender) and bool(_BOUNCE_SUBJECT.match(msg.subject))


def failed_recipients(report: bytes) -> list[str]:
    """Addresses given up on in a message/delivery-status body (RFC 3464 section 2.3)."""
    text = decode_text(report, "utf-8", [])
    return [normalize_address(r.address) for r in dsn_recipients(text) if r.permanent]


def _sensitivity(headers: _Headers, reasons: list[str]) -> str | None:
    """Sensitivity (RFC 2156) wins when it marks mail private; else a Purview label."""
    declared = (headers.first("sensitivity") or "").strip().lower()
    declared = declared if declared in _SENSITIVITY_VALUES else ""
    if declared and declared != "normal":
        reasons.append(f"Sensitivity: {declared}")
        return declared
    label = _purview_label(headers.first("msip_labels") or "")
    if label:
        reasons.append(f"Microsoft Purview label {label!r}")
        return label
    return declared or None


def _purview_label(value: str) -> str | None:
    """The Name of the first enabled label in an msip_labels field.

    Outlook writes "MSIP_Label_<guid>_Enabled=true; MSIP_Label_<guid>_Name=Confidential; ..."
    for each label applied.
    """
    labels: dict[str, dict[str, str]] = {}
    for guid, key, item in _MSIP_FIELD.findall(value):
        labels.setdefault(guid.lower(), {})[key.lower()] = item.strip()
    for label in labels.values():
        if label.get("enabled", "true").lower() == "true" and label.get("name"):
            return label["name"].lower()
    return None


# How a label's name reads when an admin has not listed it. Purview's own
# defaults name labels "Public", "General", "Confidential", "Highly
# Confidential", with sub-labels such as "All Employees (unrestricted)",
# "Anyone (unrestricted)" and "Trusted People"; older tenants have
# "Personal"/"Non-Business". A word that marks the label confidential wins
# over one that marks it open ("Confidential - Anyone (unrestricted)" still
# protects its content). German, French, Spanish, Italian and Dutch tenants
# translate the defaults.
_CONFIDENTIAL_WORDS = re.compile(
    r"\b(?:confidential|secret|restricted|private|personal|sensitive|vertraulich|geheim|"
    r"confidentiel|confidencial|riservato|riservata|vertrouwelijk)\b",
    re.I,
)
_OPEN_WORDS = re.compile(
    r"\b(?:unrestricted|public|general|non-?business|normal|öffentlich|allgemein|général|"
    r"generale|público|publico|pubblico|openbaar|algemeen)\b",
    re.I,
)


class LabelVerdict(StrEnum):
    """What a sensitivity label means for publishing."""

    publish = "publish"  # open: published like unlabelled mail
    moderate = "moderate"  # not known: a moderator decides
    confidential = "confidential"  # never published; an admin alone releases it


def label_verdict(
    label: str, publishable: Collection[str], confidential: Collection[str]
) -> LabelVerdict:
    """Publish, moderate or protect mail with this label (lower-cased, as `classify` gives it).

    An admin's lists decide first (BRIDGE_CONFIDENTIAL_LABELS, then
    BRIDGE_PUBLISHABLE_LABELS, exact names). Otherwise the name is read: a
    confidential word ("Highly Confidential - Finance", "Secret", "Restricted")
    protects it; an open one ("All Employees (unrestricted)", "Non-Business",
    "Public - Website") publishes it; any other name ("Internal", "Project X")
    waits for a moderator, since a label the bridge cannot read is a decision
    someone in the organisation made on purpose.
    """
    name = " ".join(label.lower().split())
    if name in confidential:
        return LabelVerdict.confidential
    if name in publishable:
        return LabelVerdict.publish
    if _CONFIDENTIAL_WORDS.search(name):
        return LabelVerdict.confidential
    if _OPEN_WORDS.search(name):
        return LabelVerdict.publish
    return LabelVerdict.moderate


_PGP_ARMOR = re.compile(r"^-----BEGIN PGP MESSAGE-----$", re.M)


def _encryption(msg: ParsedMessage, headers: _Headers) -> str | None:
    """S/MIME enveloped data (RFC 8551), PGP/MIME (RFC 3156) or an inline PGP block.

    Signed-only mail (multipart/signed, smime-type=signed-data) is readable by
    anyone and is not reported.
    """
    ctype = (headers.first("content-type") or "").lower()
    kind = ctype.split(";", 1)[0].strip()
    if kind in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        return None if "signed-data" in ctype else "S/MIME"
    if kind == "multipart/encrypted":
        return "PGP" if "pgp" in ctype else "S/MIME"
    if _PGP_ARMOR.search(msg.text):
        return "PGP"
    return None


def subject_tag(subject: str, tags: Iterable[str]) -> str | None:
    """The first of an admin's confidentiality tags ("[Confidential]", "HR-only") in a subject.

    Tags match case-insensitively as whole tokens, so "private" does not match "privately".
    """
    for tag in tags:
        tag = tag.strip()
        if tag and re.search(rf"(?<!\w){re.escape(tag)}(?!\w)", subject, re.I):
            return tag
    return None
