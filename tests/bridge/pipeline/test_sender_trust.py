"""Sender trust end to end: who may post as whom, and who gets the copies.

Mail goes through the real SMTP listener on loopback; DKIM signatures are made
for real with dkimpy; DNS answers come from a stub server on loopback
(tests/support/dnsstub.py) that publishes the test domains' keys, SPF and DMARC. The
attack these tests stand for: someone who has a thread's Message-ID (every
original recipient, outsiders on Cc included) writes a reply "From:" a
member with their own address on Cc, to be filed as the member and to get
the members' later replies.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bridge import admin, copy_reviews, moderation
from bridge.core import Core, open_core
from bridge.posting import post_reply
from bridge.worker import drain
from mail.envelope import Envelope
from tests.support.dkimkeys import DkimKey
from tests.support.dnsstub import DNSStub
from tests.support.env import settings_for
from tests.support.factories import bridge_listener
from tests.support.messages import make_mail
from threads.access import viewer_for
from threads.db import writer
from threads.models import (
    CopyReview,
    HoldKind,
    Message,
    Notification,
    RawMessage,
    RawState,
    SenderCheck,
    Thread,
)

ORG = "org.example"
DOMAIN = "bridge.example"
MX = "mx.org.example"
MEMBER = "alice@org.example"
OTHER_MEMBER = "bob@org.example"
ATTACKER = "mallory@evil.example"
PARTNER = "vera@partner.example"
LIST = "team@lists.org.example"


@pytest.fixture
def stub() -> Iterator[DNSStub]:
    """The organisation publishes SPF (only its own relay, not loopback) and DMARC p=reject."""
    with DNSStub() as server:
        server.add_txt(ORG, "v=spf1 ip4:192.0.2.25 -all")
        server.add_txt(f"_dmarc.{ORG}", "v=DMARC1; p=reject; adkim=r; aspf=r")
        yield server


@pytest.fixture
def org_key(stub: DNSStub) -> DkimKey:
    key = DkimKey.generate("org")
    key.publish(stub, "s1", ORG)
    return key


def open_bridge(tmp_path: Path, stub: DNSStub, visibility: str, **settings: Any) -> Core:
    core = open_core(
        settings_for(
            tmp_path / "data",
            mail_domain=DOMAIN,
            org_domains=[ORG],
            trusted_authserv_ids=[MX],
            verify_senders=settings.pop("verify_senders", "auto"),
            dns_servers=[stub.address],
            **settings,
        )
    )
    with writer(core.engine).begin() as conn:
        admin.add_community(
            conn, "team", "Team", visibility=visibility, posting="anyone", addresses=[LIST]
        )
        for person in (MEMBER, OTHER_MEMBER):
            admin.set_member(conn, "team", person)
    return core


@pytest.fixture
def members_only(tmp_path: Path, stub: DNSStub) -> Iterator[Core]:
    core = open_bridge(tmp_path, stub, "members")
    yield core
    core.close()


def crlf(raw: bytes) -> bytes:
    """The message with CRLF line ends, as it travels in SMTP (and as DKIM signs it)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def send(port: int, raw: bytes, mail_from: str, rcpt: str = LIST) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(mail_from, [rcpt], crlf(raw))


def start_thread(core: Core, key: DkimKey, port: int, cc: str = "") -> None:
    """A member starts a thread, signed by the organisation."""
    root = make_mail(
        "Quarterly plan", sender=f"Alice <{MEMBER}>", to=LIST, cc=cc, msgid="root@org.example"
    )
    send(port, key.sign(crlf(root), "s1", ORG), MEMBER)
    drain(core)


def forged_reply(headers: dict[str, str] | None = None) -> bytes:
    """'From' the member, in reply to the thread, with the attacker on Cc (unsigned)."""
    return make_mail(
        "Re: Quarterly plan",
        sender=f"Alice <{MEMBER}>",
        to=LIST,
        cc=ATTACKER,
        msgid="forged@evil.example",
        in_reply_to="root@org.example",
        references="<root@org.example>",
        body="Please send me the numbers.\n",
        headers=headers,
    )


