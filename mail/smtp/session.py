"""The SMTP session: aiosmtpd's protocol, hardened; the one module on aiosmtpd's internals.

`BridgeSession` builds on private parts of aiosmtpd 1.4.x: `_handle_client`,
`_reader`, `_timeout_cb`, `_reset_timeout`, `_call_handler_hook`, and beside
them `_authenticator`, `_set_rset_state` and `_set_post_data_state`. They are
used in this module and nowhere else (those without annotations are called
under `type: ignore[no-untyped-call]`), and pyproject.toml keeps aiosmtpd
below 1.5; the tests speak SMTP to the listener and would catch a change
there. On top of aiosmtpd the session adds the admission gate at connect and
MAIL (gate.py), a 421 that says why before a timeout hangs up, our wording
of replies (replies.py), and a strict DATA reader: only CRLF.CRLF ends DATA,
and bare CR, bare LF and NUL are refused.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Protocol, cast

from aiosmtpd.smtp import SMTP, syntax

from mail.smtp.commit import GroupCommit
from mail.smtp.gate import Gate
from mail.smtp.handler import BridgeHandler
from mail.smtp.limits import Limits
from mail.smtp.replies import TRANSLATED, Reply, reply_for
from mail.smtp.trace import peer_ip

log = logging.getLogger("mail.smtp")  # the package's one name, the one admins' filters know

# A CR not followed by LF, an LF not preceded by CR, or NUL: never allowed in DATA.
_FORBIDDEN = re.compile(rb"\r(?!\n)|(?<!\r)\n|\x00")
# Only CRLF.CRLF ends DATA; the reader looks for its last four bytes, then checks the CR.
_END_OF_DATA = b"\r\n.\r\n"
_MARKER = _END_OF_DATA[1:]
_READ_LIMIT = 256 * 1024
_SIZE_PARAM = re.compile(r"\sSIZE=(\d+)", re.IGNORECASE)


class SessionObserver(Protocol):
    """Counts what the listener does, for the operator's metrics (no addresses, no text)."""

    def session_opened(self) -> None: ...

    def refused(self, code: str) -> None: ...


class _Unobserved:
    def session_opened(self) -> None:
        pass

    def refused(self, code: str) -> None:
        pass


class BridgeSession(SMTP):
    """One connection. Adds the caps, the strict DATA reader and our wording of replies."""

    def __init__(
        self,
        handler: BridgeHandler,
        *,
        gate: Gate,
        limits: Limits,
        commits: GroupCommit,
        observer: SessionObserver | None = None,
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
        self._observer = observer or _Unobserved()

    async def _handle_client(self) -> None:
        assert self.session is not None
        client = peer_ip(self.session)
        self._observer.session_opened()
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
            # aiosmtpd declares a BaseTransport; a TCP or TLS stream's transport writes.
            cast("asyncio.WriteTransport", self.transport).write(
                Reply.TIMEOUT.format(host=self.hostname).encode() + b"\r\n"
            )
        super()._timeout_cb()  # type: ignore[no-untyped-call]

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            status = status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii")
        status = TRANSLATED.get(status, status)
        if status[:1] in (b"4", b"5"):
            self._observer.refused(status[:3].decode("ascii", "replace"))
        await super().push(status)

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default answers 500 with the exception text; ours is
        # replies.reply_for's. The half-built transaction is dropped.
        log.error("SMTP session error: %r", error, exc_info=error)
        self._set_rset_state()  # type: ignore[no-untyped-call]
        return reply_for(error)

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
                client = peer_ip(self.session)
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
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        if problem is not None:
            if content:
                await self.event_handler.record_rejected(
                    self, self.session, self.envelope, content, problem
                )
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            await self.push(problem)
            return
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
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
