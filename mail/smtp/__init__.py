"""The SMTP listener (aiosmtpd): a thin, hardened edge that checks recipients and stores bytes.

No business logic lives here. RCPT is checked against a `RecipientPolicy`
port, so unknown addresses are refused before any data is sent; DATA is read
strictly (only CRLF.CRLF ends it; bare CR, bare LF and NUL are refused) and
handed to the `Inbox` port, and 250 goes out only after the bytes are
committed. Concurrent sessions share commits (group commit), so senders that
finish at the same moment share one fsync. Anything unexpected is answered 451 4.3.0 so the
sending server retries later instead of bouncing the mail.

What is stored is exactly the bytes the peer sent (after SMTP dot-unstuffing),
so the Received and Authentication-Results headers of the hops before us are
kept for later checks, and a client that retries after losing our 250 sends
identical bytes that the inbox stores once. Our own trace is not prepended to
the bytes (its time stamp would make every retry a different message); it is
recorded in the envelope's `source_ref` in the form of an RFC 5321 4.4
Received clause, with the RFC 3848 protocol name: `ESMTPS` after STARTTLS,
`ESMTPA`/`ESMTPSA` when the peer authenticated, which marks a trusted relay.

`_Session` builds on private parts of aiosmtpd 1.4.x (`_handle_client`,
`_reader`, `_timeout_cb`, `_reset_timeout`, `_call_handler_hook`); the tests
speak SMTP to the listener and would catch a change there.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import logging
import math
import queue
import re
import secrets
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session, syntax
from aiosmtpd.smtp import Envelope as SMTPEnvelope

from mail.envelope import BatchInbox, Envelope, Inbox, Receipt, RejectLog

log = logging.getLogger(__name__)


class Reply(StrEnum):
    """Every reply the listener words itself, by name, so tests compare names.

    Placeholders are filled with `.format(...)`. The enhanced status codes are
    RFC 3463's; the texts are close to Postfix's where Postfix has one, because
    that is what postmasters search for.
    """

    RECIPIENT_OK = "250 2.1.5 Recipient ok"
    QUEUED = "250 2.0.0 Ok: queued as {queue_id}"
    START_DATA = "354 End data with <CR><LF>.<CR><LF>"
    TOO_MANY_CONNECTIONS = "421 4.7.0 {host} Too many connections, try again later"
    TOO_MANY_FROM_CLIENT = (
        "421 4.7.0 {host} Too many connections from {client}, "
        "close some before opening more, or try again later"
    )
    TIMEOUT = "421 4.4.2 {host} Timeout exceeded, closing connection"
    RATE_LIMITED = "450 4.7.1 Too much mail from {client}, try again in {seconds} seconds"
    TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please try again later"
    TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
    LINE_TOO_LONG = "500 5.5.2 Line too long (RFC 5321 4.5.3.1.6: {limit} octets with CRLF)"
    BAD_ADDRESS = "501 5.1.3 Bad address syntax"
    DATA_SYNTAX = "501 5.5.4 Syntax: DATA"
    AUTH_UNAVAILABLE = "502 5.5.1 AUTH not available"
    NEED_RCPT = "503 5.5.1 Error: need RCPT command"
    UNKNOWN_RECIPIENT = (
        "550 5.1.1 <{address}>: Recipient address rejected: "
        "no community, reply or bounce address here"
    )
    BARE_LF = "550 5.5.2 Message rejected: bare <LF> received, lines must end in <CR><LF>"
    BARE_CR = "550 5.5.2 Message rejected: bare <CR> received, lines must end in <CR><LF>"
    NUL = "550 5.5.2 Message rejected: NUL byte received"
    TOO_BIG = "552 5.3.4 Message too big for system (limit {limit} bytes)"


# aiosmtpd's own replies that we word differently. The issue asks for 501 on an
# address that does not parse; aiosmtpd answers 553 (mailbox name not allowed).
_TRANSLATED = {b"553 5.1.3 Error: malformed address": Reply.BAD_ADDRESS.encode()}

# A CR not followed by LF, an LF not preceded by CR, or NUL: never allowed in DATA.
_FORBIDDEN = re.compile(rb"\r(?!\n)|(?<!\r)\n|\x00")
# Only CRLF.CRLF ends DATA; the reader looks for its last four bytes, then checks the CR.
_END_OF_DATA = b"\r\n.\r\n"
_MARKER = _END_OF_DATA[1:]
_READ_LIMIT = 256 * 1024
_SIZE_PARAM = re.compile(r"\sSIZE=(\d+)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RecipientPolicy(Protocol):
    """Says whether we take mail for an address (community, reply or bounce address).

    Called on the listener's event loop at every RCPT, so it must answer from
    memory and never wait on I/O (keep a copy and refresh it in the background,
    as `bridge.recipients.RoutedRecipients` does): one slow lookup would stall
    every session. An exception is answered 451 4.3.0.
    """

    def accepts(self, address: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Limits:
    """What one listener allows; `bridge serve` fills it from the BRIDGE_SMTP_* settings."""

    max_size: int = 25 * 1024 * 1024
    max_recipients: int = 100  # RFC 5321 4.5.3.1.8: at least 100 must be accepted
    max_line_length: int = 1000  # octets with CRLF, without the transparency dot (4.5.3.1.6)
    idle_timeout: float = 300.0  # RFC 5321 4.5.3.2.7: a server waits at least 5 minutes
    data_timeout: float = 600.0  # the whole DATA transfer, however slowly it trickles
    max_connections: int = 100
    max_per_client: int = 10  # open sessions from one client address; 0: no limit
    rate_per_minute: int = 600  # messages (MAIL commands) per client address; 0: no limit


# --- AUTH: scrypt password hashes --------------------------------------------------------

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash` (base64) for BRIDGE_SMTP_AUTH_USERS; the stdlib's scrypt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(stored: str, password: bytes) -> bool:
    """Constant-time check of `password` against a `hash_password` string."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password,
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


