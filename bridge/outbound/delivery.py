"""Handing composed mail to the world: the configured relay (aiosmtplib) or the Maildir outbox.

A transport takes a batch of (id, envelope sender, recipient, bytes) and says
for each what happened: delivered (None), `Deferred` (try again later: the
relay is down, too slow, or answered 4xx) or `Refused` (5xx: retrying cannot
help). It never raises for one message's trouble, so one bad address cannot
hold up the batch. A relay batch shares one SMTP connection, reconnecting
once if the relay drops it mid-way.
"""

from __future__ import annotations

import asyncio
import mailbox
import ssl
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiosmtplib

from bridge.errors import Deferred, Refused


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: int
    mail_from: str
    recipient: str
    data: bytes  # CRLF line endings, as SMTP carries it


Result = Deferred | Refused | None


class Transport(Protocol):
    def send(self, batch: Sequence[Outgoing]) -> dict[int, Result]: ...


class MaildirTransport:
    """The embedded default: every message becomes a file in DATA/outbox (Maildir)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, batch: Sequence[Outgoing]) -> dict[int, Result]:
        results: dict[int, Result] = {}
        try:
            box = mailbox.Maildir(self.path, create=True)
        except OSError as exc:
            return {item.id: Deferred(f"outbox {self.path}: {exc}") for item in batch}
        for item in batch:
            # The envelope, as a delivering MTA would record it (RFC 5321 4.4).
            head = f"Return-Path: <{item.mail_from}>\r\nDelivered-To: {item.recipient}\r\n"
            try:
                box.add((head.encode() + item.data).replace(b"\r\n", b"\n"))
            except OSError as exc:
                results[item.id] = Deferred(f"outbox {self.path}: {exc}")
            else:
                results[item.id] = None
        return results


@dataclass(frozen=True, slots=True)
class RelayConfig:
    host: str
    port: int = 25
    tls: str = "auto"  # auto, starttls, tls, none
    user: str = ""
    password: str = ""
    timeout: float = 60
    ca_file: str = ""
    local_hostname: str | None = None

    @classmethod
    def parse(cls, relay: str, **options: object) -> RelayConfig:
        """`host`, `host:port` or `[v6::addr]:port`."""
        host, port = relay.strip(), 0
        if host.startswith("["):
            inside, _, rest = host[1:].partition("]")
            host, port = inside, int(rest[1:]) if rest.startswith(":") else 0
        elif host.count(":") == 1:
            name, _, number = host.partition(":")
            host, port = name, int(number)
        tls = str(options.get("tls", "auto"))
        default_port = 465 if tls == "tls" else 25
        return cls(host=host, port=port or default_port, **options)  # type: ignore[arg-type]


class RelayTransport:
    """SMTP to the configured relay, with STARTTLS and AUTH as the settings say."""

    def __init__(self, config: RelayConfig) -> None:
        self.config = config

    def send(self, batch: Sequence[Outgoing]) -> dict[int, Result]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._send(batch))
        # Called from a thread that runs an event loop (an async web handler, or a
        # test harness such as Playwright's sync API): asyncio.run would refuse.
        with ThreadPoolExecutor(1, thread_name_prefix="relay") as pool:
            return pool.submit(asyncio.run, self._send(batch)).result()

    def _client(self) -> aiosmtplib.SMTP:
        c = self.config
        context = ssl.create_default_context(cafile=c.ca_file or None)
        start_tls = {"auto": None, "starttls": True, "tls": False, "none": False}[c.tls]
        return aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            timeout=c.timeout,
            use_tls=c.tls == "tls",
            start_tls=start_tls,
            tls_context=context if c.tls != "none" else None,
            username=c.user or None,
            password=c.password or None,
            local_hostname=c.local_hostname,
        )

    async def _send(self, batch: Sequence[Outgoing]) -> dict[int, Result]:
        results: dict[int, Result] = {}
        client: aiosmtplib.SMTP | None = None
        where = f"relay {self.config.host}:{self.config.port}"
        for item in batch:
            for attempt in (1, 2):
                if client is None or not client.is_connected:
                    try:
                        client = self._client()
                        await client.connect()
                    except aiosmtplib.SMTPAuthenticationError as exc:
                        results[item.id] = Deferred(f"{where}: AUTH refused: {exc}")
                        client = None
                        break
                    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                        # Nothing else in this batch will fare better right now.
                        reason = Deferred(f"{where} unreachable: {_describe(exc)}")
                        for rest in batch:
                            results.setdefault(rest.id, reason)
                        return results
                try:
                    await client.sendmail(item.mail_from, [item.recipient], item.data)
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    refusal = exc.recipients[0] if exc.recipients else None
                    code = refusal.code if refusal else 550
                    text = f"{where} refused the recipient: {refusal or exc}"
                    results[item.id] = (
                        Refused(text, recipient=True) if code >= 500 else Deferred(text)
                    )
                except aiosmtplib.SMTPResponseException as exc:
                    text = f"{where} answered {exc.code} {exc.message}"
                    results[item.id] = Refused(text) if exc.code >= 500 else Deferred(text)
                    if exc.code in (421, 554):  # the relay is closing the session
                        client = None
                except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
                    client = None
                    if attempt == 1:
                        continue  # once more on a fresh connection
                    results[item.id] = Deferred(f"{where} dropped the connection: {exc}")
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    client = None
                    results[item.id] = Deferred(f"{where}: {_describe(exc)}")
                else:
                    results[item.id] = None
                break
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
        return results


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return f"timed out ({exc})"
    return str(exc) or type(exc).__name__
