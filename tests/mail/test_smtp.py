"""The SMTP listener, spoken to over loopback: RCPT policy, strict DATA, limits, TLS and AUTH.

Each test starts the real listener (mail.smtp.SMTPListener) on a free port,
wired to the `core` fixture's inbox and the bridge's recipient policy, and
talks to it with smtplib or, for input smtplib would never send, a raw
socket. Replies are compared with the named replies of `mail.smtp.Reply`.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bridge.core import Core
from bridge.errors import UsageError
from bridge.recipients import AnyOf, OwnAddresses, RoutedRecipients
from bridge.serve import _start_smtp
from mail.envelope import Envelope, Receipt
from mail.smtp import (
    Limits,
    Reply,
    SMTPListener,
    hash_password,
    load_auth_users,
    verify_password,
)
from mail.smtp.commit import GroupCommit
from tests.support.env import settings_for
from tests.support.errors import SECRET, instance, tree_classes
from tests.support.factories import bridge_listener, create_community
from tests.support.messages import make_mail
from tests.support.net import free_port, wait_for
from threads.db import writer
from threads.models import RawMessage

DOMAIN = "bridge.example"
LIST = "eng@lists.example.com"
RAW = RawMessage.__table__


def crlf(raw: bytes) -> bytes:
    """Mail as SMTP carries it: every line ends in CRLF (make_mail writes bare LF)."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


def pair(reply: str) -> tuple[int, bytes]:
    """A named reply as smtplib returns it: (code, text after the code)."""
    return int(reply[:3]), reply[4:].encode()


def stored(core: Core) -> list[Any]:
    """Raw rows of accepted mail (refused mail is logged apart, see `refused`)."""
    with core.engine.connect() as conn:
        stmt = select(RAW).where(RAW.c.state != "rejected").order_by(RAW.c.id)
        return list(conn.execute(stmt).all())


def refused(core: Core) -> list[tuple[str, str]]:
    """(state, reason) of the refused messages kept for `bridge log`."""
    with core.engine.connect() as conn:
        stmt = select(RAW.c.state, RAW.c.reason).where(RAW.c.state == "rejected")
        return [tuple(row) for row in conn.execute(stmt.order_by(RAW.c.id))]


Start = Callable[..., int]


@pytest.fixture
def listen(core: Core) -> Iterator[Start]:
    """Start a listener on the core's inbox; returns its port. Stopped after the test."""
    create_community(core)
    running: list[SMTPListener] = []

    def start(*, inbox: Any = None, policy: Any = None, **options: Any) -> int:
        port = free_port()
        listener = SMTPListener(
            inbox or core.inbox,
            policy or AnyOf(OwnAddresses(DOMAIN), RoutedRecipients(core.engine)),
            hostname="127.0.0.1",
            port=port,
            server_hostname=DOMAIN,
            **options,
        )
        listener.start()
        running.append(listener)
        return port

    yield start
    for listener in running:
        listener.stop()


class Dialogue:
    """A raw SMTP client for input smtplib would not send (bare LF, NUL, smuggling)."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.port = port
        # Any 127/8 address is loopback on Linux: binding to 127.0.0.2 makes a second client.
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=30, source_address=(source, 0)
        )
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def reply(self) -> str:
        """The last line of the next (possibly multi-line) reply, without CRLF."""
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("connection closed")
            if line[3:4] != b"-":
                return line.rstrip(b"\r\n").decode()

    def command(self, line: str | bytes) -> str:
        self.sock.sendall((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.reply()

    def send_data(self, data: bytes) -> str:
        """MAIL, RCPT, DATA, then `data` sent as is (it must end the data itself)."""
        assert self.command("MAIL FROM:<ana@example.com>").startswith("250")
        assert self.command(f"RCPT TO:<{LIST}>") == Reply.RECIPIENT_OK
        assert self.command("DATA") == Reply.START_DATA
        self.sock.sendall(data)
        return self.reply()

    def closed(self) -> bool:
        return self.file.readline() == b""

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def dialogue(listen: Start) -> Iterator[Callable[..., Dialogue]]:
    opened: list[Dialogue] = []

    def open_(port: int | None = None, **options: Any) -> Dialogue:
        d = Dialogue(port if port is not None else listen(**options))
        opened.append(d)
        return d

    yield open_
    for d in opened:
        d.close()


# --- Recipients ------------------------------------------------------------------------


def test_own_addresses_policy() -> None:
    """Reply, bounce and postmaster addresses at the bridge's domain are ours; nothing else."""
    own = OwnAddresses("Bridge.Example")
    for address in (
        "reply+t0k3n@bridge.example",
        "bounces@bridge.example",
        "Bounces+ana=example.com@BRIDGE.example",
        "postmaster@bridge.example",
        "Postmaster",
        "<reply+x@bridge.example>",
    ):
        assert own.accepts(address), address
    for address in (
        "reply+x@other.example",
        "replies@bridge.example",
        "bounce@bridge.example",
        "ana@bridge.example",
        "reply+x@sub.bridge.example",
        "nobody",
    ):
        assert not own.accepts(address), address


