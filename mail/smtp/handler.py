"""The aiosmtpd handler: the recipient check at RCPT and durable DATA, nothing more.

No business logic lives here. RCPT is checked against a `RecipientPolicy`
port, so unknown addresses are refused before any data is sent; DATA hands
the bytes to the group commit (commit.py) and answers 250 only once they are
committed. Anything unexpected is answered 451 4.3.0 so the sending server
retries later instead of bouncing the mail.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SMTPEnvelope

from mail.envelope import RejectLog
from mail.smtp.commit import GroupCommit
from mail.smtp.replies import Reply, reply_for
from mail.smtp.trace import envelope_of, peer_ip, storable

log = logging.getLogger("mail.smtp")  # the package's one name, the one admins' filters know


class RecipientPolicy(Protocol):
    """Says whether we take mail for an address (community, reply or bounce address).

    Called on the listener's event loop at every RCPT, so it must answer from
    memory and never wait on I/O (keep a copy and refresh it in the background,
    as `bridge.recipients.RoutedRecipients` does): one slow lookup would stall
    every session. An exception is answered 451 4.3.0.
    """

    def accepts(self, address: str) -> bool: ...


class BridgeHandler:
    """aiosmtpd handler hooks: RCPT policy and durable DATA."""

    def __init__(
        self,
        commits: GroupCommit,
        policy: RecipientPolicy,
        *,
        max_recipients: int,
        offer_auth: bool,
        reject_log: RejectLog | None = None,
    ) -> None:
        self._commits = commits
        self._reject_log = reject_log
        self._policy = policy
        self._max_recipients = max_recipients
        self._offer_auth = offer_auth

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: SMTPEnvelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self._offer_auth:
            return responses
        # aiosmtpd lists its built-in mechanisms after STARTTLS even with no users to check.
        return [line for line in responses if not line[4:].upper().startswith("AUTH")]

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: SMTPEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= self._max_recipients:
            # RFC 5321 4.5.3.1.10: 452, and the client sends the rest in another transaction.
            return Reply.TOO_MANY_RECIPIENTS
        try:
            accepted = self._policy.accepts(address)
        except Exception as error:
            log.exception("recipient check failed")
            return reply_for(error)
        if not accepted:
            return Reply.UNKNOWN_RECIPIENT.format(address=storable(address))
        if address not in envelope.rcpt_tos:
            envelope.rcpt_tos.append(address)
        return Reply.RECIPIENT_OK

    async def record_rejected(
        self, server: SMTP, session: Session, envelope: SMTPEnvelope, raw: bytes, reply: str
    ) -> None:
        """Keep what we refused at DATA, with the reply, so `bridge log` shows it."""
        if self._reject_log is None:
            return
        meta = envelope_of(server, session, envelope)
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, self._reject_log.record_rejected, raw, meta, reply
            )
        except Exception:  # the refusal stands; only the log entry is lost
            log.exception("could not record a refused message from %s", peer_ip(session))

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SMTPEnvelope) -> str:
        raw = envelope.original_content or b""
        meta = envelope_of(server, session, envelope)
        try:
            receipt = await self._commits.submit(raw, meta)
        except Exception as error:
            log.exception("could not store a message from %s", peer_ip(session))
            return reply_for(error)
        return Reply.QUEUED.format(queue_id=receipt.queue_id)
