"""Heartbeats for leases: renewed while their holder works, freed at once when it died.

A worker's claim on raw messages and a sender's on outbound mail are short
leases (`BRIDGE_CLAIM_SECONDS`, 30 s). While a batch is worked on, `renewing`
extends them every third of that, from a thread of the process that holds
them, so a slow batch keeps its messages and a dead process's lapse soon.

Sooner still on the same host: `release_dead` frees every lease whose holder
ran on this host and is gone (bridge/liveness.py), in all three leased
tables. `bridge serve` runs it before any role starts, so a restart after a
crash files the acknowledged mail at once, and then every 10 s (or third of
a lease, if shorter; `LeaseSweeper`), so a worker dying beside others on one
host hands over its work within seconds. A holder on another host is only taken over when its lease
expires, since its pid means nothing here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import Engine

from bridge import liveness
from threads import leases
from threads.db import writer
from threads.models import utcnow

log = logging.getLogger(__name__)


@contextmanager
def renewing(
    engine: Engine, leased: leases.Leased, holder: str, lease: timedelta
) -> Iterator[None]:
    """While the block runs, extend `holder`'s leases on `leased` every third of `lease`."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(lease.total_seconds() / 3):
            try:
                with writer(engine).begin() as conn:
                    leases.renew(conn, leased, [holder], utcnow() + lease)
            except Exception as exc:  # the next beat may get through; the lease has slack
                log.warning("could not renew %s leases of %s: %s", leased.name, holder, exc)

    thread = threading.Thread(target=beat, name=f"heartbeat-{leased.name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def release_dead(engine: Engine) -> dict[str, int]:
    """Free the leases of processes on this host that are gone; rows freed, per table."""
    freed: dict[str, int] = {}
    for leased in leases.LEASED:
        with engine.connect() as conn:
            holders = leases.live_holders(conn, leased)
        dead = liveness.dead_holders(holders)
        if not dead:
            continue
        with writer(engine).begin() as conn:
            freed[leased.name] = leases.release(conn, leased, dead)
        log.warning(
            "released %d %s lease(s) of %d process(es) on this host that died: %s",
            freed[leased.name],
            leased.name,
            len(dead),
            ", ".join(dead),
        )
    return freed


class LeaseSweeper(threading.Thread):
    """Runs `release_dead` every `every` seconds until stopped."""

    def __init__(self, engine: Engine, every: float) -> None:
        super().__init__(name="lease-sweeper", daemon=True)
        self._engine = engine
        self._every = every
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        while not self._halt.wait(self._every):
            try:
                release_dead(self._engine)
            except Exception:  # a database hiccup: the next sweep, or the lease, catches up
                log.exception("sweeping dead processes' leases failed")