def test_routes_are_reloaded_in_the_background_and_kept_when_the_reload_fails(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new route is taken within moments; a database error keeps the last known routes."""
    from bridge import route_admin

    create_community(core)
    routes = RoutedRecipients(core.engine, ttl=0)
    assert routes.accepts(LIST)
    with writer(core.engine).begin() as conn:
        route_admin.add_route(conn, "eng", "address", "new@lists.example.com")
    wait_for(lambda: routes.accepts("New@Lists.Example.com"))

    def broken() -> frozenset[str]:
        raise OSError("database unreachable")

    monkeypatch.setattr(routes, "_load", broken)
    for _ in range(20):  # each call may start a reload; every one of them fails
        assert routes.accepts(LIST)
        assert not routes.accepts("other@lists.example.com")


def test_rcpt_accepts_communities_and_own_addresses_and_refuses_the_rest(listen: Start) -> None:
    """Mapped and own addresses get 250 2.1.5; others 550 5.1.1 naming the address; syntax 501."""
    with smtplib.SMTP("127.0.0.1", listen()) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("ana@example.com")
        for address in (LIST, "reply+abc@bridge.example", "bounces@bridge.example", "Postmaster"):
            assert smtp.rcpt(address) == pair(Reply.RECIPIENT_OK), address
        for address in ("nobody@lists.example.com", "ana@bridge.example", "eng@lists.example.org"):
            assert smtp.rcpt(address) == pair(Reply.UNKNOWN_RECIPIENT.format(address=address))
        assert smtp.docmd("RCPT TO:<a@@b>") == pair(Reply.BAD_ADDRESS)
        assert smtp.docmd("RCPT TO:")[0] == 501
        assert smtp.docmd("RCPT") == (501, b"Syntax: RCPT TO: <address> [SP <mail-parameters>]")


def test_unknown_recipient_text_is_clear() -> None:
    """The 550 says what was refused and why, in words a sender's postmaster understands."""
    line = Reply.UNKNOWN_RECIPIENT.format(address="nobody@lists.example.com")
    assert line == (
        "550 5.1.1 <nobody@lists.example.com>: Recipient address rejected: "
        "no community, reply or bounce address here"
    )


def test_too_many_recipients_get_452(listen: Start) -> None:
    """Past the recipient limit RCPT gets 452 4.5.3; the message still goes to the first ones."""
    port = listen(limits=Limits(max_recipients=2))
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("ana@example.com")
        assert smtp.rcpt(LIST)[0] == 250
        assert smtp.rcpt("reply+1@bridge.example")[0] == 250
        assert smtp.rcpt("reply+2@bridge.example") == pair(Reply.TOO_MANY_RECIPIENTS)
        assert smtp.data(crlf(make_mail()))[0] == 250


def test_a_failing_recipient_check_is_a_temporary_failure(listen: Start) -> None:
    """The route table unreachable: 451 4.3.0 at RCPT, never a 5xx or the exception's text."""

    class Broken:
        def accepts(self, address: str) -> bool:
            raise RuntimeError("database is locked (secret internals)")

    with smtplib.SMTP("127.0.0.1", listen(policy=Broken())) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("ana@example.com")
        assert smtp.rcpt(LIST) == pair(Reply.TEMPORARY_FAILURE)


@pytest.mark.parametrize("cls", tree_classes(), ids=lambda c: c.__name__)
def test_every_error_of_the_tree_is_451_at_rcpt_and_data(
    listen: Start, core: Core, cls: type[Exception]
) -> None:
    """The SMTP boundary (replies.reply_for): whatever the check or the commit raises, the
    client is told 451 4.3.0 (retry), never 5xx and never the error's text."""

    class Failing:
        def accepts(self, address: str) -> bool:
            raise instance(cls)

        def accept(self, raw: bytes, envelope: Envelope) -> Receipt:
            raise instance(cls)

    with smtplib.SMTP("127.0.0.1", listen(policy=Failing())) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("ana@example.com")
        code, text = smtp.rcpt(LIST)
        assert (code, text) == pair(Reply.TEMPORARY_FAILURE)
        assert SECRET.encode() not in text
    with smtplib.SMTP("127.0.0.1", listen(inbox=Failing())) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("ana@example.com")
        smtp.rcpt(LIST)
        code, text = smtp.data(crlf(make_mail()))
        assert (code, text) == pair(Reply.TEMPORARY_FAILURE)
        assert SECRET.encode() not in text
    assert stored(core) == []


# --- DATA: durable acceptance ------------------------------------------------------------


def test_accepted_message_is_stored_verbatim_with_its_envelope(listen: Start, core: Core) -> None:
    """250 carries the queue id of the stored row; bytes (trace headers too) are kept as sent."""
    raw = crlf(
        make_mail(
            msgid="m1@example.com",
            headers={
                "Received": "from mx.example.com by relay.example.com; Mon, 2 Mar 2026 09:00:00",
                "Authentication-Results": "relay.example.com; dkim=pass header.d=example.com",
            },
            body="Hello,\n.a line that starts with a dot\n..two dots\n",
        )
    )
    with smtplib.SMTP("127.0.0.1", listen()) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("ana@example.com")
        smtp.rcpt(LIST)
        smtp.rcpt("reply+t@bridge.example")
        code, text = smtp.data(raw)
    (row,) = stored(core)
    assert (code, text) == pair(Reply.QUEUED.format(queue_id=Receipt(row.id, False).queue_id))
    assert bytes(row.data) == raw  # smtplib dot-stuffed the dotted lines; we un-stuffed them
    assert row.source == "smtp"
    assert row.mail_from == "ana@example.com"
    assert row.rcpt_to == [LIST, "reply+t@bridge.example"]
    assert row.source_ref == f"from client.example ([127.0.0.1]) by {DOMAIN} with ESMTP"


def test_same_bytes_twice_are_stored_once_with_one_queue_id(listen: Start, core: Core) -> None:
    """A client that lost our 250 and sends again gets the same queue id; one row."""
    raw = crlf(make_mail(msgid="again@example.com"))
    port = listen()
    replies = []
    for _ in range(2):
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.ehlo("client.example")
            smtp.mail("ana@example.com")
            smtp.rcpt(LIST)
            replies.append(smtp.data(raw))
    (row,) = stored(core)
    assert replies == [pair(Reply.QUEUED.format(queue_id=Receipt(row.id, False).queue_id))] * 2


def test_a_client_that_hung_up_before_our_250_resends_and_is_stored_once(
    dialogue: Callable[..., Dialogue], core: Core
) -> None:
    """The 250 lost on the way (client timed out, link dropped): the retry finds the stored row."""
    raw = crlf(make_mail(msgid="lost@example.com"))
    first = dialogue()
    first.command("EHLO client.example")
    first.command("MAIL FROM:<ana@example.com>")
    first.command(f"RCPT TO:<{LIST}>")
    first.command("DATA")
    first.sock.sendall(raw + b".\r\n")
    wait_for(lambda: stored(core))  # committed; its 250 is never read
    first.close()
    retry = dialogue(first.port)
    retry.command("EHLO client.example")
    reply = retry.send_data(raw + b".\r\n")
    (row,) = stored(core)
    assert reply == Reply.QUEUED.format(queue_id=Receipt(row.id, False).queue_id)


def test_loop_mail_is_accepted_for_the_pipeline_to_hold(listen: Start, core: Core) -> None:
    """Our own outbound mail coming back is not the session's business: stored, classified later."""
    raw = crlf(make_mail(headers={"X-Commons-Bridge-Loop": "eng"}))
    with smtplib.SMTP("127.0.0.1", listen()) as smtp:
        assert smtp.sendmail("ana@example.com", [LIST], raw) == {}
    assert len(stored(core)) == 1


def test_a_failing_inbox_answers_451_and_the_session_goes_on(listen: Start, core: Core) -> None:
    """Storage down: 451 4.3.0 (sender retries), no exception text; next transaction works."""

    class Flaky:
        calls = 0

        def accept(self, raw: bytes, envelope: Envelope) -> Receipt:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise OSError("disk full at /secret/path")
            return core.inbox.accept(raw, envelope)

    with smtplib.SMTP("127.0.0.1", listen(inbox=Flaky())) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("ana@example.com")
        smtp.rcpt(LIST)
        assert smtp.data(crlf(make_mail())) == pair(Reply.TEMPORARY_FAILURE)
        smtp.mail("ana@example.com")
        smtp.rcpt(LIST)
        assert smtp.data(crlf(make_mail()))[0] == 250
    assert len(stored(core)) == 1


def test_concurrent_clients_each_get_their_own_queue_id(listen: Start, core: Core) -> None:
    """Ten clients at once (group commit): every message stored once, every queue id distinct."""
    port = listen()

    def client(n: int) -> list[bytes]:
        ids = []
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.ehlo(f"c{n}.example")
            for i in range(5):
                smtp.mail("ana@example.com")
                smtp.rcpt(LIST)
                code, text = smtp.data(crlf(make_mail(msgid=f"c{n}m{i}@example.com")))
                assert code == 250
                ids.append(text)
        return ids

    with ThreadPoolExecutor(10) as pool:
        ids = [i for batch in pool.map(client, range(10)) for i in batch]
    rows = stored(core)
    assert len(rows) == len(set(ids)) == 50
    assert {Reply.QUEUED.format(queue_id=Receipt(r.id, False).queue_id)[4:] for r in rows} == {
        i.decode() for i in ids
    }


async def test_group_commit_retries_a_failed_batch_one_by_one() -> None:
    """One bad message in a batch fails alone; the others of its batch are still committed."""
    gate = threading.Event()
    committed: list[bytes] = []

    class Inbox:
        def accept(self, raw: bytes, envelope: Envelope) -> Receipt:
            gate.wait(30)
            if raw == b"bad":
                raise ValueError("cannot store this one")
            committed.append(raw)
            return Receipt(len(committed), duplicate=False)

        def accept_many(self, items: Any) -> list[Receipt]:
            raise ValueError("batch failed")

    commits = GroupCommit(Inbox())
    try:
        first = commits.submit(b"first", Envelope(source="smtp"))  # holds the thread at the gate
        rest = [commits.submit(raw, Envelope(source="smtp")) for raw in (b"a", b"bad", b"b")]
        gate.set()
        assert (await first).raw_id == 1
        assert (await rest[0]).raw_id == 2
        with pytest.raises(ValueError, match="cannot store"):
            await rest[1]
        assert (await rest[2]).raw_id == 3
    finally:
        gate.set()
        commits.close()


# --- DATA: strict reading ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reply"),
    [
        (b"Subject: x\nFrom: ceo@example.com\r\n\r\nhi\r\n.\r\n", Reply.BARE_LF),
        (b"Subject: x\r\n\r\nsome\rtext\r\n.\r\n", Reply.BARE_CR),
        (b"Subject: x\r\n\r\nnul\x00byte\r\n.\r\n", Reply.NUL),
        # A whole message with Unix line endings reads as one long line: still "bare LF".
        (b"Subject: x\n\n" + b"a line of text\n" * 200 + b"\r\n.\r\n", Reply.BARE_LF),
    ],
    ids=["bare-lf", "bare-cr", "nul", "unix-endings"],
)
def test_bare_newlines_and_nul_are_refused_and_not_stored(
    dialogue: Callable[..., Dialogue], core: Core, data: bytes, reply: Reply
) -> None:
    """Postfix's smtpd_forbid_bare_newline: 550 5.5.2, only logged as refused, session goes on."""
    d = dialogue()
    d.command("EHLO client.example")
    assert d.send_data(data) == reply
    assert stored(core) == []
    assert refused(core) == [("rejected", reply)]
    assert d.send_data(crlf(make_mail()) + b".\r\n").startswith("250 2.0.0")
    assert len(stored(core)) == 1


