"""Delivery to a relay: a second aiosmtpd server on loopback plays the relay, and misbehaves.

The relay records what it accepted; a script decides its answer to each
message (accept, 4xx, 5xx at RCPT or DATA, or a stall longer than our
timeout). A relay that is down is a port nobody listens on.
"""

from __future__ import annotations

import email
import time
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bridge import admin
from bridge.core import Core, open_core
from bridge.outbound.notices import send_notice
from bridge.outbound.sender import Sender, queue_notice
from mail.envelope import Envelope, Receipt
from tests.support.env import settings_for
from tests.support.net import free_port
from tests.support.relay import RelayHandler
from threads.db import writer
from threads.models import MailAddress, OutboundMail, utcnow

DOMAIN = "bridge.example"


@pytest.fixture
def relay(recording_relay: tuple[int, RelayHandler]) -> tuple[int, RelayHandler]:
    return recording_relay


def make_core(tmp_path: Path, port: int, **overrides: Any) -> Core:
    settings = settings_for(
        tmp_path / "data",
        mail_domain=DOMAIN,
        smtp_relay=f"127.0.0.1:{port}",
        **{"smtp_relay_tls": "none", **overrides},
    )
    core = open_core(settings)
    with writer(core.engine).begin() as conn:
        admin.add_community(conn, "eng", "Engineering", addresses=["eng@lists.example.com"])
    return core


def queued(core: Core, to: str = "ana@example.com") -> int:
    mail_id, _ = queue_notice(core.engine, core.settings, to, "Your login link", "Click it.")
    return mail_id


def row(core: Core, mail_id: int) -> Any:
    with core.engine.connect() as conn:
        return conn.execute(select(OutboundMail).where(OutboundMail.id == mail_id)).one()


def make_due(core: Core, mail_id: int, *, age: timedelta = timedelta(0)) -> None:
    """Skip the backoff wait (and, with `age`, pretend the mail was queued that long ago)."""
    with writer(core.engine).begin() as conn:
        conn.execute(
            update(OutboundMail.__table__)
            .where(OutboundMail.__table__.c.id == mail_id)
            .values(next_attempt_at=utcnow(), created_at=utcnow() - age)
        )


def test_relay_takes_mail_with_verp_envelope(tmp_path: Path, relay: Any) -> None:
    """Delivered: the relay got the bytes, MAIL FROM is our signed bounce address."""
    port, handler = relay
    core = make_core(tmp_path, port)
    try:
        mail_id = queued(core)
        assert Sender(core.engine, core.settings).deliver_due() == (1, 0, 0)
        ((mail_from, rcpts, content),) = handler.received
        assert rcpts == ["ana@example.com"]
        assert mail_from.startswith("bounces+")
        assert mail_from.endswith("@" + DOMAIN)
        msg = email.message_from_bytes(content, policy=policy.default)
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["Subject"] == "Your login link"
        done = row(core, mail_id)
        assert (done.state, done.attempts) == ("sent", 1)
    finally:
        core.close()


def test_relay_down_defers_with_backoff(tmp_path: Path) -> None:
    """Nobody listening: the mail stays queued, the next attempt waits, the error is kept."""
    core = make_core(tmp_path, free_port(), outbound_retry_seconds=60)
    try:
        mail_id = queued(core)
        sender = Sender(core.engine, core.settings)
        assert sender.deliver_due() == (0, 1, 0)
        first = row(core, mail_id)
        assert (first.state, first.attempts) == ("queued", 1)
        assert "unreachable" in first.last_error
        wait = first.next_attempt_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
        assert timedelta(seconds=50) < wait <= timedelta(seconds=60)
        assert sender.deliver_due() == (0, 0, 0)  # not due yet
        make_due(core, mail_id)
        sender.deliver_due()
        second = row(core, mail_id)
        wait = second.next_attempt_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
        assert second.attempts == 2
        assert timedelta(seconds=110) < wait <= timedelta(seconds=120)  # doubled
    finally:
        core.close()


def test_slow_relay_times_out_and_is_retried(tmp_path: Path, relay: Any) -> None:
    """A relay that stalls past the timeout counts as a temporary failure."""
    port, handler = relay
    handler.stall = 3.0
    core = make_core(tmp_path, port, smtp_relay_timeout=1)
    try:
        mail_id = queued(core)
        started = time.monotonic()
        assert Sender(core.engine, core.settings).deliver_due() == (0, 1, 0)
        assert time.monotonic() - started < 3.0
        assert "timed out" in row(core, mail_id).last_error
        handler.stall = 0
        make_due(core, mail_id)
        assert Sender(core.engine, core.settings).deliver_due() == (1, 0, 0)
    finally:
        core.close()


