"""A relay for outbound delivery tests: an aiosmtpd handler that answers as its
script says (accept, 4xx or 5xx at RCPT or DATA, or a stall), and records what it took."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RelayHandler:
    """Answers per the script (one entry per message, then accepts); records what it took."""

    script: list[str] = field(default_factory=list)
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    stall: float = 0.0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, _o: Any):
        if self.script and self.script[0].startswith("rcpt "):
            return self.script.pop(0).removeprefix("rcpt ")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.stall:
            await asyncio.sleep(self.stall)
        if self.script:
            return self.script.pop(0)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 queued"