@functools.cache
def _dummy_hash() -> str:
    # Checked when the user is unknown, so a wrong name costs as long as a wrong password.
    return hash_password(secrets.token_urlsafe(16))


def load_auth_users(value: str) -> dict[str, str]:
    """`user:hash` pairs, comma-separated, or the path of a file with one pair per line."""
    value = value.strip()
    if not value:
        return {}
    path = Path(value)
    entries = path.read_text().splitlines() if path.is_file() else value.split(",")
    users = {}
    for entry in (e.strip() for e in entries):
        if not entry or entry.startswith("#"):
            continue
        user, sep, stored = entry.partition(":")
        if not sep or not stored.startswith("scrypt$"):
            raise ValueError("SMTP AUTH users: expected user:scrypt$... (see hash_password)")
        users[user.strip()] = stored.strip()
    return users


def tls_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A server context for STARTTLS (TLS 1.2 or later); clients are not asked for certificates."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


# --- Connection cap and per-client rate ----------------------------------------------------


class _Gate:
    """Connection caps (in all, and per client address) and a token bucket per client address.

    Used on the listener's loop only. The per-client cap keeps one client from
    taking every slot of the global cap with idle connections and locking all
    other senders out; Postfix's anvil (smtpd_client_connection_count_limit)
    does the same.
    """

    def __init__(self, limits: Limits) -> None:
        self._max = limits.max_connections
        self._max_per_client = limits.max_per_client
        self._open: dict[str, int] = {}  # client address -> open sessions; no zero entries
        self._rate = limits.rate_per_minute / 60.0  # tokens per second
        self._burst = float(limits.rate_per_minute)  # a minute's worth at once
        self.active = 0
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, when)
        self._prune_at = 10_000

    def admit(self, client: str) -> Reply | None:
        """Take a slot for a new session from `client`, or the reply that refuses it."""
        if self.active >= self._max:
            return Reply.TOO_MANY_CONNECTIONS
        held = self._open.get(client, 0)
        if self._max_per_client and held >= self._max_per_client:
            return Reply.TOO_MANY_FROM_CLIENT
        self.active += 1
        self._open[client] = held + 1
        return None

    def release(self, client: str) -> None:
        """Give back the slot `admit` took; called once per admitted session, however it ended."""
        self.active -= 1
        held = self._open.pop(client) - 1
        if held:
            self._open[client] = held

    def wait_for_message(self, client: str) -> int:
        """0 if `client` may start a message now, else the seconds until it may."""
        if self._rate <= 0:
            return 0
        now = time.monotonic()
        tokens, then = self._buckets.get(client, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self._rate))
        self._buckets[client] = (tokens - 1.0, now)
        if len(self._buckets) > self._prune_at:
            self._forget_idle(now)
        return 0

    def _forget_idle(self, now: float) -> None:
        # A bucket that has refilled completely says nothing a fresh one would not.
        full = [
            c for c, (t, w) in self._buckets.items() if t + (now - w) * self._rate >= self._burst
        ]
        for client in full:
            del self._buckets[client]
        # Many busy clients at once: scan again only when their number has doubled.
        self._prune_at = max(10_000, 2 * len(self._buckets))


