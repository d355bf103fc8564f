"""`bridge serve`: the composition root that wires adapters to the core and runs them.

One process runs any combination of roles: the SMTP listener (its own
thread), the IMAP pollers (a thread per folder), the pipeline worker (a
thread) and the web app (uvicorn, on the main thread); whatever the roles,
it answers `bridge experts` on DATA/run/bridge.sock (bridge/local_socket.py).
By default it runs
all of them; on PostgreSQL several processes with different roles share one
database. Roles that take leases first free those of this host's dead
processes, then keep sweeping for them (bridge/heartbeat.py).
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable

import click
import uvicorn

from bridge import admin, demo, logs
from bridge.core import Core, open_core
from bridge.dkim_keys import signer_for
from bridge.errors import UsageError
from bridge.heartbeat import LeaseSweeper, release_dead
from bridge.metrics import Metrics, SMTPEvents
from bridge.recipients import RoutedRecipients
from bridge.settings import Settings
from bridge.worker import Worker
from mail.smtp import SMTPListener
from threads.db import writer
from web.app import create_app

log = logging.getLogger(__name__)
DEMO_ADMIN = "admin@example.com"  # fictional, like the demo's organisation

ROLES = ("web", "smtp", "imap", "worker", "sender")
# Roles that take leases, and so free those of this host's dead processes at start.
LEASING_ROLES = {"imap", "worker", "sender"}
# How often a running process looks for dead neighbours on its host (three cheap reads).
SWEEP_SECONDS = 10.0


def run(settings: Settings, *, roles: tuple[str, ...] = ROLES, demo_content: bool = False) -> None:
    if (
        "web" in roles
        and not settings.public_url
        and not ipaddress.ip_address(_resolve(settings.web_host)).is_loopback
    ):
        # Login links are built from the public URL, never from a request's Host header.
        raise UsageError(
            f"BRIDGE_WEB_HOST={settings.web_host} is reachable from the network: set "
            "BRIDGE_PUBLIC_URL to the address people use (login links are built from it)"
        )
    if {"web", "sender"} & set(roles):
        # Both send mail (the web role its login links): a signing key that is
        # missing must stop the start, not leave mail going out unsigned.
        # ConfigError: one line and exit 1 (bridge/cli/errors.py).
        signer_for(settings)
    # Every port is bound before anything is migrated, seeded or printed: a taken
    # port ends the command with one line, and nobody is told to log in to a
    # server that never started.
    web_socket, smtp_socket = bind_ports(settings, roles)
    try:
        _run(settings, roles, demo_content, web_socket, smtp_socket)
    finally:
        for sock in (web_socket, smtp_socket):
            if sock is not None:
                sock.close()


def _run(
    settings: Settings,
    roles: tuple[str, ...],
    demo_content: bool,
    web_socket: socket.socket | None,
    smtp_socket: socket.socket | None,
) -> None:
    if demo_content and "verify_senders" not in settings.model_fields_set:
        # The demo must work on a machine that resolves no names: no DNS lookups.
        settings = settings.model_copy(update={"verify_senders": "trusted"})
        click.echo(
            "demo: sender checks read trusted Authentication-Results only (no DNS lookups); "
            "BRIDGE_VERIFY_SENDERS=auto checks DKIM, SPF and DMARC itself"
        )
    logs.configure(settings.log_format)  # text, or JSON lines (BRIDGE_LOG_FORMAT=json)
    # aiosmtpd logs every connection at INFO, addresses included; keep its warnings only.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    web_children = []
    if web_socket is not None and settings.web_processes > 1:
        # Migrate once, then fork the extra web processes before this one starts
        # any thread or opens its pools: each child opens its own engine.
        open_core(settings).close()
        web_children = [
            _fork_web(settings, web_socket, smtp_socket) for _ in range(settings.web_processes - 1)
        ]
    core = open_core(settings)
    if demo_content:
        with logs.events_muted():
            seeded = demo.seed(core)
        if seeded:
            click.echo(f"demo: seeded 2 communities and {seeded} messages")
        # Demo communities are private to the organisation: log in as the demo admin.
        with writer(core.engine).begin() as conn:
            admin.set_admin(conn, DEMO_ADMIN, actor="demo")
        click.echo(
            f"demo: log in at {settings.web_base_url}/login as {DEMO_ADMIN}; "
            "login links are printed here"
        )
    metrics = Metrics(core.engine)  # this process's figures, at /metrics when it serves web
    stops: list[Callable[[], None]] = []
    try:
        # First: the socket sets the process's umask for a moment (bridge/local_socket.py).
        stops.append(_start_local_socket(core))
        if LEASING_ROLES & set(roles):
            stops.append(_start_lease_sweeper(core))
        if "worker" in roles:
            stops.append(_start_worker(core))
        if "sender" in roles:
            stops.append(_start_sender(core))
        if "smtp" in roles:
            stops.append(_start_smtp(core, settings, smtp_socket, metrics.smtp))
        if "imap" in roles:
            stops.append(_start_imap(core, settings))
        click.echo(_banner(settings, roles))
        if "web" in roles:
            app = create_app(core, metrics)
            # With --demo nobody reads the outbox: print login links on the console too.
            app.state.print_login_links = demo_content
            _serve_web(app, settings, web_socket)
        else:
            _wait_for_signal()
    finally:
        for pid in web_children:
            _stop_child(pid)
        for stop in reversed(stops):
            stop()
        core.close()


def _serve_web(app: object, settings: Settings, sock: socket.socket | None) -> None:
    # uvicorn re-raises the signal that stopped it; as SystemExit it unwinds
    # through our `finally`, which stops the other roles and the web children.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.web_host,
        port=settings.web_port,
        log_level="warning",
        # JSON logs: uvicorn's records go through the root handler too, not its own text one.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )
    uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def bind_ports(
    settings: Settings, roles: tuple[str, ...]
) -> tuple[socket.socket | None, socket.socket | None]:
    """The web and SMTP listening sockets the roles need, or a UsageError naming the
    port that cannot be had and how to choose another."""
    web = smtp = None
    try:
        if "web" in roles:
            web = _listen_on(settings.web_host, settings.web_port, "web", "--web-port")
        if "smtp" in roles:
            smtp = _listen_on(settings.smtp_host, settings.smtp_port, "SMTP", "--smtp-port")
    except BaseException:
        if web is not None:
            web.close()
        raise
    return web, smtp


def _listen_on(host: str, port: int, what: str, flag: str) -> socket.socket:
    try:
        return _listen(host, port)
    except OSError as exc:
        setting = "BRIDGE_" + flag.removeprefix("--").replace("-", "_").upper()
        reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"failed: {exc}"
        raise UsageError(
            f"{what} port {host}:{port} {reason}; choose another with {flag} PORT or {setting}"
        ) from exc


def _listen(host: str, port: int) -> socket.socket:
    """One listening socket: the web processes share it (a connection waits in its one
    queue until some process accepts it, so a process that dies loses none)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said explicitly: asyncio sets TCP_NODELAY on accepted connections
    # only when the protocol number is TCP's, and without it every keep-alive
    # response waited ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _fork_web(
    settings: Settings, sock: socket.socket, smtp_socket: socket.socket | None = None
) -> int:
    """A child process serving the web app on the shared `sock` until told to stop."""
    pid = os.fork()
    if pid:
        return pid
    if smtp_socket is not None:
        smtp_socket.close()  # the parent's listener alone answers SMTP
    code = 0
    try:
        _die_with_parent()
        core = open_core(settings)
        try:
            _serve_web(create_app(core), settings, sock)
        finally:
            core.close()
    except SystemExit:
        code = 0  # told to stop (SIGTERM from the parent, or the parent's death)
    except BaseException:  # a child must never return into the parent's code
        log.exception("web process %s failed", os.getpid())
        code = 1
    os._exit(code)