def test_4xx_then_success(tmp_path: Path, relay: Any) -> None:
    """451 is retried; the next attempt succeeds and the relay has exactly one copy."""
    port, handler = relay
    handler.script = ["451 4.3.0 try again later"]
    core = make_core(tmp_path, port)
    try:
        mail_id = queued(core)
        sender = Sender(core.engine, core.settings)
        assert sender.deliver_due() == (0, 1, 0)
        assert "451" in row(core, mail_id).last_error
        make_due(core, mail_id)
        assert sender.deliver_due() == (1, 0, 0)
        assert len(handler.received) == 1
        assert row(core, mail_id).attempts == 2
    finally:
        core.close()


def test_5xx_gives_up_at_once_and_counts_a_hard_bounce(tmp_path: Path, relay: Any) -> None:
    """550 at RCPT: failed with the relay's answer; the address has a hard bounce."""
    port, handler = relay
    handler.script = ["rcpt 550 5.1.1 no such user"]
    core = make_core(tmp_path, port, bounce_limit=1)
    try:
        mail_id = queued(core, "gone@example.com")
        assert Sender(core.engine, core.settings).deliver_due() == (0, 0, 1)
        failed = row(core, mail_id)
        assert failed.state == "failed"
        assert "550" in failed.last_error
        with core.engine.connect() as conn:
            (address,) = conn.execute(select(MailAddress)).all()
        assert (address.address, address.hard_bounces, address.disabled) == (
            "gone@example.com",
            1,
            True,
        )
        # Mail to a disabled address is cancelled without asking the relay.
        later = queued(core, "gone@example.com")
        Sender(core.engine, core.settings).deliver_due()
        assert row(core, later).state == "cancelled"
        assert handler.received == []
    finally:
        core.close()


def test_5xx_at_data_fails_without_marking_the_address(tmp_path: Path, relay: Any) -> None:
    """A content refusal (554 at DATA) is given up, but says nothing about the address."""
    port, handler = relay
    handler.script = ["554 5.7.1 message refused"]
    core = make_core(tmp_path, port)
    try:
        mail_id = queued(core)
        assert Sender(core.engine, core.settings).deliver_due() == (0, 0, 1)
        assert "554" in row(core, mail_id).last_error
        with core.engine.connect() as conn:
            assert conn.execute(select(MailAddress)).all() == []
    finally:
        core.close()


def test_gives_up_after_the_configured_time(tmp_path: Path) -> None:
    """Deferred mail older than outbound_give_up_hours is failed with the last reason."""
    core = make_core(tmp_path, free_port(), outbound_give_up_hours=1)
    try:
        mail_id = queued(core)
        make_due(core, mail_id, age=timedelta(hours=2))
        assert Sender(core.engine, core.settings).deliver_due() == (0, 0, 1)
        failed = row(core, mail_id)
        assert failed.state == "failed"
        assert failed.last_error.startswith("gave up after 1 attempts")
        assert "unreachable" in failed.last_error
    finally:
        core.close()


def test_notice_with_relay_is_queued_for_the_sender(tmp_path: Path, relay: Any) -> None:
    """send_notice never waits on a relay: the sender role delivers it."""
    port, handler = relay
    core = make_core(tmp_path, port)
    try:
        message_id = send_notice(core.settings, "ana@example.com", "Sign in", "Your link.")
        assert handler.received == []
        Sender(core.engine, core.settings).run_once()
        ((_f, _r, content),) = handler.received
        assert f"<{message_id}>".encode() in content
    finally:
        core.close()


def test_notice_without_relay_is_in_the_outbox_at_once(tmp_path: Path) -> None:
    """The embedded default: the login link is in DATA/outbox when send_notice returns."""
    import mailbox

    core = open_core(settings_for(tmp_path / "data", mail_domain=DOMAIN))
    try:
        message_id = send_notice(core.settings, "ana@example.com", "Sign in", "Your link.")
        (msg,) = list(mailbox.Maildir(core.settings.outbox_dir))
        assert msg["Message-ID"] == f"<{message_id}>"
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["To"] == "ana@example.com"
    finally:
        core.close()