# --- Group commit ------------------------------------------------------------------------


_Pending = tuple[bytes, Envelope, asyncio.Future[Receipt]]
_Outcome = tuple[asyncio.Future[Receipt], Receipt | BaseException]


class _GroupCommit:
    """One thread commits for all sessions: what queued up during a commit goes in the next.

    A lone sender is committed at once. When other sessions are reading DATA
    at that moment, the thread waits up to LINGER for them (the idea of
    PostgreSQL's commit_delay and commit_siblings): batches grow, and each
    commit's fixed cost is shared; bench/smtp.py measured about a tenth less
    server CPU per message at ten concurrent senders, for under a millisecond.
    The sessions of a batch are woken with one call into the event loop, not
    one each. If a batch fails it is retried one message at a time, so one
    message that cannot be stored does not make the others of its batch wait
    for a retry.
    """

    MAX_BATCH = 64
    MAX_BATCH_BYTES = 32 * 1024 * 1024
    LINGER = 0.001

    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox
        self._batch_inbox = inbox if isinstance(inbox, BatchInbox) else None
        self.reading = 0  # sessions between 354 and submit; written on the event loop only
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="smtp-commit", daemon=True)
        self._thread.start()

    def submit(self, raw: bytes, envelope: Envelope) -> asyncio.Future[Receipt]:
        """Queue a message; the future (of the running loop) gets its receipt or the error."""
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self._queue.put((raw, envelope, future))
        return future

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            batch: list[_Pending] = []
            size = 0
            while item is not None:
                # A session that went away before its turn was never answered 250;
                # its client retries, so its message need not be written now.
                if not item[2].cancelled():
                    batch.append(item)
                    size += len(item[0])
                if len(batch) >= self.MAX_BATCH or size >= self.MAX_BATCH_BYTES:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            stopping = item is None
            if not stopping and batch and self.reading > 0:
                stopping = self._linger(batch)
            if batch:
                _settle_soon(self._commit(batch))

    def _linger(self, batch: list[_Pending]) -> bool:
        deadline = time.monotonic() + self.LINGER
        while self.reading > 0 and len(batch) < self.MAX_BATCH:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if item is None:
                return True
            if not item[2].cancelled():
                batch.append(item)
        return False

    def _commit(self, batch: list[_Pending]) -> list[_Outcome]:
        try:
            if len(batch) > 1 and self._batch_inbox is not None:
                receipts = self._batch_inbox.accept_many([(raw, env) for raw, env, _ in batch])
            else:
                receipts = [self._inbox.accept(raw, env) for raw, env, _ in batch]
        except Exception as error:
            if len(batch) == 1:
                return [(batch[0][2], error)]
            log.warning("group commit of %d messages failed; committing one by one", len(batch))
            return [outcome for item in batch for outcome in self._commit([item])]
        return [(future, receipt) for (_, _, future), receipt in zip(batch, receipts, strict=True)]


def _settle_soon(outcomes: list[_Outcome]) -> None:
    """Hand the outcomes to the sessions' event loop in one call (from the commit thread)."""
    # RuntimeError: the loop is closed, the listener stopped and its sessions are gone.
    with contextlib.suppress(RuntimeError):
        outcomes[0][0].get_loop().call_soon_threadsafe(_settle, outcomes)


def _settle(outcomes: list[_Outcome]) -> None:
    for future, outcome in outcomes:
        if future.done():
            continue  # the session was cancelled meanwhile
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


# --- The handler: policy and durable DATA ---------------------------------------------------


def _text(value: str) -> str:
    """Peer-supplied text made storable: invalid UTF-8 and control characters replaced.

    aiosmtpd decodes commands with surrogateescape when SMTPUTF8 is on, so a
    HELO or MAIL FROM with stray 8-bit bytes arrives as lone surrogates, which
    neither SQLite nor PostgreSQL will store (nor NUL); the commit would fail,
    we would answer 451 and the sender would retry for days.
    """
    fixed = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _CONTROL.sub("\ufffd", fixed)


def _peer_ip(session: Session) -> str:
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) else str(peer)


def _address_literal(ip: str) -> str:
    # RFC 5321 4.1.3: [192.0.2.1], or [IPv6:2001:db8::1].
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"


