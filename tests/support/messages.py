"""Mail for tests: small made-up messages and conversations (fictional people at
example.com), and the real mailing-list corpora when ../shared/corpora has them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from mail.archive import read_archive
from tests.support import paths

CORPORA = paths.CORPORA


def make_mail(
    subject: str = "Budget review",
    *,
    sender: str = "Ana Lima <ana@example.com>",
    to: str = "eng@lists.example.com",
    cc: str = "",
    msgid: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    body: str = "Hello all,\nplease see the plan.\n",
    date: datetime | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A small RFC 5322 message as bytes (fictional people at example.com)."""
    m = EmailMessage()
    m["From"] = sender
    m["To"] = to
    if cc:
        m["Cc"] = cc
    m["Subject"] = subject
    m["Date"] = format_datetime(date or datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    if msgid:
        m["Message-ID"] = f"<{msgid}>"
    if in_reply_to:
        m["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        m["References"] = references
    for name, value in (headers or {}).items():
        m[name] = value
    m.set_content(body)
    return bytes(m)


def conversation(n: int = 3, prefix: str = "c") -> list[bytes]:
    """A root and n-1 replies, each replying to the previous one."""
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        refs = " ".join(f"<{prefix}{j}@example.com>" for j in range(i))
        out.append(
            make_mail(
                ("Re: " if i else "") + "Rollout plan",
                sender=f"Person {i} <p{i}@example.com>",
                cc="x@example.com, y@example.com",
                msgid=f"{prefix}{i}@example.com",
                in_reply_to=f"{prefix}{i - 1}@example.com" if i else None,
                references=refs or None,
                body=f"Message number {i} about the rollout.\n",
                date=base + timedelta(hours=i),
            )
        )
    return out


def corpus_messages(name: str, limit: int | None = None) -> Iterator[bytes]:
    """Raw messages of a ../shared/corpora mbox.xz; the test skips when it is absent."""
    files = sorted((CORPORA / name).glob("*.mbox.xz")) if CORPORA.is_dir() else []
    if not files:
        pytest.skip(f"corpus {name} not available (../shared/corpora)")
    for count, item in enumerate(read_archive(files[0]), start=1):
        yield item.raw
        if limit is not None and count >= limit:
            return
