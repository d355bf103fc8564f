"""The SMTP listener (aiosmtpd): a thin edge that checks recipients and stores bytes.

No business logic lives here. RCPT is checked against a `RecipientPolicy`
port, so unknown addresses are refused before any data is sent; DATA is
handed to the `Inbox` port, and 250 goes out only after `accept` returned,
which means the bytes are committed. Anything unexpected is answered
451 4.3.0 so the sending server retries later instead of bouncing the mail.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SMTPEnvelope

from mail.envelope import Envelope, Inbox

log = logging.getLogger(__name__)

REPLY_UNKNOWN_RECIPIENT = "550 5.1.1 Recipient address rejected: no community here by that address"
REPLY_TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please try again later"
REPLY_TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
MAX_RECIPIENTS = 100


class RecipientPolicy(Protocol):
    """Says whether we take mail for an address (community, reply or bounce address)."""

    def accepts(self, address: str) -> bool: ...


class BridgeHandler:
    """aiosmtpd handler hooks: RCPT policy and durable DATA."""

    def __init__(self, inbox: Inbox, policy: RecipientPolicy) -> None:
        self._inbox = inbox
        self._policy = policy

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: SMTPEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return REPLY_TOO_MANY_RECIPIENTS
        try:
            accepted = await asyncio.get_running_loop().run_in_executor(
                None, self._policy.accepts, address
            )
        except Exception:
            log.exception("recipient check failed")
            return REPLY_TEMPORARY_FAILURE
        if not accepted:
            return REPLY_UNKNOWN_RECIPIENT
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SMTPEnvelope) -> str:
        raw = envelope.original_content or b""
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        meta = Envelope(
            source="smtp",
            mail_from=envelope.mail_from or "",
            rcpt_to=tuple(envelope.rcpt_tos),
            source_ref=f"{peer} {session.host_name or ''}".strip(),
        )
        try:
            receipt = await asyncio.get_running_loop().run_in_executor(
                None, self._inbox.accept, raw, meta
            )
        except Exception:
            log.exception("could not store a message from %s", peer)
            return REPLY_TEMPORARY_FAILURE
        return f"250 2.0.0 Ok: queued as {receipt.queue_id}"


class _SMTP(SMTP):
    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default answers 500 with the exception text; a sender must retry instead.
        log.error("SMTP session error: %r", error)
        return REPLY_TEMPORARY_FAILURE


class SMTPListener(Controller):
    """Runs the listener on its own thread and event loop."""

    def __init__(
        self,
        inbox: Inbox,
        policy: RecipientPolicy,
        *,
        hostname: str,
        port: int,
        max_size: int,
        server_hostname: str | None = None,
    ) -> None:
        super().__init__(
            BridgeHandler(inbox, policy),
            hostname=hostname,
            port=port,
            server_hostname=server_hostname,
            data_size_limit=max_size,
            decode_data=False,
        )

    def factory(self) -> SMTP:
        return _SMTP(self.handler, **self.SMTP_kwargs)  # type: ignore[arg-type]
