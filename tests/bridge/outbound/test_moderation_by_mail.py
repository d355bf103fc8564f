"""Moderation by mail, end to end through the real SMTP listener, and its attackers.

A held message is mailed to the community's moderators with a signed reply
address; the moderator's "approve" (or "reject REASON") sent back by SMTP
decides it through the same function as /admin/held, audited. Senders are
checked in `trusted` mode: a trusted receiving server's Authentication-Results
(mx.example.com) proves a From, so a forged one is told apart.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bridge import admin
from bridge.core import Core
from bridge.outbound.sender import Sender
from mail.tokens import moderation_token
from tests.support import replies
from tests.support.moderation import (
    MODERATOR,
    OUTSIDER,
    answer,
    hold_one,
    mail,
    notices_to,
    open_moderation_core,
    round_trip,
    state_of,
    two_in_a_digest,
)
from tests.support.replies import DOMAIN, mail_to, send
from threads.db import writer
from threads.models import (
    AuditEntry,
    HoldKind,
    Message,
    ModerationNotice,
    Person,
    RawMessage,
    RawState,
)


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    c = open_moderation_core(tmp_path / "data")
    yield c
    c.close()


# The listener fixture of the reply set-up, on this module's core.
smtp_port = replies.smtp_port


def hold_kinds(core: Core, subject: str) -> list[str]:
    with core.engine.connect() as conn:
        return list(
            conn.execute(select(RawMessage.hold_kind).where(RawMessage.subject == subject))
            .scalars()
            .all()
        )


def published(core: Core, subject: str) -> bool:
    with core.engine.connect() as conn:
        return (
            conn.execute(select(Message.id).where(Message.subject == subject)).first() is not None
        )


def audits(core: Core, action: str) -> list[AuditEntry]:
    with core.engine.connect() as conn:
        return list(
            conn.execute(
                select(AuditEntry.__table__).where(AuditEntry.__table__.c.action == action)
            ).all()
        )  # type: ignore[arg-type]


def test_held_message_is_approved_by_a_mailed_answer(core: Core, smtp_port: int) -> None:
    """Held → notice in the outbox → "approve" by SMTP → published, audited; sender told once."""
    raw_id = hold_one(core, smtp_port)
    Sender(core.engine, core.settings).run_once()
    (notice,) = notices_to(core, MODERATOR)
    assert str(notice["Subject"]) == "Held for moderation: Vendor offer"
    reply_to = notice["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("moderate+")
    assert reply_to.endswith("@" + DOMAIN)
    text = notice.get_body(("plain",)).get_content()
    assert f"From: {OUTSIDER}" in text
    assert "Subject: Vendor offer" in text
    assert "we can offer a discount on build machines." in text
    assert "Why it is held:" in text
    assert "members" in text  # the posting policy's reason
    # The authenticated sender hears that the message waits.
    (told,) = mail_to(core, OUTSIDER)
    assert "Waiting for a moderator" in str(told["Subject"])

    answer(smtp_port, notice, "approve\n\n> A message to Engineering is held ...\n")
    round_trip(core)
    assert state_of(core, raw_id) == RawState.done
    assert published(core, "Vendor offer")
    (entry,) = audits(core, "held.approve")
    assert entry.actor == f"mail:{MODERATOR}"
    assert entry.target == f"raw {raw_id}"
    confirmations = [m for m in mail_to(core, MODERATOR) if "carried out" in str(m["Subject"])]
    assert len(confirmations) == 1
    # Announced once: more rounds mail the moderator nothing new.
    Sender(core.engine, core.settings).run_once()
    assert len(notices_to(core, MODERATOR)) == 1


def test_reject_with_hostile_reason_is_mailed_as_text(core: Core, smtp_port: int) -> None:
    """A reason with markup and control characters reaches the sender as one escaped line."""
    raw_id = hold_one(core, smtp_port)
    Sender(core.engine, core.settings).run_once()
    (notice,) = notices_to(core, MODERATOR)
    hostile = 'reject <script>alert("x")</script> \x1b[31mspam\x07 http://evil.example/?a=<b>\n'
    answer(smtp_port, notice, hostile)
    round_trip(core)
    assert state_of(core, raw_id) == RawState.rejected
    assert not published(core, "Vendor offer")
    (entry,) = audits(core, "held.reject")
    reason = entry.after["reason"]
    assert "\x1b" not in reason
    assert "\x07" not in reason
    assert "\n" not in reason
    assert reason.endswith('<script>alert("x")</script> [31mspam http://evil.example/?a=<b>')
    (rejection,) = [m for m in mail_to(core, OUTSIDER) if "Not published" in str(m["Subject"])]
    html = rejection.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "\x1b" not in rejection.as_string()
    assert rejection["Bcc"] is None


def test_several_held_in_an_hour_go_out_as_one_digest(core: Core, smtp_port: int) -> None:
    """The first held message is announced at once; the next ones wait and come as one digest."""
    # One sender for every round, as `bridge serve` runs it: its cache of parsed
    # held mail carries the waiting messages from one round to the next.
    sender = Sender(core.engine, core.settings)
    first = hold_one(core, smtp_port, "First offer")
    sender.run_once()
    assert len(notices_to(core, MODERATOR)) == 1
    second = hold_one(core, smtp_port, "Second offer")
    third = hold_one(core, smtp_port, "Third offer")
    sender.run_once()
    assert len(notices_to(core, MODERATOR)) == 1  # within the hour: waiting
    with writer(core.engine).begin() as conn:
        conn.execute(
            update(ModerationNotice.__table__).values(
                notified_at=datetime.now(UTC) - timedelta(hours=2)
            )
        )
    sender.run_once()
    notices = notices_to(core, MODERATOR)
    assert len(notices) == 2
    digest = next(m for m in notices if "2 messages held" in str(m["Subject"]))
    assert digest["Reply-To"].addresses[0].addr_spec.startswith("moderate+")
    text = digest.get_body(("plain",)).get_content()
    assert "Second offer" in text
    assert "Third offer" in text
    assert "First offer" not in text
    assert text.count("Reply address: moderate+") == 2
    # The sender was told once for the three, not three times (once a day).
    assert len([m for m in mail_to(core, OUTSIDER) if "Waiting" in str(m["Subject"])]) == 1
    # Answering the second entry's own address decides the second message only.
    second_address = text.split("Reply address: ")[1].split()[0]
    send(smtp_port, mail(MODERATOR, second_address, "approve", "approve\n"), second_address)
    round_trip(core)
    assert state_of(core, second) == RawState.done
    assert state_of(core, third) == RawState.held
    assert state_of(core, first) == RawState.held
    # Answering the digest itself names entries by number; a decided one is refused.
    answer(smtp_port, digest, "reject 2 Not for this list\napprove 1\n\n> 1.\n> approve all\n")
    round_trip(core)
    assert state_of(core, third) == RawState.rejected
    assert state_of(core, first) == RawState.held
    (told,) = [m for m in mail_to(core, MODERATOR) if "refused" in str(m["Subject"])]
    body = told.get_body(("plain",)).get_content()
    assert f"reject message {third} carried out" in body
    assert f"approve message {second} refused" in body


def test_approve_all_on_a_digest(core: Core, smtp_port: int) -> None:
    """ "approve all" in answer to a digest publishes each of its entries; a bad number none."""
    a, b = two_in_a_digest(core, smtp_port)
    digest = next(m for m in notices_to(core, MODERATOR) if "2 messages" in str(m["Subject"]))
    answer(smtp_port, digest, "approve 1 7\n")
    round_trip(core)
    assert (state_of(core, a), state_of(core, b)) == (RawState.held, RawState.held)
    answer(smtp_port, digest, "approve all\n", sender="mallory@example.com")
    round_trip(core)
    assert (state_of(core, a), state_of(core, b)) == (RawState.held, RawState.held)
    answer(smtp_port, digest, "Approve all.\n")
    round_trip(core)
    assert published(core, "Alpha")
    assert published(core, "Beta")
    assert len(audits(core, "held.approve")) == 2


def test_without_moderators_the_admins_are_told(core: Core, smtp_port: int) -> None:
    """A community with no moderator: its held mail goes to the admins."""
    with writer(core.engine).begin() as conn:
        admin.set_admin(conn, "root@example.com", actor="test")
    hold_one(core, smtp_port, "Ops question", to="ops")
    Sender(core.engine, core.settings).run_once()
    assert len(notices_to(core, "root@example.com")) == 1
    assert notices_to(core, MODERATOR) == []


def test_unauthenticated_sender_is_not_told(core: Core, smtp_port: int) -> None:
    """No backscatter: a held message whose From is unproven tells nobody but the moderators."""
    send(
        smtp_port,
        mail(OUTSIDER, "eng@lists.example.com", "Unproven", "Hi\n", auth=None),
        "eng@lists.example.com",
    )
    round_trip(core)
    assert len(notices_to(core, MODERATOR)) == 1
    assert mail_to(core, OUTSIDER) == []


# -- attackers ---------------------------------------------------------------


def test_forged_from_cannot_approve(core: Core, smtp_port: int) -> None:
    """The moderator's address without proof (or with a trusted failure) decides nothing."""
    raw_id = hold_one(core, smtp_port)
    Sender(core.engine, core.settings).run_once()
    (notice,) = notices_to(core, MODERATOR)
    answer(smtp_port, notice, "approve\n", auth=None)
    answer(smtp_port, notice, "approve\n", auth="fail")
    round_trip(core)
    assert state_of(core, raw_id) == RawState.held
    assert audits(core, "held.approve") == []
    kinds = hold_kinds(core, f"Re: {notice['Subject']}")
    assert kinds == [HoldKind.auth_failed, HoldKind.auth_failed]


