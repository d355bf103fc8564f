"""Which RCPT addresses the SMTP listener takes: community addresses and the bridge's own.

Each class here is a `mail.smtp.RecipientPolicy`. The listener asks at RCPT
time, so mail for an address nobody reads is refused with 550 5.1.1 before a
byte of content is sent, and the sending server bounces it to its author
instead of us holding mail that cannot go anywhere.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine, select

from mail.smtp import RecipientPolicy
from mail.tokens import (
    bounce_token_genuine,
    consent_reply_token_genuine,
    moderation_token_genuine,
    reply_token_genuine,
)
from threads.models import Route, RouteKind

log = logging.getLogger(__name__)


def _normalise(address: str) -> str:
    return address.strip().strip("<>").lower()


class RoutedRecipients:
    """Addresses an admin mapped to a community (the route table), held in memory.

    The listener asks on its event loop, once per RCPT, so the answer comes from
    memory: the set is loaded when the policy is made (at start, where a
    database that cannot be reached should stop us) and reloaded in the
    background once it is older than `ttl` seconds. A route added a moment ago
    is seen after at most ttl plus one reload. If a reload fails, the last set
    stays in use; mail for a new address gets 550 until the database is back,
    and the DATA commit of everything else fails with 451 anyway.
    """

    def __init__(self, engine: Engine, ttl: float = 2.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._addresses = self._load()
        self._loaded = time.monotonic()
        self._reloading = threading.Lock()

    def accepts(self, address: str) -> bool:
        stale = time.monotonic() - self._loaded > self._ttl
        if stale and self._reloading.acquire(blocking=False):
            threading.Thread(target=self._reload, name="routes-reload", daemon=True).start()
        return _normalise(address) in self._addresses

    def _load(self) -> frozenset[str]:
        r = Route.__table__
        with self._engine.connect() as conn:
            rows = conn.execute(select(r.c.value).where(r.c.kind == RouteKind.address))
            return frozenset(rows.scalars())

    def _reload(self) -> None:
        try:
            self._addresses = self._load()
        except Exception:
            log.warning(
                "could not reload the route table; the last one stays in use", exc_info=True
            )
        finally:
            self._loaded = time.monotonic()
            self._reloading.release()


class OwnAddresses:
    """The bridge's own addresses at `mail_domain`: bounces, replies and postmaster.

    Replies to our notifications come to `reply+TOKEN@mail_domain`, answers to
    consent nudges to `consent+TOKEN@mail_domain`, moderators' answers to
    held-mail notices to `moderate+TOKEN@mail_domain`, and delivery reports to
    `bounces@` or `bounces+VERP@mail_domain`. Given the secret key,
    a token that we did not sign is refused here, at RCPT, so its sender's server
    tells them at once (mail/tokens.py); a genuine token is taken even when it
    has expired or is used by someone else, which the pipeline holds with the
    reason for an admin to see. `postmaster` is taken because RFC 5321
    4.5.1 requires every server that delivers mail to accept it, with or
    without a domain (the pipeline holds it for an admin, like any unrouted mail).
    """

    def __init__(self, mail_domain: str, secret_key: str = "") -> None:
        self._domain = mail_domain.strip().lower()
        self._key = secret_key

    def accepts(self, address: str) -> bool:
        local, at, domain = _normalise(address).rpartition("@")
        if not at:
            return domain == "postmaster"
        if domain != self._domain:
            return False
        if local in ("bounces", "postmaster"):
            return True
        if local.startswith("reply+"):
            return not self._key or reply_token_genuine(self._key, local[len("reply+") :])
        if local.startswith("bounces+"):
            return not self._key or bounce_token_genuine(self._key, local[len("bounces+") :])
        if local.startswith("moderate+"):
            return not self._key or moderation_token_genuine(self._key, local[len("moderate+") :])
        if local.startswith("consent+"):
            token = local[len("consent+") :]
            return not self._key or consent_reply_token_genuine(self._key, token)
        return False


class AnyOf:
    """Takes an address that any of the given policies takes (asked in order)."""

    def __init__(self, *policies: RecipientPolicy) -> None:
        self._policies = policies

    def accepts(self, address: str) -> bool:
        return any(policy.accepts(address) for policy in self._policies)