# --- STARTTLS and AUTH at the relay: our own listener plays a relay that demands both ---------


class Recorder:
    """An inbox that keeps what the relay accepted, with the envelope it came in."""

    def __init__(self) -> None:
        self.items: list[tuple[bytes, Envelope]] = []

    def accept(self, raw: bytes, envelope: Envelope) -> Receipt:
        self.items.append((raw, envelope))
        return Receipt(len(self.items), duplicate=False)


class Everyone:
    def accepts(self, address: str) -> bool:
        return True


@pytest.fixture
def tls_relay(
    certificate: tuple[Path, Path],
) -> Iterator[tuple[int, Recorder, Path]]:
    from mail.smtp import SMTPListener, hash_password, tls_context

    recorder = Recorder()
    port = free_port()
    listener = SMTPListener(
        recorder,
        Everyone(),
        hostname="127.0.0.1",
        port=port,
        server_hostname="relay.example",
        tls=tls_context(*certificate),
        auth_users={"bridge": hash_password("s3cret")},
    )
    listener.start()
    yield port, recorder, certificate[0]
    listener.stop()


def test_starttls_and_auth_as_configured(tmp_path: Path, tls_relay: Any) -> None:
    """STARTTLS required, the relay's certificate checked against the CA file, then AUTH."""
    port, recorder, cert = tls_relay
    core = make_core(
        tmp_path,
        port,
        smtp_relay_tls="starttls",
        smtp_relay_user="bridge",
        smtp_relay_password="s3cret",
        smtp_relay_ca_file=str(cert),
    )
    try:
        queued(core)
        assert Sender(core.engine, core.settings).deliver_due() == (1, 0, 0)
        ((raw, envelope),) = recorder.items
        assert b"Subject: Your login link" in raw
        assert envelope.rcpt_to == ("ana@example.com",)
        assert "with ESMTPSA (authenticated as bridge)" in envelope.source_ref
    finally:
        core.close()


def test_wrong_relay_password_is_kept_for_a_retry(tmp_path: Path, tls_relay: Any) -> None:
    """A refused login is an operator's mistake: deferred with the reason, not given up."""
    port, recorder, cert = tls_relay
    core = make_core(
        tmp_path,
        port,
        smtp_relay_tls="starttls",
        smtp_relay_user="bridge",
        smtp_relay_password="wrong",
        smtp_relay_ca_file=str(cert),
    )
    try:
        mail_id = queued(core)
        assert Sender(core.engine, core.settings).deliver_due() == (0, 1, 0)
        assert "AUTH refused" in row(core, mail_id).last_error
        assert recorder.items == []
    finally:
        core.close()


def test_starttls_required_but_not_offered(tmp_path: Path, relay: Any) -> None:
    """smtp_relay_tls=starttls never falls back to plain text."""
    port, handler = relay
    core = make_core(tmp_path, port, smtp_relay_tls="starttls")
    try:
        mail_id = queued(core)
        assert Sender(core.engine, core.settings).deliver_due() == (0, 1, 0)
        assert "STARTTLS" in row(core, mail_id).last_error.upper()
        assert handler.received == []
    finally:
        core.close()


def test_two_senders_share_the_queue_and_deliver_each_message_once(
    tmp_path: Path, relay: Any
) -> None:
    """Leases (FOR UPDATE SKIP LOCKED on PostgreSQL): concurrent senders never double-send."""
    import threading

    port, handler = relay
    core = make_core(tmp_path, port)
    try:
        ids = [queued(core, f"p{i}@example.com") for i in range(40)]
        totals: list[tuple[int, int, int]] = []

        def run() -> None:
            totals.append(Sender(core.engine, core.settings).deliver_due(limit=5))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sum(sent for sent, _d, _f in totals) == 40
        assert sorted(r[1][0] for r in handler.received) == sorted(
            f"p{i}@example.com" for i in range(40)
        )
        assert {row(core, i).state for i in ids} == {"sent"}
    finally:
        core.close()


async def test_relay_delivery_from_inside_a_running_event_loop(tmp_path: Path, relay: Any) -> None:
    """A caller with a running loop (an async handler) still delivers: no nested asyncio.run."""
    port, handler = relay
    core = make_core(tmp_path, port)
    try:
        queued(core)
        assert Sender(core.engine, core.settings).deliver_due() == (1, 0, 0)
        assert len(handler.received) == 1
    finally:
        core.close()