def trace(session: Session, by: str) -> str:
    """Our Received clause for this session (RFC 5321 4.4, protocol names of RFC 3848)."""
    protocol = "SMTP"
    if session.extended_smtp:
        tls = "S" if session.ssl is not None else ""
        protocol = f"ESMTP{tls}{'A' if session.authenticated else ''}"
    helo = _text(session.host_name or "")
    stamp = f"from {helo} ({_address_literal(_peer_ip(session))}) by {by} with {protocol}"
    if session.authenticated:
        stamp += f" (authenticated as {_text(str(session.auth_data))})"
    return stamp


def _envelope(server: SMTP, session: Session, envelope: SMTPEnvelope) -> Envelope:
    return Envelope(
        source="smtp",
        mail_from=_text(envelope.mail_from or ""),
        rcpt_to=tuple(_text(a) for a in envelope.rcpt_tos),
        source_ref=trace(session, server.hostname),
    )


class BridgeHandler:
    """aiosmtpd handler hooks: RCPT policy and durable DATA."""

    def __init__(
        self,
        commits: _GroupCommit,
        policy: RecipientPolicy,
        *,
        max_recipients: int,
        offer_auth: bool,
        reject_log: RejectLog | None = None,
    ) -> None:
        self._commits = commits
        self._reject_log = reject_log
        self._policy = policy
        self._max_recipients = max_recipients
        self._offer_auth = offer_auth

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: SMTPEnvelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self._offer_auth:
            return responses
        # aiosmtpd lists its built-in mechanisms after STARTTLS even with no users to check.
        return [line for line in responses if not line[4:].upper().startswith("AUTH")]

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: SMTPEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= self._max_recipients:
            # RFC 5321 4.5.3.1.10: 452, and the client sends the rest in another transaction.
            return Reply.TOO_MANY_RECIPIENTS
        try:
            accepted = self._policy.accepts(address)
        except Exception:
            log.exception("recipient check failed")
            return Reply.TEMPORARY_FAILURE
        if not accepted:
            return Reply.UNKNOWN_RECIPIENT.format(address=_text(address))
        if address not in envelope.rcpt_tos:
            envelope.rcpt_tos.append(address)
        return Reply.RECIPIENT_OK

    async def record_rejected(
        self, server: SMTP, session: Session, envelope: SMTPEnvelope, raw: bytes, reply: str
    ) -> None:
        """Keep what we refused at DATA, with the reply, so `bridge log` shows it."""
        if self._reject_log is None:
            return
        meta = _envelope(server, session, envelope)
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, self._reject_log.record_rejected, raw, meta, reply
            )
        except Exception:  # the refusal stands; only the log entry is lost
            log.exception("could not record a refused message from %s", _peer_ip(session))

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SMTPEnvelope) -> str:
        raw = envelope.original_content or b""
        meta = _envelope(server, session, envelope)
        try:
            receipt = await self._commits.submit(raw, meta)
        except Exception:
            log.exception("could not store a message from %s", _peer_ip(session))
            return Reply.TEMPORARY_FAILURE
        return Reply.QUEUED.format(queue_id=receipt.queue_id)


# --- The session: aiosmtpd's SMTP protocol, hardened --------------------------------------