def _die_with_parent() -> None:
    # Linux: a parent killed outright must not leave its web children serving.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _stop_child(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _start_local_socket(core: Core) -> Callable[[], None]:
    """`bridge experts` asks here instead of starting Python and SQLAlchemy itself."""
    from bridge.local_answers import Answers
    from bridge.local_socket import LocalSocket, socket_path

    server = LocalSocket(socket_path(core.settings.data), Answers(core.settings, core.engine))
    if not server.start():
        return lambda: None  # logged; `bridge experts` works on its own, only slower
    return server.stop


def _start_lease_sweeper(core: Core) -> Callable[[], None]:
    # Before any role claims work: what a crashed process held is free at once.
    release_dead(core.engine)
    sweeper = LeaseSweeper(core.engine, every=min(SWEEP_SECONDS, core.settings.claim_seconds / 3))
    sweeper.start()
    return sweeper.stop


def _start_worker(core: Core) -> Callable[[], None]:
    worker = Worker(core)
    core.inbox.on_accept = worker.wake
    worker.start()

    def stop() -> None:
        worker.stop()
        worker.join(timeout=10)

    return stop


def _start_sender(core: Core) -> Callable[[], None]:
    from bridge.outbound.sender import SenderThread

    sender = SenderThread(core)
    sender.start()

    def stop() -> None:
        sender.stop()
        sender.join(timeout=30)

    return stop


