"""Every kind of mail we send, as the relay receives it: readable headers, a DKIM signature
that verifies against the record `bridge dkim keygen` printed.

The key is made by the real command, its printed record published on the DNS
stub, and the sender signs at hand-over to a recording aiosmtpd relay on
loopback. Each kind is produced by the code that produces it in service:
web replies' copies, a daily digest, a login link, a consent nudge, the help
answer to a reply it could not read and the "opened" notice, a moderator's
rejection notice, the warning to the owner of a reply address someone else
used. Assertions read the bytes the relay took.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email import message_from_bytes
from email.utils import parseaddr
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from bridge import route_admin
from bridge.cli import main
from bridge.core import Core
from bridge.moderation import decide
from bridge.outbound.notices import send_notice
from bridge.outbound.sender import Sender
from bridge.posting import post_reply
from bridge.worker import drain
from mail.envelope import Envelope
from tests.support import replies
from tests.support.dnsstub import DNSStub
from tests.support.factories import bridge_listener
from tests.support.messages import make_mail
from tests.support.relay import RelayHandler
from tests.support.wire import check_wire, dkim_verifies, headers
from threads import consent, outbound
from threads.db import writer
from threads.models import ConsentCandidate, RawMessage, RawState

SELECTOR = "wire1"
DOMAIN = replies.DOMAIN
TEAM = [f"Person {c} <{c.lower()}@example.com>" for c in "ABCDE"]
CONSENT_LIST = "plans@lists.example.com"


@pytest.fixture
def relay(recording_relay: tuple[int, RelayHandler]) -> tuple[int, RelayHandler]:
    return recording_relay


def keygen(data: Path) -> tuple[str, str]:
    """`bridge dkim keygen` as an admin runs it; the (name, value) it tells them to publish."""
    result = CliRunner().invoke(
        main,
        ["dkim", "keygen", "--data", str(data), "--selector", SELECTOR, "--domain", DOMAIN],
    )
    assert result.exit_code == 0, result.output
    lines = {
        k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in result.stdout.splitlines())
    }
    return lines["name"], lines["value"]


@pytest.fixture
def signed_core(
    tmp_path: Path, relay: tuple[int, RelayHandler], dns_stub: DNSStub
) -> Iterator[Core]:
    data = tmp_path / "data"
    name, value = keygen(data)
    dns_stub.add_txt(name, value)
    core = replies.open_reply_core(
        data,
        smtp_relay=f"127.0.0.1:{relay[0]}",
        smtp_relay_tls="none",
        dkim_selector=SELECTOR,
        org_domains=["example.com"],
    )
    yield core
    core.close()


def relayed(core: Core, handler: RelayHandler) -> list[bytes]:
    """Deliver what is due; the bytes the relay took since the last call."""
    Sender(core.engine, core.settings).deliver_due()
    taken = [data for _, _, data in handler.received]
    handler.received.clear()
    return taken


def assert_lands(raw: bytes, stub: DNSStub) -> dict[str, bytes]:
    """Readable structured headers, and a signature by our domain that verifies."""
    found = check_wire(raw)
    assert raw.startswith(b"DKIM-Signature:")
    signature = b"".join(found["dkim-signature"].split())
    assert f"d={DOMAIN};".encode() in signature
    assert f"s={SELECTOR};".encode() in signature
    assert dkim_verifies(raw, stub)
    return found


def test_post_copies_and_digest_land(
    signed_core: Core, relay: tuple[int, RelayHandler], dns_stub: DNSStub
) -> None:
    """A web reply's copies (and the digest of the one who chose it) are readable and signed."""
    core, handler = signed_core, relay[1]
    thread_id = replies.archived_thread(core)
    with writer(core.engine).begin() as conn:
        outbound.set_preference(conn, 1, "p2@example.com", "digest")
    post_reply(core, replies.EDITOR, thread_id, "Agreed, ship it on Monday.\n", name="Lee")
    report = Sender(core.engine, core.settings).run_once()
    assert report.digests == 1
    copies = [data for _, _, data in handler.received]
    assert len(copies) == report.sent
    assert report.sent >= 3
    kinds = set()
    for raw in copies:
        found = assert_lands(raw, dns_stub)
        assert b"<https://bridge.example.com/unsubscribe/" in found["list-unsubscribe"]
        kind = "digest" if b"<digest." in found["message-id"] else "post"
        if kind == "post":  # a copy's replies go to the reader's own token address
            assert f"@{DOMAIN}>".encode() in found["reply-to"]
        kinds.add(kind)
    assert kinds == {"post", "digest"}


def test_login_link_lands(
    signed_core: Core, relay: tuple[int, RelayHandler], dns_stub: DNSStub
) -> None:
    """The login link the web app mails (web/auth.py calls send_notice) is signed too."""
    send_notice(signed_core.settings, "ana@example.com", "Your login link", "Open it.")
    (raw,) = relayed(signed_core, relay[1])
    found = assert_lands(raw, dns_stub)
    assert found["auto-submitted"].strip() == b"auto-generated"


