"""`bridge doctor`'s checks: is this installation able to receive, store and send mail that lands?

Each check returns one `Finding` (ok / warn / fail, what was seen, what to
do). Offline checks first (settings, ports, data directory, database,
signing key), then the network ones: the relay answers EHLO, and the mail
domain's MX, SPF, DKIM and DMARC records, asked of BRIDGE_DNS_SERVERS (or
the system's resolver). Without DNS the record checks say "skipped: no DNS"
rather than fail: doctor is as useful on a laptop as on the mail host.

Nothing here prints a secret: the database URL is shown with its password
masked, the relay password and the secret key never, the DKIM key only as
its public record.
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, NamedTuple

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bridge.dkim_keys import key_path, signer_for, too_open
from bridge.errors import ConfigError
from bridge.outbound.delivery import RelayConfig
from bridge.settings import Settings
from mail.errors import DmarcPermError, DNSTempError
from mail.sender_auth.dmarc import discover
from mail.sender_auth.dns import Resolver
from mail.sender_auth.domains import aligned
from mail.signing import record_key
from threads.db import MIGRATIONS, make_engine
from threads.models import Route, RouteKind

Status = Literal["ok", "warn", "fail", "skipped"]


class Finding(NamedTuple):
    """One check's outcome, printed as one line: status, check, what was seen or what to do."""

    check: str
    status: Status
    detail: str

    def line(self) -> str:
        return f"{self.status:<7} {self.check}: {self.detail}"


def safe_url(url: str) -> str:
    """The database URL as it may be printed: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL might still hold a password: say nothing of it
        return "(unparsable URL)"


def check_settings(settings: Settings) -> Finding:
    if settings.mail_domain in ("", "bridge.localhost") or "." not in settings.mail_domain:
        return Finding(
            "settings", "warn", f"mail domain {settings.mail_domain!r}: set BRIDGE_MAIL_DOMAIN"
        )
    if not settings.public_url:
        return Finding(
            "settings", "warn", "no BRIDGE_PUBLIC_URL: mailed links point at the listener"
        )
    return Finding("settings", "ok", f"mail domain {settings.mail_domain}")


def _answers(host: str, port: int, ask: bytes = b"") -> bytes | None:
    """What a listener at host:port says first (after `ask`), b"" if nothing; None if none."""
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            conn.settimeout(2)
            said = b""
            try:
                conn.sendall(ask)
                while len(said) < 8192 and (chunk := conn.recv(4096)):
                    said += chunk
                    if not ask:
                        break
            except TimeoutError:
                pass
            return said
    except OSError:
        return None


def check_port(
    name: str, host: str, port: int, ours: Callable[[bytes], bool], ask: bytes = b""
) -> Finding:
    """Free (bridge serve can bind it), or taken by a bridge already running."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            said = _answers(host, port, ask)
            if said is not None and ours(said):
                return Finding(name, "ok", f"{host}:{port} is served by a running bridge")
            if said is None:
                return Finding(name, "fail", f"cannot bind {host}:{port}: {exc.strerror}")
            return Finding(
                name, "fail", f"{host}:{port} is taken by another program: stop it or pick a port"
            )
    return Finding(name, "ok", f"{host}:{port} is free")


def _smtp_is_ours(banner: bytes) -> bool:
    return banner.startswith(b"220 ") and b"Commons Bridge" in banner


def _web_is_ours(said: bytes) -> bool:
    return said.startswith(b"HTTP/") and b"Commons Bridge" in said


_HTTP_GET = b"GET /login HTTP/1.0\r\nHost: localhost\r\n\r\n"


def check_data_dir(settings: Settings) -> Finding:
    probe = settings.data / f".doctor-{os.getpid()}"
    try:
        settings.data.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        return Finding("data directory", "fail", f"{settings.data} is not writable: {exc.strerror}")
    return Finding("data directory", "ok", f"{settings.data} is writable")


