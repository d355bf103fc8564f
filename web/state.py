"""What `create_app` keeps on `app.state`, read back typed: the one module that reads it.

The app holds the process's core (settings, engine, pipeline), the Jinja2
templates, the batched read log, the metrics and the cookie names. Routes receive the
core as a dependency (web/deps.py `CoreDep`); code that runs outside a
route's signature (the security middleware's helpers, template globals, the
viewer lookup) reads it here, so nothing else in web/ touches `app.state`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from fastapi import Request
from fastapi.templating import Jinja2Templates

from bridge.core import Core
from bridge.metrics import Metrics
from threads.reach import ReadLog
from threads.unread import SeenLog

if TYPE_CHECKING:  # web.security reads its cookie names here: no import at run time
    from web.security import CookieNames


def core_of(request: Request) -> Core:
    """The process's core: settings, engine and pipeline."""
    return cast(Core, request.app.state.core)


def templates_of(request: Request) -> Jinja2Templates:
    return cast(Jinja2Templates, request.app.state.templates)


def read_log_of(request: Request) -> ReadLog:
    """First reads of threads, written in batches (threads/reach.py)."""
    return cast(ReadLog, request.app.state.reads)


def seen_log_of(request: Request) -> SeenLog:
    """How far readers have read threads, written in batches (threads/unread.py)."""
    return cast(SeenLog, request.app.state.seen)


def metrics_of(request: Request) -> Metrics:
    """The process's Prometheus instruments (bridge/metrics.py)."""
    return cast(Metrics, request.app.state.metrics)


def cookies_of(request: Request) -> CookieNames:
    return cast("CookieNames", request.app.state.cookies)


def prints_login_links(request: Request) -> bool:
    """`bridge serve --demo` also prints login links on the console (nobody reads its outbox)."""
    return bool(getattr(request.app.state, "print_login_links", False))