def _start_smtp(
    core: Core,
    settings: Settings,
    sock: socket.socket | None = None,
    events: SMTPEvents | None = None,
) -> Callable[[], None]:
    from bridge.recipients import AnyOf, OwnAddresses
    from mail.smtp import load_auth_users, tls_context

    config = settings.smtp
    if bool(config.smtp_tls_cert) != bool(config.smtp_tls_key):
        raise UsageError("BRIDGE_SMTP_TLS_CERT and BRIDGE_SMTP_TLS_KEY go together")
    try:
        users = load_auth_users(config.smtp_auth_users)
    except (OSError, ValueError) as exc:
        raise UsageError(f"BRIDGE_SMTP_AUTH_USERS: {exc}") from exc
    if users and not config.smtp_tls_cert:
        # AUTH is offered only after STARTTLS: passwords never cross the wire in clear.
        raise UsageError("BRIDGE_SMTP_AUTH_USERS needs BRIDGE_SMTP_TLS_CERT and _KEY")
    tls = None
    if config.smtp_tls_cert:
        tls = tls_context(config.smtp_tls_cert, config.smtp_tls_key)
    smtp = SMTPListener(
        core.inbox,
        # The bridge's own reply/bounce addresses first (no query), then the route table.
        AnyOf(OwnAddresses(config.mail_domain, config.secret_key), RoutedRecipients(core.engine)),
        hostname=config.smtp_host,
        port=config.smtp_port,
        server_hostname=config.mail_domain,
        limits=config.limits,
        tls=tls,
        auth_users=users,
        sock=sock,
        observer=events,
    )
    smtp.start()
    return smtp.stop


def _start_imap(core: Core, settings: Settings) -> Callable[[], None]:
    from bridge.pollers import ImapPollers

    pollers = ImapPollers(core, settings)
    try:
        pollers.start()
    except UsageError as exc:  # e.g. an imap_folders entry naming a missing community
        raise UsageError(f"imap_folders: {exc}") from exc
    return pollers.stop


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
    if "imap" in roles:
        parts.append("IMAP pollers")
    if "worker" in roles:
        parts.append("pipeline worker")
    if "sender" in roles:
        parts.append(f"outbound sender to {settings.smtp_relay or settings.outbox_dir}")
    return f"Commons Bridge: {' · '.join(parts)} · data {settings.data}"


def _resolve(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return socket.gethostbyname(host)