def test_nudge_and_opened_notice_land(
    signed_core: Core, relay: tuple[int, RelayHandler], dns_stub: DNSStub
) -> None:
    """A consent route's nudge to the starter and the "opened" notices to the participants."""
    core, handler = signed_core, relay[1]
    with writer(core.engine).begin() as conn:
        route_admin.add_route(
            conn, "eng", "address", CONSENT_LIST, policy="consent", cc_threshold=4
        )
    raws = [
        make_mail(
            ("Re: " if i else "") + "Rollout plan",
            sender=TEAM[i],
            to=CONSENT_LIST,
            cc=", ".join(p for p in TEAM if p != TEAM[i]),
            msgid=f"plan{i}@example.com",
            in_reply_to=f"plan{i - 1}@example.com" if i else None,
            body=f"Point {i}.\n",
            headers={"Authentication-Results": "mx.example.com; dmarc=pass"},
        )
        for i in range(2)
    ]
    receipts = [core.inbox.accept(r, Envelope("smtp", rcpt_to=[CONSENT_LIST])) for r in raws]
    core.pipeline.run([r.raw_id for r in receipts])
    nudges = relayed(core, handler)
    assert nudges, "the consent gate mailed no nudge"
    for raw in nudges:
        assert_lands(raw, dns_stub)
    # An answer to the nudge that says neither "open" nor "keep private" gets the help mail.
    nudge = message_from_bytes(nudges[0])
    answer = make_mail(
        "Re: " + str(nudge["Subject"]),
        sender=str(nudge["To"]),
        to=parseaddr(nudge["Reply-To"])[1],
        msgid="puzzled@example.com",
        body="What is this about?\n",
    )
    receipt = core.inbox.accept(answer, Envelope("smtp", rcpt_to=[parseaddr(nudge["Reply-To"])[1]]))
    core.pipeline.run([receipt.raw_id])
    (help_mail,) = relayed(core, handler)
    found = assert_lands(help_mail, dns_stub)
    assert found["subject"].strip() == b"Your answer about a conversation"
    with core.engine.connect() as conn:
        candidate = conn.execute(select(ConsentCandidate.__table__)).one()
    with writer(core.engine).begin() as conn:
        assert consent.decide(conn, candidate.id, "opened", "a@example.com", "web")
    core.pipeline.run([r.raw_id for r in receipts])
    opened = relayed(core, handler)
    assert opened, "no participant was told the conversation was opened"
    for raw in opened:
        found = assert_lands(raw, dns_stub)
        assert found["in-reply-to"].strip() == b"<plan1@example.com>"


def test_rejection_notice_lands(
    signed_core: Core, relay: tuple[int, RelayHandler], dns_stub: DNSStub
) -> None:
    """A moderator's rejection, mailed to the sender, is readable and signed."""
    core = signed_core
    receipt = core.inbox.accept(
        make_mail("Offer", sender="Out Sider <out@elsewhere.example>", to="eng@lists.example.com"),
        Envelope("smtp", "out@elsewhere.example", ("eng@lists.example.com",)),
    )
    with writer(core.engine).begin() as conn:
        conn.execute(
            update(RawMessage.__table__)
            .where(RawMessage.__table__.c.id == receipt.raw_id)
            .values(state=RawState.held.value, reason="held for a moderator")
        )
    state = decide(core, receipt.raw_id, "reject", actor="mod", actor_is_admin=True, reason="spam")
    assert state == str(RawState.rejected)
    (raw,) = relayed(core, relay[1])
    found = assert_lands(raw, dns_stub)
    assert b"out@elsewhere.example" in found["to"]


def test_forged_reply_warning_lands(
    signed_core: Core, relay: tuple[int, RelayHandler], dns_stub: DNSStub
) -> None:
    """The warning to a reply address's owner when someone else used it (held.py)."""
    core, handler = signed_core, relay[1]
    thread_id = replies.archived_thread(core)
    post_reply(core, replies.EDITOR, thread_id, "Agreed, ship it on Monday.\n", name="Lee")
    Sender(core.engine, core.settings).run_once()
    copy = next(data for _, rcpt, data in handler.received if rcpt == ["p1@example.com"])
    handler.received.clear()
    token_address = parseaddr(message_from_bytes(copy)["Reply-To"])[1]
    forged = make_mail(
        "Re: Rollout plan",
        sender="Mallory <mallory@example.com>",
        to=token_address,
        msgid="forged@example.com",
        body="Cancel it.\n",
    )
    with bridge_listener(core, DOMAIN) as port, smtplib.SMTP("127.0.0.1", port) as client:
        wire = forged.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        client.sendmail("mallory@example.com", [token_address], wire)
    drain(core)
    Sender(core.engine, core.settings).run_once()
    warnings = [data for _, rcpt, data in handler.received if rcpt == ["p1@example.com"]]
    assert len(warnings) == 1
    found = assert_lands(warnings[0], dns_stub)
    assert found["auto-submitted"].strip() == b"auto-generated"


def test_tampered_copy_fails_verification(
    signed_core: Core, relay: tuple[int, RelayHandler], dns_stub: DNSStub
) -> None:
    """The check can fail: a header added on the way (a second List-Unsubscribe) breaks it."""
    send_notice(signed_core.settings, "ana@example.com", "Your login link", "Open it.")
    (raw,) = relayed(signed_core, relay[1])
    assert dkim_verifies(raw, dns_stub)
    head, _, body = raw.partition(b"\r\n\r\n")
    forged = head + b"\r\nReply-To: <attacker@evil.example>\r\n\r\n" + body
    assert not dkim_verifies(forged, dns_stub)
    assert "reply-to" not in headers(raw)  # absent, yet signed: adding one breaks the signature


def test_unsigned_when_no_selector(
    tmp_path: Path, relay: tuple[int, RelayHandler], dns_stub: DNSStub
) -> None:
    """Without BRIDGE_DKIM_SELECTOR nothing is signed (the relay may sign instead)."""
    core = replies.open_reply_core(
        tmp_path / "plain", smtp_relay=f"127.0.0.1:{relay[0]}", smtp_relay_tls="none"
    )
    try:
        send_notice(core.settings, "ana@example.com", "Your login link", "Open it.")
        (raw,) = relayed(core, relay[1])
    finally:
        core.close()
    check_wire(raw)
    assert b"DKIM-Signature" not in raw
