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
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32

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
    r"unzustellbar|nicht zustellbar|non remis|undelivered mail returned to sender)",
    re.I,
)
_DAEMON_SENDERS = frozenset({"mailer-daemon", "mail-daemon"})
_SENSITIVITY_VALUES = frozenset({"normal", "personal", "private", "company-confidential"})
_MSIP_FIELD = re.compile(r"MSIP_Label_([0-9a-f-]+)_(\w+)\s*=\s*([^;]*)", re.I)


@dataclass(frozen=True, slots=True)
class Classification:
    """What the pipeline must know before publishing; `reasons` explains each flag."""

    auto_reply: bool = False
    bounce: bool = False
    failed_recipients: list[str] = field(default_factory=list)
    loop: bool = False
    sensitivity: str | None = None
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
    bounce, failed = _bounce(msg, headers, report, reasons)
    # A bounce often says "Auto-Submitted: auto-replied" too; it is reported
    # as what it is, so that its failed recipients are acted on.
    auto_reply = not bounce and _auto_reply(msg, headers, report, reasons)
    loop = headers.has(LOOP_HEADER)
    if loop:
        reasons.append("X-Commons-Bridge-Loop present: the bridge sent this mail")
    sensitivity = _sensitivity(headers, reasons)
    return Classification(
        auto_reply=auto_reply,
        bounce=bounce,
        failed_recipients=failed,
        loop=loop,
        sensitivity=sensitivity,
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
) -> tuple[bool, list[str]]:
    if report == "delivery-status":
        reasons.append("delivery status notification (RFC 3464 multipart/report)")
    elif _looks_like_bounce(msg, headers):
        reasons.append("bounce: from a mailer daemon, or a bounce subject from postmaster or <>")
    else:
        return False, []
    failed: list[str] = []
    for attachment in msg.attachments:
        if attachment.content_type in ("message/delivery-status", "message/global-delivery-status"):
            failed.extend(failed_recipients(attachment.payload))
    if not failed:
        # Exim names the failed addresses in a header of its own.
        for value in headers.values.get("x-failed-recipients", []):
            failed.extend(normalize_address(a) for a in value.split(",") if a.strip())
    return True, list(dict.fromkeys(failed))


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
    """Addresses with "Action: failed" in a message/delivery-status body (RFC 3464 section 2.3)."""
    text = decode_text(report, "utf-8", [])
    found: list[str] = []
    for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")):
        fields = _block_fields(block)
        action = fields.get("action", "").lower()
        status = fields.get("status", "")
        # Action is required per recipient; some MTAs omit it but send a 5.x.x status.
        if action == "failed" or (not action and status.startswith("5")):
            recipient = fields.get("final-recipient") or fields.get("original-recipient")
            if recipient:
                found.append(normalize_address(recipient.split(";", 1)[-1].strip().strip("<>")))
    return found


def _block_fields(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    name = ""
    for line in block.split("\n"):
        if line[:1] in (" ", "\t") and name:
            fields[name] += " " + line.strip()
            continue
        key, colon, value = line.partition(":")
        if colon:
            name = key.strip().lower()
            fields.setdefault(name, value.strip())
    return fields


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
