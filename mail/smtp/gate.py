"""Admission: the global connection cap, the per-client cap and the per-client message rate.

The session asks the gate when a connection opens (a refusal is a 421 and a
hang-up, RFC 5321 3.8, so the client retries later), gives its slot back when
the connection ends however it ended, and asks again at each MAIL from a
client that did not authenticate.
"""

from __future__ import annotations

import math
import time

from mail.smtp.limits import Limits
from mail.smtp.replies import Reply


class Gate:
    """Connection caps (in all, and per client address) and a token bucket per client address.

    Used on the listener's loop only. The per-client cap keeps one client from
    taking every slot of the global cap with idle connections and locking all
    other senders out; Postfix's anvil (smtpd_client_connection_count_limit)
    does the same.
    """

    def __init__(self, limits: Limits) -> None:
        self._max = limits.max_connections
        self._max_per_client = limits.max_per_client
        self._open: dict[str, int] = {}  # client address -> open sessions; no zero entries
        self._rate = limits.rate_per_minute / 60.0  # tokens per second
        self._burst = float(limits.rate_per_minute)  # a minute's worth at once
        self.active = 0
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, when)
        self._prune_at = 10_000

    def admit(self, client: str) -> Reply | None:
        """Take a slot for a new session from `client`, or the reply that refuses it."""
        if self.active >= self._max:
            return Reply.TOO_MANY_CONNECTIONS
        held = self._open.get(client, 0)
        if self._max_per_client and held >= self._max_per_client:
            return Reply.TOO_MANY_FROM_CLIENT
        self.active += 1
        self._open[client] = held + 1
        return None

    def release(self, client: str) -> None:
        """Give back the slot `admit` took; called once per admitted session, however it ended."""
        self.active -= 1
        held = self._open.pop(client) - 1
        if held:
            self._open[client] = held

    def wait_for_message(self, client: str) -> int:
        """0 if `client` may start a message now, else the seconds until it may."""
        if self._rate <= 0:
            return 0
        now = time.monotonic()
        tokens, then = self._buckets.get(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self._rate))
        self._buckets[client] = (tokens - 1.0, now)
        if len(self._buckets) > self._prune_at:
            self._forget_idle(now)
        return 0

    def _forget_idle(self, now: float) -> None:
        # A bucket that has refilled completely says nothing a fresh one would not.
        full = [
            c for c, (t, w) in self._buckets.items() if t + (now - w) * self._rate >= self._burst
        ]
        for client in full:
            del self._buckets[client]
        # Many busy clients at once: scan again only when their number has doubled.
        self._prune_at = max(10_000, 2 * len(self._buckets))
