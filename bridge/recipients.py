"""Which RCPT addresses the SMTP listener takes: those routed to a community."""

from __future__ import annotations

import time

from sqlalchemy import Engine, select

from threads.models import Route, RouteKind


class RoutedRecipients:
    """`mail.smtp.RecipientPolicy` over the route table, cached for two seconds."""

    def __init__(self, engine: Engine, ttl: float = 2.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._loaded = 0.0
        self._addresses: frozenset[str] = frozenset()

    def accepts(self, address: str) -> bool:
        return address.strip().strip("<>").lower() in self._current()

    def _current(self) -> frozenset[str]:
        if time.monotonic() - self._loaded > self._ttl:
            with self._engine.connect() as conn:
                r = Route.__table__
                rows = conn.execute(select(r.c.value).where(r.c.kind == RouteKind.address))
                self._addresses = frozenset(rows.scalars())
            self._loaded = time.monotonic()
        return self._addresses
