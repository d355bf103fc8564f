"""Prometheus metrics of one process: what it measures itself, and what the database says.

Two kinds, on one registry per process (`Metrics`), exposed at /metrics (web/ops.py):

- Measured here, in this process: web request latency by route *template*
  (`/t/{thread_id}`, never the address asked for: bounded label values, and
  no community slug or person in a label), search latency, SMTP sessions and
  the SMTP rejections by reply code (`SMTPEvents`, handed to the listener).
- Read from the database at each scrape (`ArchiveCollector`): raw messages
  by source and state (received = all states; filed = done, held, failed),
  the pipeline queue's depth and its oldest message's age, outbound mail by
  state (queued, deferred = queued after a failed attempt, sent, failed) and
  bounces. These are the same from whichever process is scraped, since every
  role shares the database; the measured ones are per process (docs/operations.md).

No label ever holds a community name, a subject or an address, so the page
can be shown to an operator who may not read private communities.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from threads.models import MailAddress, OutboundMail, OutboundState, RawMessage, as_utc, utcnow

# Web pages and API answers: from a cached read (ms) to a slow export (seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class SMTPEvents:
    """What the SMTP listener reports (the `SessionObserver` port of mail/smtp)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sessions = Counter(
            "bridge_smtp_sessions",
            "SMTP connections (one more at each start: the listener's own check)",
            registry=registry,
        )
        self.rejections = Counter(
            "bridge_smtp_rejections",
            "SMTP replies refusing something (4xx, 5xx), by reply code",
            ["code"],
            registry=registry,
        )

    def session_opened(self) -> None:
        self.sessions.inc()

    def refused(self, code: str) -> None:
        # Only the three digits: the text of a reply may name an address.
        self.rejections.labels(code=code[:3]).inc()


class Metrics:
    """One process's registry and the instruments the web app and listener use."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "bridge_http_request_duration_seconds",
            "Web requests by route template, method and status class",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.searches = Histogram(
            "bridge_search_duration_seconds",
            "Full-text searches (pages and API), from query to ranked results",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.smtp = SMTPEvents(self.registry)
        if engine is not None:
            self.registry.register(ArchiveCollector(engine))

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method, status=f"{status // 100}xx").observe(
            seconds
        )


_RAW = RawMessage.__table__
# Answered from ix_raw_message_state_source alone (tests/web/test_ops.py reads the plan).
RAW_BY_STATE = select(_RAW.c.source, _RAW.c.state, func.count()).group_by(
    _RAW.c.state, _RAW.c.source
)


class ArchiveCollector(Collector):
    """Figures read from the database at each scrape (a few aggregate queries)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        raw, out, addr = RawMessage.__table__, OutboundMail.__table__, MailAddress.__table__
        now = utcnow()
        # Every query reads an index or a few rows: raw_message and outbound_mail rows
        # carry the mail's bytes ahead of these columns, so a scan would read them all.
        with self.engine.connect() as conn:
            by_state = conn.execute(RAW_BY_STATE).all()
            pending = conn.execute(
                select(func.count(), func.min(raw.c.id)).where(raw.c.state == "pending")
            ).one()
            oldest = None
            if pending[1] is not None:
                oldest = conn.execute(
                    select(raw.c.received_at).where(raw.c.id == pending[1])
                ).scalar()
            outbound = conn.execute(select(out.c.state, func.count()).group_by(out.c.state)).all()
            queued = out.c.state == "queued"
            deferred, waiting = conn.execute(
                select(func.count().filter(out.c.attempts > 0), func.min(out.c.created_at)).where(
                    queued
                )
            ).one()
            bounces = conn.execute(
                select(func.sum(addr.c.hard_bounces), func.sum(addr.c.soft_bounces))
            ).one()
        messages = GaugeMetricFamily(
            "bridge_raw_messages",
            "Mail received, by source and the state it is in now (done = filed)",
            labels=["source", "state"],
        )
        for source, state, count in by_state:
            messages.add_metric([source, state], count)
        yield messages
        yield GaugeMetricFamily(
            "bridge_queue_depth", "Raw messages waiting for the pipeline", value=pending[0]
        )
        yield GaugeMetricFamily(
            "bridge_queue_oldest_age_seconds",
            "Age of the oldest raw message waiting for the pipeline (0 when none)",
            value=_age(now, oldest),
        )
        mail = GaugeMetricFamily(
            "bridge_outbound_mail",
            "Outgoing mail by state (deferred: queued again after a failed attempt)",
            labels=["state"],
        )
        # Every state, zeros included: a panel or alert on a series that appears only
        # once something fails would read "no data" instead of 0 until then.
        counts = dict.fromkeys(["deferred", *(s.value for s in OutboundState)], 0)
        counts.update({str(state): count for state, count in outbound})
        counts["queued"] -= deferred  # queued again after a failed attempt: deferred
        counts["deferred"] = deferred
        for state, count in counts.items():
            mail.add_metric([state], count)
        yield mail
        yield GaugeMetricFamily(
            "bridge_outbound_oldest_age_seconds",
            "Age of the oldest outgoing mail not yet delivered (0 when none)",
            value=_age(now, waiting),
        )
        bounced = GaugeMetricFamily(
            "bridge_bounces", "Bounces received for our outgoing mail", labels=["kind"]
        )
        bounced.add_metric(["hard"], int(bounces[0] or 0))
        bounced.add_metric(["soft"], int(bounces[1] or 0))
        yield bounced


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - as_utc(since)).total_seconds()) if since is not None else 0.0
