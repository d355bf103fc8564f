"""`bridge serve`: the composition root that wires adapters to the core and runs them.

One process runs any combination of roles: the SMTP listener (its own
thread), the pipeline worker (a thread) and the web app (uvicorn, on the main
thread). By default it runs all of them; on PostgreSQL several processes
with different roles share one database.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Callable

import click
import uvicorn

from bridge import demo
from bridge.core import Core, open_core
from bridge.recipients import RoutedRecipients
from bridge.settings import Settings
from bridge.worker import Worker
from mail.smtp import SMTPListener
from web.app import create_app

log = logging.getLogger(__name__)

# The IMAP poller and the outbound sender join this list when they exist.
ROLES = ("web", "smtp", "worker")


def run(settings: Settings, *, roles: tuple[str, ...] = ROLES, demo_content: bool = False) -> None:
    if "web" in roles and not ipaddress.ip_address(_resolve(settings.web_host)).is_loopback:
        # The web app has no access control yet: it must not be reachable from the network.
        raise click.ClickException(
            f"BRIDGE_WEB_HOST={settings.web_host}: the web app serves loopback only until "
            "login and access rules exist"
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # aiosmtpd logs every connection at INFO, addresses included; keep its warnings only.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    core = open_core(settings)
    if demo_content:
        seeded = demo.seed(core)
        if seeded:
            click.echo(f"demo: seeded 2 communities and {seeded} messages")
    stops: list[Callable[[], None]] = []
    try:
        if "worker" in roles:
            stops.append(_start_worker(core))
        if "smtp" in roles:
            stops.append(_start_smtp(core, settings))
        click.echo(_banner(settings, roles))
        if "web" in roles:
            uvicorn.run(
                create_app(core),
                host=settings.web_host,
                port=settings.web_port,
                log_level="warning",
            )
        else:
            _wait_for_signal()
    finally:
        for stop in reversed(stops):
            stop()
        core.close()


def _start_worker(core: Core) -> Callable[[], None]:
    worker = Worker(core)
    core.inbox.on_accept = worker.wake
    worker.start()

    def stop() -> None:
        worker.stop()
        worker.join(timeout=10)

    return stop


def _start_smtp(core: Core, settings: Settings) -> Callable[[], None]:
    smtp = SMTPListener(
        core.inbox,
        RoutedRecipients(core.engine),
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        max_size=settings.smtp_max_size,
        server_hostname=settings.mail_domain,
    )
    smtp.start()
    return smtp.stop


def _wait_for_signal() -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()


def _banner(settings: Settings, roles: tuple[str, ...]) -> str:
    parts = []
    if "web" in roles:
        parts.append(f"web http://{settings.web_host}:{settings.web_port}/")
    if "smtp" in roles:
        parts.append(f"SMTP {settings.smtp_host}:{settings.smtp_port}")
    if "worker" in roles:
        parts.append("pipeline worker")
    return f"Commons Bridge: {' · '.join(parts)} · data {settings.data}"


def _resolve(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return socket.gethostbyname(host)
