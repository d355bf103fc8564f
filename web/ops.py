"""What operators and their tools call: /healthz, /readyz and /metrics, and the request timer.

- `/healthz`: the process is up and answers (no database: a load balancer
  must not restart a healthy process because the database is slow).
- `/readyz`: the database answers a query and the data directory is
  writable; otherwise 503 with the reason, so traffic goes elsewhere.
- `/metrics`: Prometheus text (bridge/metrics.py). Readable with
  `Authorization: Bearer BRIDGE_METRICS_TOKEN` when that is set, else only by
  a client on loopback that did not come through a proxy (a proxy on the
  same host would make every visitor look local). It names no community,
  person or address, so nothing private leaks even to a reader it should
  not have had.
All three are plain text and need no login; none touches a community.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import tempfile
import time

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.metrics import Metrics
from web.deps import CoreDep
from web.state import metrics_of

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz", response_class=PlainTextResponse)
async def healthz() -> PlainTextResponse:
    """The process is up (async: answered on the event loop, even with every worker busy)."""
    return PlainTextResponse("ok\n", headers=NO_STORE)


@router.get("/readyz", response_class=PlainTextResponse)
def readyz(core: CoreDep) -> PlainTextResponse:
    """Ready to serve: the database answers and the data directory takes a file."""
    problems = []
    try:
        with core.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means not ready; the reason goes in the answer
        problems.append(f"database: {type(exc).__name__}")
        log.warning("readyz: database unreachable: %s", exc)
    data = core.settings.data
    try:
        with tempfile.NamedTemporaryFile(dir=data, prefix=".readyz-"):
            pass
    except OSError as exc:
        problems.append(f"data directory {data}: {exc.strerror or type(exc).__name__}")
    if problems:
        return PlainTextResponse(
            "not ready: " + "; ".join(problems) + "\n", status_code=503, headers=NO_STORE
        )
    return PlainTextResponse("ready\n", headers=NO_STORE)


@router.get("/metrics")
def metrics(request: Request, core: CoreDep) -> Response:
    """Prometheus metrics, for the token's bearer or a direct loopback client."""
    if not _may_read_metrics(request, core.settings.metrics_token):
        return PlainTextResponse(
            "metrics are served to loopback clients, or with Authorization: Bearer "
            "BRIDGE_METRICS_TOKEN\n",
            status_code=403,
        )
    body = generate_latest(metrics_of(request).registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers=NO_STORE)


def _may_read_metrics(request: Request, token: str) -> bool:
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )
    if "forwarded" in request.headers or "x-forwarded-for" in request.headers:
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a Unix socket, or no address at all
        return False


class RequestTimer:
    """Times every request into the route template's histogram (pure ASGI middleware)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            elapsed = time.perf_counter() - start
            self.metrics.observe_request(route, scope["method"], status, elapsed)