def raw_rows(core: Core, *where: Any) -> list[Any]:
    with core.engine.connect() as conn:
        return list(
            conn.execute(select(RawMessage.__table__).where(*where).order_by(RawMessage.id))
        )


def copies_to(core: Core) -> set[str]:
    with core.engine.connect() as conn:
        return set(conn.execute(select(Notification.recipient)).scalars())


def thread_id(core: Core) -> int:
    with core.engine.connect() as conn:
        return int(
            conn.execute(
                select(Message.thread_id).where(Message.message_id == "root@org.example")
            ).scalar_one()
        )


def member_replies_on_web(core: Core) -> None:
    with core.engine.connect() as conn:
        bob = viewer_for(conn, OTHER_MEMBER, core.settings.org_domains)
    post_reply(core, bob, thread_id(core), "Here they are.\n", name="Bob")


def test_forged_reply_with_trusted_dmarc_fail_is_held_and_gets_no_copies(
    members_only: Core, org_key: DkimKey
) -> None:
    """A trusted server's dmarc=fail holds the forged reply; the attacker gets nothing later."""
    with bridge_listener(members_only, DOMAIN) as port:
        start_thread(members_only, org_key, port)
        stamp = f"{MX}; dkim=none; spf=fail smtp.mailfrom={ORG}; dmarc=fail header.from={ORG}"
        send(port, forged_reply({"Authentication-Results": stamp}), ATTACKER)
        drain(members_only)
    forged = raw_rows(members_only, RawMessage.message_id == "forged@evil.example")[0]
    assert forged.state == RawState.held
    assert forged.hold_kind == HoldKind.auth_failed
    assert forged.auth["dmarc"] == "fail"
    assert forged.auth["by"] == MX
    member_replies_on_web(members_only)
    assert ATTACKER not in copies_to(members_only)
    assert MEMBER in copies_to(members_only)


def test_forged_reply_without_results_is_verified_here_and_held(
    members_only: Core, org_key: DkimKey, stub: DNSStub
) -> None:
    """No Authentication-Results: the bridge checks DMARC itself (p=reject, SPF fails): held."""
    with bridge_listener(members_only, DOMAIN) as port:
        start_thread(members_only, org_key, port)
        # The attacker also uses the member's address as envelope sender: SPF fails.
        send(port, forged_reply(), MEMBER)
        drain(members_only)
    root, forged = raw_rows(members_only)
    assert root.state == RawState.done
    assert root.auth["dkim"] == "pass"
    assert root.auth["dmarc"] == "pass"
    assert root.auth["proven"]
    assert forged.state == RawState.held
    assert forged.hold_kind == HoldKind.auth_failed
    assert forged.auth["spf"] == "fail"
    assert forged.auth["dmarc"] == "fail"
    assert forged.auth["dmarc_policy"] == "reject"
    assert stub.queries > 0
    member_replies_on_web(members_only)
    assert ATTACKER not in copies_to(members_only)


def test_signed_member_mail_is_filed_as_verified(members_only: Core, org_key: DkimKey) -> None:
    """A dkimpy-signed message from the organisation passes and is recorded as verified."""
    with bridge_listener(members_only, DOMAIN) as port:
        start_thread(members_only, org_key, port)
    with members_only.engine.connect() as conn:
        check = conn.execute(select(Message.sender_check).where(Message.placeholder.is_(False)))
        assert list(check.scalars()) == [SenderCheck.verified]


def test_dns_failure_is_temperror_and_holds_organisation_mail(
    members_only: Core, org_key: DkimKey, stub: DNSStub
) -> None:
    """A DNS server that fails cannot pass anyone: the verdict is temperror and the mail is held."""
    stub.fail(f"s1._domainkey.{ORG}")
    stub.fail(f"_dmarc.{ORG}")
    stub.fail(ORG)
    with bridge_listener(members_only, DOMAIN) as port:
        start_thread(members_only, org_key, port)
    (root,) = raw_rows(members_only)
    assert root.state == RawState.held
    assert root.hold_kind == HoldKind.auth_failed
    assert root.auth["dkim"] == "temperror"
    assert "temperror" in root.reason


