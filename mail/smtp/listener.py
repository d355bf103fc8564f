"""`SMTPListener`: the aiosmtpd controller that wires the parts of the SMTP edge together.

It owns one admission gate, one group commit and one handler, and has
aiosmtpd build a `BridgeSession` for every connection with them. It runs on
its own thread and event loop; `bridge serve` starts it with the inbox and
the recipient policy. AUTH is offered only when there are users and STARTTLS
is possible (aiosmtpd's auth_require_tls keeps it behind STARTTLS).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from mail.envelope import Inbox, RejectLog
from mail.smtp.auth import Authenticator
from mail.smtp.commit import GroupCommit
from mail.smtp.gate import Gate
from mail.smtp.handler import BridgeHandler, RecipientPolicy
from mail.smtp.limits import Limits
from mail.smtp.session import BridgeSession, SessionObserver


def tls_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A server context for STARTTLS (TLS 1.2 or later); clients are not asked for certificates."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


class SMTPListener(Controller):
    """Runs the listener on its own thread and event loop."""

    def __init__(
        self,
        inbox: Inbox,
        policy: RecipientPolicy,
        *,
        hostname: str,
        port: int,
        server_hostname: str | None = None,
        limits: Limits | None = None,
        tls: ssl.SSLContext | None = None,
        auth_users: Mapping[str, str] | None = None,
        sock: socket.socket | None = None,
        observer: SessionObserver | None = None,
    ) -> None:
        # A socket the caller bound already (`bridge serve` binds every port before
        # it seeds or prints anything, so a taken port fails first and alone).
        self._sock = sock
        if sock is not None:
            port = sock.getsockname()[1]
        self.limits = limits or Limits()
        self._observer = observer
        self._gate = Gate(self.limits)
        users = dict(auth_users or {})
        offer_auth = bool(users) and tls is not None
        self._commits = GroupCommit(inbox)
        handler = BridgeHandler(
            self._commits,
            policy,
            max_recipients=self.limits.max_recipients,
            offer_auth=offer_auth,
            reject_log=inbox if isinstance(inbox, RejectLog) else None,
        )
        options: dict[str, Any] = {}
        if offer_auth:
            # Only after STARTTLS (aiosmtpd's auth_require_tls), and three tries
            # per connection before we hang up on a password guesser.
            options["authenticator"] = Authenticator(users)
            options["command_call_limit"] = {"AUTH": 3, "*": 2**31}
        super().__init__(
            handler,
            hostname=hostname,
            port=port,
            server_hostname=server_hostname,
            ident="ESMTP Commons Bridge",
            data_size_limit=self.limits.max_size,
            decode_data=False,
            timeout=self.limits.idle_timeout,
            tls_context=tls,
            **options,
        )

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        if self._sock is None:
            return super()._create_server()
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)

    def factory(self) -> SMTP:
        return BridgeSession(
            self.handler,
            gate=self._gate,
            limits=self.limits,
            commits=self._commits,
            observer=self._observer,
            **self.SMTP_kwargs,
        )

    def stop(self, no_assert: bool = False) -> None:
        """Stop listening, then let the commit thread finish what it has taken on."""
        super().stop(no_assert=no_assert)
        self._commits.close()