class _Session(SMTP):
    """One connection. Adds the caps, the strict DATA reader and our wording of replies."""

    def __init__(
        self,
        handler: BridgeHandler,
        *,
        gate: _Gate,
        limits: Limits,
        commits: _GroupCommit,
        **kwargs: Any,
    ) -> None:
        # aiosmtpd sizes its StreamReader by this: the most it buffers before a
        # command line must end (commands are still held to 512 octets), and how
        # much DATA is scanned at once. Line lengths in DATA are checked apart.
        self.line_length_limit = _READ_LIMIT
        super().__init__(handler, **kwargs)
        self._gate = gate
        self._limits = limits
        self._commits = commits
        self._admitted: str | None = None  # the client address holding a gate slot

    async def _handle_client(self) -> None:
        assert self.session is not None
        client = _peer_ip(self.session)
        refused = self._gate.admit(client)
        if refused is not None:
            # Over a cap: say so and hang up; the client retries later (RFC 5321 3.8).
            await self.push(refused.format(host=self.hostname, client=client))
            assert self.transport is not None
            self.transport.close()
            return
        self._admitted = client
        await super()._handle_client()

    def connection_lost(self, error: Exception | None) -> None:
        # Every end of a session passes here once: QUIT, our timeout, the peer's
        # reset or close, and the listener stopping. After STARTTLS the session is
        # re-created, so the address is kept on the protocol, not on the session.
        if self._admitted is not None:
            self._gate.release(self._admitted)
            self._admitted = None
        super().connection_lost(error)

    def _timeout_cb(self) -> None:
        # Say why before hanging up, as Postfix does ("421 4.4.2 ... timeout exceeded").
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(Reply.TIMEOUT.format(host=self.hostname).encode() + b"\r\n")
        super()._timeout_cb()

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            status = status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii")
        await super().push(_TRANSLATED.get(status, status))

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default answers 500 with the exception text: a permanent
        # failure that bounces good mail and shows our internals. 451 makes the
        # sender retry; the half-built transaction is dropped.
        log.error("SMTP session error: %r", error, exc_info=error)
        self._set_rset_state()
        return Reply.TEMPORARY_FAILURE

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str | None) -> None:
        assert self.session is not None
        assert self.envelope is not None
        if self.session.host_name and not self.envelope.mail_from and arg:
            # RFC 1870: a declared size over the limit is refused before any data.
            declared = _SIZE_PARAM.search(arg)
            if declared and int(declared.group(1)) > self._limits.max_size:
                await self.push(Reply.TOO_BIG.format(limit=self._limits.max_size))
                return
            # A relay that authenticated is ours; the rate limit is for strangers.
            if not self.session.authenticated:
                client = _peer_ip(self.session)
                wait = self._gate.wait_for_message(client)
                if wait:
                    await self.push(Reply.RATE_LIMITED.format(client=client, seconds=wait))
                    return
        await super().smtp_MAIL(arg)

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        if self._authenticator is None:
            await self.push(Reply.AUTH_UNAVAILABLE)
            return
        await super().smtp_AUTH(arg)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str | None) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push(Reply.NEED_RCPT)
            return
        if arg:
            await self.push(Reply.DATA_SYNTAX)
            return
        await self.push(Reply.START_DATA)
        self._commits.reading += 1
        try:
            content, problem = await self._read_data()
        finally:
            self._commits.reading -= 1
        if content is None:
            self._set_post_data_state()
            return
        if problem is not None:
            if content:
                await self.event_handler.record_rejected(
                    self, self.session, self.envelope, content, problem
                )
            self._set_post_data_state()
            await self.push(problem)
            return
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push(status)

    async def _read_data(self) -> tuple[bytes | None, str | None]:
        """The message up to CRLF.CRLF, dot-unstuffed, or the reason it must be refused.

        Only <CRLF>.<CRLF> ends the data (RFC 5321 4.1.1.4): a dot after a bare
        LF or CR is content, so a second message smuggled behind `<LF>.<LF>` is
        never taken for a new transaction (aiosmtpd 1.4.5 fixed its reader;
        this one keeps the rule). Bare LF, bare CR and NUL inside the
        data are refused outright, as Postfix does with smtpd_forbid_bare_newline
        (CVE-2023-51764): parsers disagree on whether a bare LF ends a header
        line, so "Subject: x<LF>From: ceo@..." is one header to one reader and
        a forged From to another; NUL truncates strings in C-based tools the same
        way. We answer 550 5.5.2: a permanent failure for this message (the
        sender's MTA bounces it to the author, who can resend it properly), where
        Postfix answers 521 and hangs up. 521 (RFC 7504) says "this host accepts
        no mail at all", which is not true, and the session is still in step:
        the data was read to its real end, so the connection can carry on.
        Sendmail's equivalent ("g"/"u" options) drops the session with 421,
        which the sender retries until the message expires. A refused message
        is read to its end and returned with the reason; it is never accepted,
        only recorded as `rejected` for the admin log (an oversized one is not
        kept at all). None: the client went away in the middle.
        """
        parts: list[bytes] = []
        size = 0
        last = b"\r\n"  # the stream's last bytes; the DATA command's CRLF comes first
        # One timer for the whole transfer, not one per line: a trickle of lines
        # cannot keep a session open.
        self._reset_timeout(self._limits.data_timeout)
        try:
            while last != _END_OF_DATA:
                chunk = await self._next_chunk(last)
                size += len(chunk)
                if size <= self._limits.max_size + len(_END_OF_DATA):
                    parts.append(chunk)
                else:
                    parts.clear()  # too big: read on to the end, keep nothing
                last = (last + chunk[-5:])[-5:]
        except asyncio.IncompleteReadError:
            return None, None  # end of stream: nothing to answer, nothing to store
        self._reset_timeout()
        if size - 3 > self._limits.max_size:
            return b"", Reply.TOO_BIG.format(limit=self._limits.max_size)
        content = b"".join(parts)[:-3]  # without the final ".\r\n"; the CRLF before it stays
        problem = _content_problem(content) or self._line_too_long(content)
        if problem is not None:
            return content, problem  # refused, but kept for the admin log
        # Transparency (RFC 5321 4.5.2): the client doubled every leading dot.
        if content.startswith(b"."):
            content = content[1:]
        return content.replace(b"\r\n.", b"\r\n"), None

    async def _next_chunk(self, last: bytes) -> bytes:
        """Stream bytes up to the next possible end of data, scanned in C, never past it.

        `readuntil` finds "<LF>.<CR><LF>" anywhere in the buffer; whether a CR
        precedes it is checked by the caller. When the bytes already read end
        in the first part of that marker, only the rest of it is read, so the
        marker is never split between two reads and missed.
        """
        for k in (3, 2, 1):
            if last.endswith(_MARKER[:k]):
                return await self._reader.readexactly(len(_MARKER) - k)
        try:
            return await self._reader.readuntil(_MARKER)
        except asyncio.LimitOverrunError as overrun:
            # No marker in the buffer yet (a big message): take what is safe to take.
            return await self._reader.readexactly(overrun.consumed)

    def _line_too_long(self, content: bytes) -> str | None:
        # The transparency dot may come on top of the limit (RFC 5321 4.5.3.1.6).
        longest = self._limits.max_line_length - 2 + 1
        if len(content) > longest and max(map(len, content.split(b"\r\n"))) > longest:
            return Reply.LINE_TOO_LONG.format(limit=self._limits.max_line_length)
        return None


