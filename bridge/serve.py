"""`bridge serve`: the composition root that wires adapters to the core and runs them.

One process runs the SMTP listener (its own thread), the pipeline worker
(a thread) and the web app (uvicorn, on the main thread's event loop).
"""

from __future__ import annotations

import ipaddress
import logging
import socket

import click
import uvicorn

from bridge import demo
from bridge.core import open_core
from bridge.recipients import RoutedRecipients
from bridge.settings import Settings
from bridge.worker import Worker
from mail.smtp import SMTPListener
from web.app import create_app

log = logging.getLogger(__name__)


def run(settings: Settings, *, demo_content: bool = False) -> None:
    if not ipaddress.ip_address(_resolve(settings.web_host)).is_loopback:
        # The web app has no access control yet: it must not be reachable from the network.
        raise click.ClickException(
            f"BRIDGE_WEB_HOST={settings.web_host}: the web app serves loopback only until "
            "login and access rules exist"
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    core = open_core(settings)
    if demo_content:
        seeded = demo.seed(core)
        if seeded:
            click.echo(f"demo: seeded 2 communities and {seeded} messages")
    worker = Worker(core)
    core.inbox.on_accept = worker.wake
    worker.start()
    smtp = SMTPListener(
        core.inbox,
        RoutedRecipients(core.engine),
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        max_size=settings.smtp_max_size,
        server_hostname=settings.mail_domain,
    )
    smtp.start()
    click.echo(
        f"Commons Bridge: web http://{settings.web_host}:{settings.web_port}/ "
        f"· SMTP {settings.smtp_host}:{settings.smtp_port} · data {settings.data}",
    )
    try:
        uvicorn.run(
            create_app(core), host=settings.web_host, port=settings.web_port, log_level="warning"
        )
    finally:
        smtp.stop()
        worker.stop()
        worker.join(timeout=10)
        core.close()


def _resolve(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return socket.gethostbyname(host)