def test_arc_sealed_list_forward_passes_only_with_a_trusted_sealer(
    tmp_path: Path, stub: DNSStub, org_key: DkimKey
) -> None:
    """A list that rewrites the subject breaks DKIM; its ARC seal vouches only if trusted."""
    list_key = DkimKey.generate("lists")
    list_key.publish(stub, "arc", "lists.example")
    plan = make_mail("Plan", sender=f"Alice <{MEMBER}>", to=LIST, msgid="fwd@org.example")
    original = org_key.sign(crlf(plan), "s1", ORG)
    # The list checks the original (DKIM passes), records it, then alters the message.
    stamped = (
        b"Authentication-Results: lists.example; dkim=pass header.d=org.example\r\n" + original
    )
    altered = stamped.replace(b"Subject: Plan", b"Subject: [team] Plan")
    sealed = list_key.arc_seal(altered, "arc", "lists.example", "lists.example")
    outcomes = {}
    for trusted in ([], ["lists.example"]):
        core = open_bridge(tmp_path / str(len(trusted)), stub, "org", trusted_arc_sealers=trusted)
        try:
            with bridge_listener(core, DOMAIN) as port:
                send(port, sealed, "bounces@lists.example")
                drain(core)
            (row,) = raw_rows(core)
            outcomes[bool(trusted)] = (row.state, row.auth["dkim"], row.auth["arc"])
        finally:
            core.close()
    assert outcomes[False] == (RawState.held, "fail", "pass")
    assert outcomes[True] == (RawState.done, "fail", "pass")


@pytest.mark.parametrize(
    ("visibility", "expected"),
    [
        ("members", {MEMBER}),
        ("org", {MEMBER, PARTNER, "carol@org.example"}),
        ("public", {MEMBER, PARTNER, "carol@org.example"}),
    ],
)
def test_copies_go_to_those_who_may_read_the_community(
    tmp_path: Path, stub: DNSStub, org_key: DkimKey, visibility: str, expected: set[str]
) -> None:
    """A proven member's To/Cc: copies only to addresses that may read the community."""
    core = open_bridge(tmp_path, stub, visibility)
    try:
        with bridge_listener(core, DOMAIN) as port:
            start_thread(core, org_key, port, cc=f"{PARTNER}, carol@org.example")
        member_replies_on_web(core)
        assert copies_to(core) == expected
    finally:
        core.close()


def approve_held(core: Core) -> None:
    (held,) = raw_rows(core, RawMessage.state == RawState.held)
    assert held.hold_kind == HoldKind.posting  # an outsider's post waits for a moderator
    moderation.decide(core, held.id, "approve", actor=MEMBER, actor_is_admin=True)


def partner_reply(port: int, cc: str, msgid: str) -> None:
    """The partner answers from a domain that publishes nothing: unverified, adding `cc`."""
    reply = make_mail(
        "Re: Quarterly plan",
        sender=f"Vera <{PARTNER}>",
        to=LIST,
        cc=cc,
        msgid=msgid,
        in_reply_to="root@org.example",
    )
    send(port, reply, PARTNER)


def decide_review(core: Core, decision: str) -> None:
    with core.engine.connect() as conn:
        (review,) = conn.execute(select(CopyReview.__table__)).all()
    assert review.state == "pending"
    with writer(core.engine).begin() as conn:
        team = conn.execute(select(Thread.community_id).where(Thread.id == review.thread_id))
        copy_reviews.decide(conn, review.id, decision, actor=MEMBER, community_ids=[team.scalar()])


def test_an_unverified_cc_waits_for_a_moderator_then_gets_copies(
    tmp_path: Path, stub: DNSStub, org_key: DkimKey
) -> None:
    """Org community: the partner a signed member put on Cc gets copies; the stranger the
    partner's unverified mail added gets none until a moderator approves (audited)."""
    core = open_bridge(tmp_path, stub, "org")
    try:
        with bridge_listener(core, DOMAIN) as port:
            start_thread(core, org_key, port, cc=PARTNER)
            partner_reply(port, "stranger@elsewhere.example", "vera1@partner.example")
            drain(core)
        approve_held(core)
        member_replies_on_web(core)
        assert PARTNER in copies_to(core)
        assert "stranger@elsewhere.example" not in copies_to(core)
        decide_review(core, "approve")
        member_replies_on_web(core)
        assert "stranger@elsewhere.example" in copies_to(core)
        with core.engine.connect() as conn:
            assert "copies.approve" in [a.action for a in admin.audit_log(conn)]
    finally:
        core.close()