def _content_problem(content: bytes) -> str | None:
    """Bare CR, bare LF or NUL anywhere in the data: the first one found, by name."""
    crlf = content.count(b"\r\n")
    if crlf == content.count(b"\r") == content.count(b"\n") and b"\x00" not in content:
        return None  # the common case, decided by three scans in C
    found = _FORBIDDEN.search(content)
    assert found is not None
    return {b"\n": Reply.BARE_LF, b"\r": Reply.BARE_CR}.get(found.group(), Reply.NUL)


# --- The listener -----------------------------------------------------------------------


class SMTPListener(Controller):
    """Runs the listener on its own thread and event loop."""

    def __init__(
        self,
        inbox: Inbox,
        policy: RecipientPolicy,
        *,
        hostname: str,
        port: int,
        server_hostname: str | None = None,
        limits: Limits | None = None,
        tls: ssl.SSLContext | None = None,
        auth_users: Mapping[str, str] | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self._gate = _Gate(self.limits)
        self._users = dict(auth_users or {})
        offer_auth = bool(self._users) and tls is not None
        self._commits = _GroupCommit(inbox)
        handler = BridgeHandler(
            self._commits,
            policy,
            max_recipients=self.limits.max_recipients,
            offer_auth=offer_auth,
            reject_log=inbox if isinstance(inbox, RejectLog) else None,
        )
        options: dict[str, Any] = {}
        if offer_auth:
            # Only after STARTTLS (aiosmtpd's auth_require_tls), and three tries
            # per connection before we hang up on a password guesser.
            options["authenticator"] = self._authenticate
            options["command_call_limit"] = {"AUTH": 3, "*": 2**31}
        super().__init__(
            handler,
            hostname=hostname,
            port=port,
            server_hostname=server_hostname,
            ident="ESMTP Commons Bridge",
            data_size_limit=self.limits.max_size,
            decode_data=False,
            timeout=self.limits.idle_timeout,
            tls_context=tls,
            **options,
        )

    def factory(self) -> SMTP:
        return _Session(
            self.handler,
            gate=self._gate,
            limits=self.limits,
            commits=self._commits,
            **self.SMTP_kwargs,
        )

    def stop(self, no_assert: bool = False) -> None:
        """Stop listening, then let the commit thread finish what it has taken on."""
        super().stop(no_assert=no_assert)
        self._commits.close()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: SMTPEnvelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = data.login.decode("utf-8", "replace")
        ok = verify_password(self._users.get(user) or _dummy_hash(), data.password)
        if not ok:
            log.warning("SMTP AUTH failed from %s", _peer_ip(session))
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=user)