@pytest.mark.parametrize(
    "end", [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r"], ids=repr
)
def test_only_crlf_dot_crlf_ends_data(
    dialogue: Callable[..., Dialogue], core: Core, end: bytes
) -> None:
    """SMTP smuggling: a second message behind a non-standard end of data is never a command."""
    d = dialogue()
    d.command("EHLO client.example")
    smuggled = (
        b"Subject: first\r\n\r\nbody"
        + end
        + b"MAIL FROM:<ceo@example.com>\r\nRCPT TO:<eng@lists.example.com>\r\nDATA\r\n"
        + b"From: ceo@example.com\r\nSubject: forged\r\n\r\npay now\r\n.\r\n"
    )
    reply = d.send_data(smuggled)
    assert reply in (Reply.BARE_LF, Reply.BARE_CR)
    assert d.command("NOOP") == "250 OK"  # no stray replies: the session is still in step
    assert stored(core) == []


def test_line_length_limit(dialogue: Callable[..., Dialogue], core: Core) -> None:
    """998 octets plus CRLF pass (a leading dot on top); one longer line refuses the message."""
    d = dialogue()
    d.command("EHLO client.example")
    longest = b"x" * 998
    dotted = b"." + b"y" * 997
    ok = b"Subject: long\r\n\r\n" + longest + b"\r\n." + dotted + b"\r\n.\r\n"
    assert d.send_data(ok).startswith("250 2.0.0")
    (row,) = stored(core)
    assert bytes(row.data) == b"Subject: long\r\n\r\n" + longest + b"\r\n" + dotted + b"\r\n"
    too_long = b"Subject: long\r\n\r\n" + b"z" * 5000 + b"\r\nmore\r\n.\r\n"
    assert d.send_data(too_long) == Reply.LINE_TOO_LONG.format(limit=1000)
    assert len(stored(core)) == 1
    assert refused(core) == [("rejected", Reply.LINE_TOO_LONG.format(limit=1000))]
    assert d.command("NOOP") == "250 OK"


def test_size_limit_in_ehlo_mail_and_data(listen: Start, core: Core) -> None:
    """EHLO announces SIZE; a larger SIZE= or a larger message gets 552 5.3.4; nothing stored."""
    port = listen(limits=Limits(max_size=5000))
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        _, text = smtp.ehlo("client.example")
        assert "SIZE 5000" in text.decode().splitlines()
        assert smtp.docmd("MAIL FROM:<ana@example.com> SIZE=5001") == pair(
            Reply.TOO_BIG.format(limit=5000)
        )
        smtp.mail("ana@example.com")  # smtplib would send SIZE=: declare nothing
        smtp.rcpt(LIST)
        big = crlf(make_mail(body="0123456789\n" * 600))
        assert smtp.data(big) == pair(Reply.TOO_BIG.format(limit=5000))
        smtp.mail("ana@example.com")
        smtp.rcpt(LIST)
        assert smtp.data(crlf(make_mail()))[0] == 250
    assert len(stored(core)) == 1


def test_syntax_errors_get_501(dialogue: Callable[..., Dialogue]) -> None:
    """Malformed commands: 501 with the syntax, or our wording where aiosmtpd said 553."""
    d = dialogue()
    assert d.command("EHLO") == "501 Syntax: EHLO hostname"
    d.command("EHLO client.example")
    assert d.command("MAIL FROM:<ana@@example.com>") == Reply.BAD_ADDRESS
    assert d.command("MAIL TO:<ana@example.com>").startswith("501 Syntax: MAIL FROM")
    assert d.command("DATA") == Reply.NEED_RCPT
    d.command("MAIL FROM:<ana@example.com>")
    d.command(f"RCPT TO:<{LIST}>")
    assert d.command("DATA now") == Reply.DATA_SYNTAX


def test_stray_8bit_bytes_in_commands_are_stored_not_retried(
    dialogue: Callable[..., Dialogue], core: Core
) -> None:
    """Invalid UTF-8 and NUL in HELO/MAIL FROM would make every commit fail (451 forever)."""
    d = dialogue()
    d.command(b"EHLO bad\xffhelo\x00.example")
    assert d.command(b"MAIL FROM:<an\xffa@example.com>").startswith("250")
    assert d.command(f"RCPT TO:<{LIST}>") == Reply.RECIPIENT_OK
    assert d.command("DATA") == Reply.START_DATA
    d.sock.sendall(b"Subject: x\r\n\r\nx\r\n.\r\n")
    assert d.reply().startswith("250 2.0.0")
    d.command(b"MAIL FROM:<ana@example.com>")
    assert d.command(b"RCPT TO:<x\xff@bridge.example>") == Reply.UNKNOWN_RECIPIENT.format(
        address="x\ufffd@bridge.example"
    )
    (row,) = stored(core)
    assert row.mail_from == "an\ufffda@example.com"
    assert row.source_ref.startswith("from bad\ufffdhelo\ufffd.example ([127.0.0.1])")


def test_a_client_gone_in_the_middle_of_data_leaves_nothing(
    dialogue: Callable[..., Dialogue], core: Core
) -> None:
    """Half a message, then the connection closes: nothing stored, the listener serves on."""
    d = dialogue()
    d.command("EHLO client.example")
    d.command("MAIL FROM:<ana@example.com>")
    d.command(f"RCPT TO:<{LIST}>")
    assert d.command("DATA") == Reply.START_DATA
    d.sock.sendall(b"Subject: half\r\n\r\nthe first half\r\n")
    d.sock.shutdown(socket.SHUT_WR)
    assert d.closed()
    again = dialogue(d.port)
    again.command("EHLO client.example")
    assert again.send_data(crlf(make_mail()) + b".\r\n").startswith("250 2.0.0")
    (row,) = stored(core)
    assert b"the first half" not in bytes(row.data)


# --- Connections, rate, timeouts ---------------------------------------------------------


def admitted(port: int, source: str = "127.0.0.1") -> Dialogue:
    """A connection that got 220; a slot may take a moment to free after a close."""

    def attempt() -> Dialogue | None:
        d = Dialogue(port, source)
        if d.greeting.startswith("220 "):
            return d
        d.close()
        return None

    return wait_for(attempt)


def reset(d: Dialogue) -> None:
    """Drop the connection with a TCP reset (SO_LINGER 0), as a crashed client does."""
    d.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    d.close()


def test_connection_cap_answers_421_and_closes(listen: Start) -> None:
    """Over the cap for all clients together: 421 4.7.0 and closed; a freed slot is reused."""
    port = listen(limits=Limits(max_connections=3, max_per_client=2))
    # The listener's own start-up probe may hold a slot for a moment: admitted() waits.
    a, b, c = admitted(port), admitted(port), admitted(port, "127.0.0.2")
    d = Dialogue(port, "127.0.0.3")  # a client with no session yet, refused by the global cap
    try:
        assert d.greeting == Reply.TOO_MANY_CONNECTIONS.format(host=DOMAIN)
        assert d.closed()
        assert a.command("QUIT") == "221 Bye"
        assert a.closed()
        admitted(port, "127.0.0.3").close()
    finally:
        for x in (a, b, c, d):
            x.close()


def test_one_client_cannot_take_every_connection(core: Core) -> None:
    """The 11th session from one address gets 421 4.7.0; another address still gets in."""
    create_community(core)
    with bridge_listener(core, DOMAIN, Limits(max_per_client=10)) as port:
        held = [admitted(port) for _ in range(10)]
        try:
            over = Dialogue(port)
            held.append(over)
            assert over.greeting == Reply.TOO_MANY_FROM_CLIENT.format(
                host=DOMAIN, client="127.0.0.1"
            )
            assert over.closed()
            other = Dialogue(port, "127.0.0.2")
            held.append(other)
            assert other.greeting.startswith("220 ")
            other.command("EHLO other.example")
            assert other.send_data(crlf(make_mail()) + b".\r\n").startswith("250 2.0.0")
            assert held[0].command("QUIT") == "221 Bye"
            held[1].close()
            held.append(admitted(port))
            held.append(admitted(port))
            assert Dialogue(port).greeting.startswith("421 4.7.0")
        finally:
            for d in held:
                d.close()


def test_a_client_slot_is_freed_however_the_session_ends(core: Core) -> None:
    """QUIT, a reset, our idle timeout and a drop in DATA each give the client its slot back."""
    create_community(core)
    with bridge_listener(core, DOMAIN, Limits(max_per_client=1, idle_timeout=1.0)) as port:
        d = admitted(port)
        assert d.command("QUIT") == "221 Bye"
        d.close()
        d = admitted(port)
        reset(d)
        d = admitted(port)
        assert d.reply() == Reply.TIMEOUT.format(host=DOMAIN)
        assert d.closed()
        d.close()
        d = admitted(port)
        d.command("EHLO client.example")
        d.command("MAIL FROM:<ana@example.com>")
        d.command(f"RCPT TO:<{LIST}>")
        assert d.command("DATA") == Reply.START_DATA
        d.sock.sendall(b"Subject: half\r\n")
        reset(d)
        d = admitted(port)
        assert Dialogue(port).greeting.startswith("421 4.7.0")
        other = admitted(port, "127.0.0.2")
        d.close()
        other.close()


def test_serve_wires_the_per_client_cap(tmp_path: Path) -> None:
    """BRIDGE_SMTP_MAX_PER_CLIENT reaches the listener `bridge serve` starts."""
    from bridge.core import open_core

    settings = settings_for(tmp_path / "d", smtp_port=free_port(), smtp_max_per_client=1)
    core = open_core(settings)
    stop = _start_smtp(core, settings)
    try:
        first = admitted(settings.smtp_port)
        second = Dialogue(settings.smtp_port)
        assert second.greeting == Reply.TOO_MANY_FROM_CLIENT.format(
            host=settings.mail_domain, client="127.0.0.1"
        )
        first.close()
        second.close()
    finally:
        stop()
        core.close()


def test_rate_limit_per_client_answers_450_with_a_retry_hint(
    dialogue: Callable[..., Dialogue],
) -> None:
    """Over the per-client message rate, MAIL gets 450 4.7.1 saying when to come back."""
    d = dialogue(limits=Limits(rate_per_minute=2))
    d.command("EHLO client.example")
    for _ in range(2):
        assert d.command("MAIL FROM:<ana@example.com>") == "250 OK"
        assert d.command("RSET") == "250 OK"
    refused = d.command("MAIL FROM:<ana@example.com>")
    wait = re.fullmatch(r"450 4\.7\.1 .* try again in (\d+) seconds", refused)
    assert wait, refused
    assert refused == Reply.RATE_LIMITED.format(client="127.0.0.1", seconds=wait.group(1))
    assert 1 <= int(wait.group(1)) <= 30


def test_idle_client_is_told_421_and_disconnected(dialogue: Callable[..., Dialogue]) -> None:
    """A silent client gets 421 4.4.2 and the connection is closed."""
    d = dialogue(limits=Limits(idle_timeout=0.2))
    assert d.reply() == Reply.TIMEOUT.format(host=DOMAIN)
    assert d.closed()


def test_trickling_data_is_cut_at_the_data_deadline(
    dialogue: Callable[..., Dialogue], core: Core
) -> None:
    """A client that keeps DATA alive line by line is still cut off: 421 4.4.2, nothing stored."""
    d = dialogue(limits=Limits(idle_timeout=30, data_timeout=0.3))
    d.command("EHLO client.example")
    d.command("MAIL FROM:<ana@example.com>")
    d.command(f"RCPT TO:<{LIST}>")
    assert d.command("DATA") == Reply.START_DATA
    got = threading.Event()
    reply: list[str] = []

    def read() -> None:
        reply.append(d.reply())
        got.set()

    reader = threading.Thread(target=read)
    reader.start()
    while not got.wait(0.05):
        try:
            d.sock.sendall(b"still sending\r\n")
        except OSError:
            break
    reader.join(30)
    assert reply == [Reply.TIMEOUT.format(host=DOMAIN)]
    assert stored(core) == []


# --- STARTTLS and AUTH ---------------------------------------------------------------------


def client_tls(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def test_starttls_then_auth_marks_a_trusted_relay(
    listen: Start, core: Core, certificate: tuple[Path, Path]
) -> None:
    """AUTH only after STARTTLS; a relay that logged in is recorded ESMTPSA, not rate-limited."""
    from mail.smtp import tls_context

    cert, key = certificate
    port = listen(
        tls=tls_context(cert, key),
        auth_users={"relay": hash_password("s3cret")},
        limits=Limits(rate_per_minute=1),
    )
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.ehlo("relay.example")
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth")
        assert smtp.docmd("AUTH PLAIN AHJlbGF5AHMzY3JldA==")[0] == 538
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.ehlo("relay.example")
        smtp.starttls(context=client_tls(cert))
        smtp.ehlo("relay.example")
        assert smtp.esmtp_features["auth"].split() == ["LOGIN", "PLAIN"]
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("relay", "wrong")
        smtp.login("relay", "s3cret")
        for i in range(3):  # over the stranger's rate of 1/minute
            raw = crlf(make_mail(msgid=f"relayed{i}@example.com"))
            assert smtp.sendmail("ana@example.com", [LIST], raw) == {}
    rows = stored(core)
    assert len(rows) == 3
    assert rows[0].source_ref == (
        f"from relay.example ([127.0.0.1]) by {DOMAIN} with ESMTPSA (authenticated as relay)"
    )


def test_starttls_without_auth_is_esmtps(
    listen: Start, core: Core, certificate: tuple[Path, Path]
) -> None:
    """With a certificate but no AUTH users: STARTTLS works, AUTH is not offered or accepted."""
    from mail.smtp import tls_context

    port = listen(tls=tls_context(*certificate))
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.starttls(context=client_tls(certificate[0]))
        smtp.ehlo("mx.example")
        assert not smtp.has_extn("auth")
        assert smtp.docmd("AUTH PLAIN AHJlbGF5AHMzY3JldA==") == pair(Reply.AUTH_UNAVAILABLE)
        assert smtp.sendmail("ana@example.com", [LIST], crlf(make_mail())) == {}
    (row,) = stored(core)
    assert row.source_ref.endswith("with ESMTPS")


def test_three_failed_auth_attempts_end_the_connection(
    listen: Start, certificate: tuple[Path, Path]
) -> None:
    """A password guesser gets three tries per connection, then 421."""
    from mail.smtp import tls_context

    port = listen(tls=tls_context(*certificate), auth_users={"relay": hash_password("s3cret")})
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.starttls(context=client_tls(certificate[0]))
        smtp.ehlo("guess.example")
        for _ in range(3):
            assert smtp.docmd("AUTH PLAIN AHJlbGF5AGd1ZXNz")[0] == 535
        assert smtp.docmd("AUTH PLAIN AHJlbGF5AGd1ZXNz")[0] == 421


def test_auth_users_and_password_hashes(tmp_path: Path) -> None:
    """user:hash pairs inline or in a file; scrypt hashes verify; malformed entries refused."""
    stored_hash = hash_password("pw")
    assert verify_password(stored_hash, b"pw")
    assert not verify_password(stored_hash, b"pW")
    assert not verify_password("plain", b"pw")
    assert load_auth_users(f"a:{stored_hash}, b:{stored_hash}") == {
        "a": stored_hash,
        "b": stored_hash,
    }
    users = tmp_path / "users"
    users.write_text(f"# relays\nmx1:{stored_hash}\n\n")
    assert load_auth_users(str(users)) == {"mx1": stored_hash}
    assert load_auth_users("") == {}
    with pytest.raises(ValueError, match="scrypt"):
        load_auth_users("a:plaintext")


def test_serve_refuses_half_a_tls_setup_and_auth_without_tls(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    """Misconfiguration stops `bridge serve` with a clear message instead of a weaker listener."""
    from bridge.core import open_core

    cert, _ = certificate
    for overrides, message in (
        ({"smtp_tls_cert": str(cert)}, "go together"),
        ({"smtp_auth_users": f"r:{hash_password('x')}"}, "needs BRIDGE_SMTP_TLS_CERT"),
        ({"smtp_auth_users": "r:nope"}, "BRIDGE_SMTP_AUTH_USERS"),
    ):
        settings = settings_for(tmp_path / message.replace(" ", "-"), **overrides)
        core = open_core(settings)
        try:
            with pytest.raises(UsageError, match=message):
                _start_smtp(core, settings)
        finally:
            core.close()