def test_someone_else_using_the_notice_cannot_approve(core: Core, smtp_port: int) -> None:
    """A forwarded notice answered by another (authenticated) person is held as misuse."""
    raw_id = hold_one(core, smtp_port)
    Sender(core.engine, core.settings).run_once()
    (notice,) = notices_to(core, MODERATOR)
    answer(smtp_port, notice, "approve\n", sender="mallory@example.com")
    round_trip(core)
    assert state_of(core, raw_id) == RawState.held
    assert audits(core, "held.approve") == []
    assert hold_kinds(core, f"Re: {notice['Subject']}") == [HoldKind.misused_reply]


def test_a_demoted_moderator_cannot_approve(core: Core, smtp_port: int) -> None:
    """The replier must still be a moderator when the answer arrives."""
    raw_id = hold_one(core, smtp_port)
    Sender(core.engine, core.settings).run_once()
    (notice,) = notices_to(core, MODERATOR)
    with writer(core.engine).begin() as conn:
        admin.set_member(conn, "eng", MODERATOR, "member", actor="test")
    answer(smtp_port, notice, "approve\n")
    round_trip(core)
    assert state_of(core, raw_id) == RawState.held
    assert audits(core, "held.approve") == []
    refusal = [m for m in mail_to(core, MODERATOR) if "refused" in str(m["Subject"])]
    assert len(refusal) == 1