def test_a_denied_cc_never_gets_copies_even_in_a_public_community(
    tmp_path: Path, stub: DNSStub, org_key: DkimKey
) -> None:
    """Public community: an outsider's unverified mail cannot subscribe someone else."""
    core = open_bridge(tmp_path, stub, "public")
    try:
        with bridge_listener(core, DOMAIN) as port:
            start_thread(core, org_key, port)
            partner_reply(port, "victim@elsewhere.example", "vera2@partner.example")
            drain(core)
        approve_held(core)
        decide_review(core, "deny")
        member_replies_on_web(core)
        assert PARTNER in copies_to(core)
        assert "victim@elsewhere.example" not in copies_to(core)
    finally:
        core.close()


def test_imported_history_is_recorded_not_held(tmp_path: Path, stub: DNSStub) -> None:
    """An archive import is an admin's act: an unproven organisation From is filed, unchecked."""
    core = open_bridge(tmp_path, stub, "org")
    try:
        receipt = core.inbox.accept(
            forged_reply(), Envelope("import", community_hint="team", source_ref="old.mbox")
        )
        core.pipeline.run([receipt.raw_id])
        (row,) = raw_rows(core)
        assert row.state == RawState.done
        with core.engine.connect() as conn:
            check = conn.execute(select(Message.sender_check).where(Message.raw_id == row.id))
            assert check.scalar_one() == SenderCheck.unchecked
    finally:
        core.close()


def test_exchange_internal_stamp_proves_mail_fetched_over_imap_only(
    tmp_path: Path, stub: DNSStub
) -> None:
    """AuthAs: Internal is Exchange's stamp on a mailbox's copy: believed over IMAP, not SMTP."""
    core = open_bridge(tmp_path, stub, "org")
    try:
        stamped = make_mail(
            "Internal note",
            sender=f"Alice <{MEMBER}>",
            to=LIST,
            msgid="internal@org.example",
            headers={"X-MS-Exchange-Organization-AuthAs": "Internal"},
        )
        imap = core.inbox.accept(stamped, Envelope("imap", source_ref="acct/INBOX/1/1"))
        smtp = core.inbox.accept(
            stamped.replace(b"internal@", b"internal2@"), Envelope("smtp", rcpt_to=(LIST,))
        )
        core.pipeline.run([imap.raw_id, smtp.raw_id])
        by_source = {r.source: (r.state, r.hold_kind) for r in raw_rows(core)}
        assert by_source["imap"] == (RawState.done, None)
        assert by_source["smtp"] == (RawState.held, HoldKind.auth_failed)
    finally:
        core.close()


def test_verification_off_holds_nothing_and_says_so(tmp_path: Path, stub: DNSStub) -> None:
    """BRIDGE_VERIFY_SENDERS=off believes From lines (documented unsafe) and records that."""
    core = open_bridge(tmp_path, stub, "members", verify_senders="off")
    try:
        with bridge_listener(core, DOMAIN) as port:
            send(port, forged_reply(), ATTACKER)
            drain(core)
        (row,) = raw_rows(core)
        assert row.state == RawState.done
        assert row.auth == {"proven": False, "note": "not checked: BRIDGE_VERIFY_SENDERS=off"}
        assert stub.queries == 0
    finally:
        core.close()


def test_members_only_asks_moderators_only_about_members(
    members_only: Core, org_key: DkimKey
) -> None:
    """An unverified member's Cc: a fellow member waits for a moderator, a stranger is not
    even asked about (approval could not make them a reader)."""
    with writer(members_only.engine).begin() as conn:
        admin.set_member(conn, "team", PARTNER)
    with bridge_listener(members_only, DOMAIN) as port:
        start_thread(members_only, org_key, port)
        partner_reply(port, f"{OTHER_MEMBER}, stranger@elsewhere.example", "vera3@partner.example")
        drain(members_only)
    with members_only.engine.connect() as conn:
        asked = conn.execute(select(CopyReview.address)).scalars()
        assert list(asked) == [OTHER_MEMBER]