def check_database(settings: Settings) -> Finding:
    url = settings.effective_database_url
    shown = safe_url(url)
    with contextlib.suppress(Exception):
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
            # Connecting would create the file: doctor looks, it does not make things.
            return Finding(
                "database", "warn", f"{shown} does not exist yet: `bridge serve` makes it"
            )
    try:
        engine = make_engine(url)
    except Exception as exc:  # a URL SQLAlchemy cannot use: the name of the problem only
        return Finding("database", "fail", f"{shown}: {type(exc).__name__}")
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        reason = (str(getattr(exc, "orig", None) or exc).splitlines() or ["?"])[0]
        return Finding("database", "fail", f"{shown} unreachable: {reason}")
    finally:
        engine.dispose()
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    if current is None:
        return Finding("database", "warn", f"{shown} is empty: `bridge serve` creates the schema")
    if current != head:
        return Finding(
            "database",
            "warn",
            f"{shown} is at schema {current}, this version wants {head}: "
            "`bridge serve` (or any command) migrates it",
        )
    return Finding("database", "ok", f"{shown} at schema {current}")


def check_dkim_key(settings: Settings) -> Finding:
    if not settings.dkim_selector:
        return Finding(
            "dkim key",
            "warn",
            "signing off: run `bridge dkim keygen`, publish the record, set BRIDGE_DKIM_SELECTOR "
            "(unless the relay signs for you)",
        )
    try:
        signer = signer_for(settings)
    except ConfigError as exc:
        return Finding("dkim key", "fail", str(exc))
    path = key_path(settings, settings.dkim_selector, settings.effective_dkim_domain)
    if too_open(path):
        return Finding("dkim key", "fail", f"{path} is readable by others: chmod 600 {path}")
    assert signer is not None
    return Finding("dkim key", "ok", f"{path} signs as d={signer.domain} s={signer.selector}")


def check_relay(settings: Settings) -> Finding:
    if not settings.smtp_relay:
        return Finding("relay", "ok", f"none: mail is written to {settings.outbox_dir} (Maildir)")
    try:
        config = RelayConfig.parse(settings.smtp_relay, tls=settings.smtp_relay_tls)
    except ValueError:
        return Finding(
            "relay", "fail", f"BRIDGE_SMTP_RELAY={settings.smtp_relay!r} is not host:port"
        )
    where = f"{config.host}:{config.port}"
    try:
        client: smtplib.SMTP
        if config.tls == "tls":
            context = ssl.create_default_context(cafile=settings.smtp_relay_ca_file or None)
            client = smtplib.SMTP_SSL(config.host, config.port, timeout=10, context=context)
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=10)
        with client:
            code, _ = client.ehlo(settings.mail_domain)
            tls = client.has_extn("starttls")
            auth = client.has_extn("auth")
    except (OSError, smtplib.SMTPException) as exc:
        return Finding("relay", "fail", f"{where} unreachable: {exc}")
    if code != 250:
        return Finding("relay", "fail", f"{where} answered EHLO with {code}")
    if config.tls == "starttls" and not tls:
        return Finding(
            "relay", "fail", f"{where} offers no STARTTLS but BRIDGE_SMTP_RELAY_TLS asks"
        )
    if settings.smtp_relay_user and not auth and config.tls != "tls":
        return Finding("relay", "warn", f"{where} offers no AUTH before TLS; a user is configured")
    return Finding("relay", "ok", f"{where} answers EHLO" + (" (STARTTLS offered)" if tls else ""))