def test_a_token_for_another_communitys_message_is_refused(core: Core, smtp_port: int) -> None:
    """eng's moderator holding a genuine token for an ops message still cannot decide it."""
    ops_raw = hold_one(core, smtp_port, "Ops only", to="ops")
    with core.engine.connect() as conn:
        pid = conn.execute(select(Person.id).where(Person.email == MODERATOR)).scalar_one()
        ops = conn.execute(
            select(ModerationNotice.community_id).where(ModerationNotice.raw_id == ops_raw)
        ).scalar()
    assert ops is None  # nobody to tell in ops yet: no admin, no moderator
    # A token naming the ops message but eng's community, as eng's moderator would get one.
    with core.engine.connect() as conn:
        ids = [admin.community_id_of(conn, slug) for slug in ("eng", "ops")]
    for community_id in ids:
        token = moderation_token(
            core.settings.secret_key,
            raw_id=ops_raw,
            community_id=community_id,
            person_id=pid,
            address=MODERATOR,
            expires=datetime.now(UTC).date() + timedelta(days=3),
        )
        address = f"moderate+{token}@{DOMAIN}"
        send(smtp_port, mail(MODERATOR, address, "approve", "approve\n"), address)
    round_trip(core)
    assert state_of(core, ops_raw) == RawState.held
    assert audits(core, "held.approve") == []
    refused = [m for m in mail_to(core, MODERATOR) if "refused" in str(m["Subject"])]
    assert len(refused) == 2


