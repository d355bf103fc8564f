"""Shared fixtures: a core on a temporary data directory, message builders, corpora."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.core import Core, open_core
from bridge.settings import Settings, load_settings
from mail.archive import read_archive
from tests.backend import DATABASES
from tests.dnsstub import DNSStub

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


@pytest.fixture(scope="session", autouse=True)
def _databases() -> Iterator[None]:
    yield
    DATABASES.close()


def settings_for(data: Path, **overrides: Any) -> Settings:
    """Settings for a test: its own data dir and, on PostgreSQL, its own empty database.

    Sender authentication is off unless a test turns it on: these machines
    resolve no outside names, and tests/test_sender_trust.py checks senders
    against a DNS stub of its own.
    """
    overrides.setdefault("verify_senders", "off")
    return load_settings(data=data, database_url=DATABASES.new_url() or None, **overrides)


def bridge_env(data: Path, **extra: str) -> dict[str, str]:
    """Environment for running `bridge` as a subprocess against a fresh store."""
    env = {
        "BRIDGE_DATA": str(data),
        "PATH": "/usr/bin:/bin",
        "HOME": str(data.parent),
        "BRIDGE_VERIFY_SENDERS": "off",  # as in settings_for
    }
    if url := DATABASES.new_url():
        env["BRIDGE_DATABASE_URL"] = url
    return {**env, **extra}


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    c = open_core(settings_for(tmp_path / "data"))
    yield c
    c.close()


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


@pytest.fixture
def dns_stub() -> Iterator[DNSStub]:
    """A DNS server on loopback (tests/dnsstub.py): publish records, count queries."""
    with DNSStub() as stub:
        yield stub