class Dns:
    """The record checks, sharing one resolver; all skipped once DNS proves unreachable."""

    def __init__(self, settings: Settings, resolver: Resolver) -> None:
        self.settings = settings
        self.resolver = resolver
        self.offline = ""

    def _txt(self, name: str) -> list[str]:
        return [r.decode("utf-8", "replace") for r in self.resolver.txt(name)]

    def run(self, name: str, check: Callable[[], Finding]) -> Finding:
        if self.offline:
            return Finding(name, "skipped", "no DNS (as above)")
        try:
            return check()
        except DNSTempError as exc:
            self.offline = str(exc)
            return Finding(name, "skipped", f"no DNS ({exc})")

    def mx(self) -> Finding:
        domain = self.settings.mail_domain
        records = self.resolver.lookup(domain, "MX")
        if not records:
            return Finding(
                "dns mx",
                "fail",
                f"no MX for {domain}: replies and bounces cannot reach the bridge; "
                f"publish `{domain}. MX 10 <this host>`",
            )
        hosts = ", ".join(sorted(str(r[1]) for r in records if isinstance(r, tuple)))
        return Finding("dns mx", "ok", f"{domain} MX {hosts}")

    def spf(self) -> Finding:
        domain = self.settings.mail_domain
        records = [t for t in self._txt(domain) if t.lower().startswith("v=spf1")]
        if not records:
            return Finding(
                "dns spf",
                "warn",
                f"no SPF record at {domain}: publish `v=spf1 mx -all` "
                "(or include your relay's senders); bounces we send are checked against it",
            )
        if len(records) > 1:
            return Finding(
                "dns spf", "fail", f"{len(records)} SPF records at {domain} (RFC 7208: keep one)"
            )
        return Finding("dns spf", "ok", records[0])

    def dkim(self) -> Finding:
        s = self.settings
        if not s.dkim_selector:
            return Finding("dns dkim", "skipped", "signing off (BRIDGE_DKIM_SELECTOR unset)")
        name = f"{s.dkim_selector}._domainkey.{s.effective_dkim_domain}"
        records = [t for t in self._txt(name) if "p=" in t]
        if not records:
            return Finding(
                "dns dkim", "fail", f"no key at {name}: publish what `bridge dkim record` prints"
            )
        try:
            signer = signer_for(s)
        except ConfigError:
            return Finding("dns dkim", "fail", f"{name} is published but the key file is unusable")
        assert signer is not None
        from mail.signing import public_record

        ours = record_key(public_record(signer.private_pem))
        if not any(record_key(r) == ours for r in records):
            return Finding(
                "dns dkim",
                "fail",
                f"{name} publishes another key than DATA/dkim holds: receivers will reject "
                "the signatures; publish what `bridge dkim record` prints",
            )
        return Finding("dns dkim", "ok", f"{name} publishes our key")

    def dmarc(self) -> Finding:
        domain = self.settings.mail_domain
        try:
            record, policy = discover(self.resolver, domain)
        except DmarcPermError as exc:
            return Finding("dns dmarc", "fail", f"{domain}: {exc}")
        if record is None:
            return Finding(
                "dns dmarc",
                "warn",
                f'no DMARC record for {domain}: publish `_dmarc.{domain} TXT "v=DMARC1; p=none"` '
                "to start (large receivers expect one from bulk senders)",
            )
        return Finding("dns dmarc", "ok", f"policy p={policy} applies to {domain}")


def alignment(settings: Settings) -> Iterator[Finding]:
    """Communities whose From domain the DKIM signature does not align with (DMARC fails)."""
    if not settings.dkim_selector:
        return
    engine = make_engine(settings.effective_database_url)
    try:
        with engine.connect() as conn:
            addresses = conn.execute(
                select(Route.__table__.c.value).where(Route.__table__.c.kind == RouteKind.address)
            ).scalars()
            domains = sorted({a.rpartition("@")[2] for a in addresses} | {settings.mail_domain})
    except SQLAlchemyError:
        return
    finally:
        engine.dispose()
    d = settings.effective_dkim_domain
    stray = [domain for domain in domains if not aligned(d, domain)]
    if stray:
        yield Finding(
            "dkim alignment",
            "warn",
            f"d={d} does not align with {', '.join(stray)}: mail From those addresses fails "
            "DMARC unless the relay signs for them",
        )
    else:
        yield Finding("dkim alignment", "ok", f"d={d} aligns with every From domain we use")


def diagnose(settings: Settings, *, online: bool = True) -> Iterator[Finding]:
    """Every check, in order; `online=False` skips the relay and DNS."""
    yield check_settings(settings)
    yield check_port("smtp port", settings.smtp_host, settings.smtp_port, _smtp_is_ours)
    yield check_port("web port", settings.web_host, settings.web_port, _web_is_ours, _HTTP_GET)
    yield check_data_dir(settings)
    database = check_database(settings)
    yield database
    yield check_dkim_key(settings)
    if database.status == "ok":  # reads the routes: a database that is there and current
        yield from alignment(settings)
    if not online:
        for name in ("relay", "dns mx", "dns spf", "dns dkim", "dns dmarc"):
            yield Finding(name, "skipped", "offline (--offline)")
        return
    yield check_relay(settings)
    dns = Dns(settings, Resolver(settings.dns_servers, timeout=3))
    yield dns.run("dns mx", dns.mx)
    yield dns.run("dns spf", dns.spf)
    yield dns.run("dns dkim", dns.dkim)
    yield dns.run("dns dmarc", dns.dmarc)