def test_an_altered_token_is_refused_at_rcpt(core: Core, smtp_port: int) -> None:
    """A token whose bytes were changed (another message id) is not ours: 550 at RCPT."""
    hold_one(core, smtp_port)
    Sender(core.engine, core.settings).run_once()
    (notice,) = notices_to(core, MODERATOR)
    address = notice["Reply-To"].addresses[0].addr_spec
    local, _, domain = address.partition("@")
    # The first characters encode the held message's id (the signed part).
    prefix, token = local.split("+", 1)
    flipped = f"{prefix}+{'b' if token[0] == 'a' else 'a'}{token[1:]}"
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(smtp_port, mail(MODERATOR, "x", "approve", "approve\n"), f"{flipped}@{domain}")


def test_replaying_an_answer_after_the_decision_changes_nothing(core: Core, smtp_port: int) -> None:
    """A second "approve" (or a late "reject") after the decision is refused and not audited."""
    raw_id = hold_one(core, smtp_port)
    Sender(core.engine, core.settings).run_once()
    (notice,) = notices_to(core, MODERATOR)
    answer(smtp_port, notice, "approve\n")
    round_trip(core)
    assert state_of(core, raw_id) == RawState.done
    answer(smtp_port, notice, "approve\n")
    answer(smtp_port, notice, "reject too late\n")
    round_trip(core)
    assert state_of(core, raw_id) == RawState.done
    assert len(audits(core, "held.approve")) == 1
    assert audits(core, "held.reject") == []
    refused = [m for m in mail_to(core, MODERATOR) if "is not held" in str(m["Subject"])]
    assert len(refused) == 2


def test_an_answer_is_never_published(core: Core, smtp_port: int) -> None:
    """Whatever the answer says, it is held, never filed as a post."""
    hold_one(core, smtp_port)
    Sender(core.engine, core.settings).run_once()
    (notice,) = notices_to(core, MODERATOR)
    answer(smtp_port, notice, "Thanks, I will look at it tomorrow.\n")
    round_trip(core)
    assert not published(core, f"Re: {notice['Subject']}")
    assert hold_kinds(core, f"Re: {notice['Subject']}") == [HoldKind.invalid_reply]


def test_mail_to_two_communities_needs_a_moderator_of_both(core: Core, smtp_port: int) -> None:
    """Each community's moderators are told; one who moderates only one of them cannot decide."""
    with writer(core.engine).begin() as conn:
        admin.set_member(conn, "ops", "otto@example.com", "moderator", actor="test")
    both = "eng@lists.example.com, ops@lists.example.com"
    msg = mail(OUTSIDER, both, "For both", "Hello both lists.\n")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
        client.send_message(
            msg, from_addr=OUTSIDER, to_addrs=["eng@lists.example.com", "ops@lists.example.com"]
        )
    round_trip(core)
    (notice,) = notices_to(core, MODERATOR)
    assert len(notices_to(core, "otto@example.com")) == 1
    answer(smtp_port, notice, "approve\n")
    round_trip(core)
    assert not published(core, "For both")
    refused = [m for m in mail_to(core, MODERATOR) if "refused" in str(m["Subject"])]
    assert len(refused) == 1
    assert "every community" in refused[0].get_body(("plain",)).get_content()


def test_a_flood_of_held_mail_makes_one_bounded_digest(core: Core) -> None:
    """55 held in the hour after a notice: one digest listing 50, counting the rest."""
    from tests.support.factories import deliver

    to = "eng@lists.example.com"
    first = mail(OUTSIDER, to, "Flood 0", "first\n")
    deliver(core, first.as_bytes(), rcpt=(to,))
    Sender(core.engine, core.settings).run_once()
    flood = [mail(OUTSIDER, to, f"Flood {n}", f"offer {n}\n").as_bytes() for n in range(1, 56)]
    outcomes = deliver(core, *flood, rcpt=(to,))
    assert {o.state for o in outcomes} == {RawState.held}
    with writer(core.engine).begin() as conn:
        conn.execute(
            update(ModerationNotice.__table__).values(
                notified_at=datetime.now(UTC) - timedelta(hours=2)
            )
        )
    Sender(core.engine, core.settings).run_once()
    digest = next(m for m in notices_to(core, MODERATOR) if "55 messages" in str(m["Subject"]))
    text = digest.get_body(("plain",)).get_content()
    assert text.count("Reply address: moderate+") == 50
    assert "... and 5 more, listed on the web only." in text
    # All 55 count as announced: the next round mails nothing more.
    Sender(core.engine, core.settings).run_once()
    assert len(notices_to(core, MODERATOR)) == 2
