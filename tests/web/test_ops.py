"""Operators' endpoints: /healthz, /readyz (and its 503), /metrics (who may read it, what it
counts, that it names nothing private) and the API docs page under the strict CSP."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from bridge.core import open_core
from bridge.metrics import Metrics
from tests.support.env import settings_for
from tests.support.factories import bridge_listener, create_community, deliver
from tests.support.messages import make_mail
from web.app import create_app

LOOPBACK = ("127.0.0.1", 50000)


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[dict[str, Any]]:
    core = open_core(settings_for(tmp_path / "data", org_domains=["example.com"]))
    create_community(core, slug="zqsecretslug", name="Zq Secret Name", visibility="members")
    deliver(core, make_mail("Zq private subject", msgid="a@x.example"))
    metrics = Metrics(core.engine)
    try:
        yield {"core": core, "metrics": metrics, "app": create_app(core, metrics)}
    finally:
        core.close()


def sample(body: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, or 0 if absent."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in body.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        got_name, _, got_labels = metric.partition("{")
        parts = ",".join(sorted(filter(None, got_labels.rstrip("}").split(","))))
        if got_name == name and parts == want:
            return float(value)
    return 0.0


def test_healthz_and_readyz(ops: dict[str, Any]) -> None:
    """Both answer 200 on a working bridge, without a login."""
    client = TestClient(ops["app"])
    assert (client.get("/healthz").status_code, client.get("/healthz").text) == (200, "ok\n")
    assert client.get("/readyz").text == "ready\n"


def test_readyz_says_why_when_the_data_directory_is_gone(ops: dict[str, Any]) -> None:
    """A data directory that cannot take a file: 503 naming it (healthz stays 200)."""
    client = TestClient(ops["app"])
    data = ops["core"].settings.data
    moved = data.with_name("moved-away")
    data.rename(moved)
    try:
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert f"data directory {data}" in answer.text
        assert client.get("/healthz").status_code == 200
    finally:
        moved.rename(data)


def test_readyz_says_why_when_the_database_is_unreachable(tmp_path: Path) -> None:
    """A database that refuses connections: 503 naming the database."""
    core = open_core(settings_for(tmp_path / "data"))
    try:
        core.engine.dispose()
        dead = core.engine.url.set(drivername="postgresql+psycopg", host="127.0.0.1", port=1)
        from threads.db import make_engine

        core.engine = make_engine(
            dead.render_as_string(hide_password=False), connect_args={"connect_timeout": 2}
        )
        answer = TestClient(create_app(core)).get("/readyz")
        assert answer.status_code == 503
        assert answer.text.startswith("not ready: database: OperationalError")
    finally:
        core.close()


def test_metrics_only_for_loopback_or_the_token(tmp_path: Path) -> None:
    """No token set: loopback direct only (not via a proxy). Token set: the bearer only."""
    core = open_core(settings_for(tmp_path / "a"))
    try:
        app = create_app(core)
        assert TestClient(app, client=LOOPBACK).get("/metrics").status_code == 200
        remote = TestClient(app, client=("192.0.2.7", 40000))
        assert remote.get("/metrics").status_code == 403
        proxied = TestClient(app, client=LOOPBACK).get(
            "/metrics", headers={"X-Forwarded-For": "192.0.2.7"}
        )
        assert proxied.status_code == 403
    finally:
        core.close()
    core = open_core(settings_for(tmp_path / "b", metrics_token="s3cret-scrape"))
    try:
        app = create_app(core)
        local = TestClient(app, client=LOOPBACK)
        assert local.get("/metrics").status_code == 403
        wrong = local.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        remote = TestClient(app, client=("192.0.2.7", 40000))
        ok = remote.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
        assert ok.status_code == 200
    finally:
        core.close()


def test_metrics_count_mail_queue_requests_and_search(ops: dict[str, Any]) -> None:
    """Received/filed/held by source, queue depth and age, latency by route template."""
    core, app = ops["core"], ops["app"]
    client = TestClient(app, client=LOOPBACK)
    core.inbox.accept(make_mail("Waiting", msgid="w@x.example"), _envelope("imap"))
    with core.engine.begin() as conn:  # the pending one arrived a minute ago
        conn.execute(
            text("UPDATE raw_message SET received_at = :t WHERE state = 'pending'"),
            {"t": "2020-01-01 00:00:00"},
        )
    client.get("/t/1")
    client.get("/t/999")
    client.get("/search?q=budget")
    client.get("/no/such/page")
    body = client.get("/metrics").text
    assert sample(body, "bridge_raw_messages", source="smtp", state="done") == 1
    assert sample(body, "bridge_raw_messages", source="imap", state="pending") == 1
    assert sample(body, "bridge_queue_depth") == 1
    assert sample(body, "bridge_queue_oldest_age_seconds") > 3600
    assert (
        sample(
            body,
            "bridge_http_request_duration_seconds_count",
            route="/t/{thread_id}",
            method="GET",
            status="4xx",
        )
        == 2
    )
    assert (
        sample(
            body,
            "bridge_http_request_duration_seconds_count",
            route="unmatched",
            method="GET",
            status="4xx",
        )
        == 1
    )
    assert sample(body, "bridge_search_duration_seconds_count") == 1
    # Nothing names a community, a subject or an address: safe for any operator.
    for secret in ("zqsecretslug", "Zq Secret", "Zq private", "example.com", 'route="/t/1"'):
        assert secret not in body


def test_metrics_count_smtp_sessions_and_rejections(ops: dict[str, Any]) -> None:
    """The real listener reports each session and each refusal by reply code."""
    core, metrics = ops["core"], ops["metrics"]
    scrape = TestClient(ops["app"], client=LOOPBACK)
    with bridge_listener(core, "bridge.example", observer=metrics.smtp) as port:
        # aiosmtpd's controller connects once itself at start, to know it is up.
        before = sample(scrape.get("/metrics").text, "bridge_smtp_sessions_total")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.ehlo()
            smtp.mail("a@example.com")
            code, _ = smtp.rcpt("nobody@nowhere.example")
        assert code == 550
    body = scrape.get("/metrics").text
    assert sample(body, "bridge_smtp_sessions_total") == before + 1
    assert sample(body, "bridge_smtp_rejections_total", code="550") == 1
    assert "nowhere.example" not in body


def test_docs_page_is_served_from_here_under_the_csp(ops: dict[str, Any]) -> None:
    """/docs loads only this site's vendored Swagger UI; the schema declares Bearer auth."""
    client = TestClient(ops["app"])
    page = client.get("/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe" not in csp
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources
    assert all(s.startswith("/") for s in sources)
    for path in sources:
        if path.startswith("/static/"):
            assert client.get(path).status_code == 200
    assert "<script>" not in page.text  # no inline script
    schema = client.get("/api/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def _envelope(source: str) -> Any:
    from mail.envelope import Envelope

    return Envelope(source=source, mail_from="", rcpt_to=())


def test_sample_dashboard_reads_only_metrics_we_export(ops: dict[str, Any]) -> None:
    """Every bridge_* series the Grafana sample queries exists in a real scrape."""
    import json

    from tests.support.paths import ROOT

    core, app = ops["core"], ops["app"]
    client = TestClient(app, client=LOOPBACK)
    events = ops["metrics"].smtp
    with (
        bridge_listener(core, "bridge.example", observer=events) as port,
        smtplib.SMTP("127.0.0.1", port) as smtp,
    ):
        smtp.ehlo()
        smtp.mail("a@example.com")
        smtp.rcpt("nobody@nowhere.example")
    client.get("/search?q=budget")
    scraped = set(re.findall(r"^(bridge_[a-z_]+)", client.get("/metrics").text, re.M))
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"bridge_[a-z_]+", target["expr"])
    }
    assert queried
    assert queried <= scraped, queried - scraped


def test_metrics_count_raw_mail_from_an_index(ops: dict[str, Any]) -> None:
    """The scrape's count by state and source reads an index, never the rows with raw bytes."""
    from bridge.metrics import RAW_BY_STATE

    core = ops["core"]
    if core.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's plan is read here; PostgreSQL's planner decides by statistics")
    sql = str(RAW_BY_STATE.compile(core.engine))
    with core.engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "COVERING INDEX ix_raw_message_state_source" in plan
