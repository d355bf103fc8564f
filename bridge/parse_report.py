"""What `bridge parse` prints: one message file as the pipeline sees it, as JSON or text.

`parse_file` reads and parses one file (no database); `text_report` lays the
same facts out for a person: the headers the bridge uses, what it guessed
(defects), whether it is an auto-reply or a bounce, then the visible text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.errors import UsageError
from mail.classify import classify
from mail.parse import parse_message

# Enough of the body to recognise the message; --json has all of it.
TEXT_LINES = 20
# C0 and C1 controls but tab and newline: mail is written by strangers, and an
# escape sequence printed raw would drive the operator's terminal.
_CONTROLS = dict.fromkeys([*range(0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)])


def printable(text: str) -> str:
    """`text` without the control characters a terminal would act on."""
    return text.translate(_CONTROLS)


def parse_file(file: Path) -> dict[str, Any]:
    """The JSON-ready summary of one message file."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"{file}: {exc.strerror or exc}") from exc
    parsed = parse_message(data)
    result = classify(parsed)
    report = result.bounce_report
    return {
        "file": str(file),
        **parsed.to_json(),
        "auto_reply": result.auto_reply,
        # Failed and delayed recipients (permanent false) of a bounce or DSN.
        "bounce": report.to_json() if report else None,
    }


def _who(address: dict[str, Any] | None) -> str:
    if not address:
        return "(none)"
    name, addr = address.get("name") or "", address.get("address") or ""
    return f"{name} <{addr}>" if name and name != addr else addr or name


def text_report(out: dict[str, Any]) -> str:
    """The summary as indented lines a person reads at a glance."""
    lines = [str(out["file"])]

    def field(label: str, value: object) -> None:
        if value not in (None, "", []):
            lines.append(f"  {label + ':':<12} {value}")

    field("Subject", out["subject"] or "(no subject)")
    field("From", _who(out["from"]))
    field("To", ", ".join(_who(a) for a in out["to"]))
    field("Cc", ", ".join(_who(a) for a in out["cc"]))
    field("Date", out["date"] or "(none)")
    field("Message-ID", out["message_id"] or "(none)")
    field("In-Reply-To", out["in_reply_to"])
    if out["references"]:
        field("References", f"{len(out['references'])} message(s)")
    for a in out["attachments"]:
        field("Attachment", f"{a['filename'] or '(unnamed)'} ({a['content_type']}, {a['size']} B)")
    if out["auto_reply"]:
        field("Auto-reply", "yes (not filed as a post)")
    if out["bounce"]:
        field("Bounce", "yes: a delivery report")
    field("Defects", "; ".join(out["defects"]) or "none")
    text = (out["visible_text"] or "").strip().splitlines()
    lines.append("")
    lines += [f"  | {line}".rstrip() for line in text[:TEXT_LINES]] or ["  | (no text)"]
    if len(text) > TEXT_LINES:
        lines.append(f"  | … {len(text) - TEXT_LINES} more line(s); --json shows all")
    if out["quoted_text"]:
        lines.append(f"  ({len(out['quoted_text'].splitlines())} quoted line(s) folded away)")
    return printable("\n".join(lines))
