"""Posting policy on incoming mail, and a moderator's approve / reject / discard."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge import admin, moderation
from bridge.core import Core, open_core
from bridge.errors import UsageError
from tests.support.env import settings_for
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from threads.db import writer
from threads.models import Message, RawState


@pytest.fixture
def core(tmp_path: Path):  # type: ignore[no-untyped-def]
    c = open_core(settings_for(tmp_path / "data", org_domains=["example.com"]))
    yield c
    c.close()


def mail_from(sender: str, n: int, to: str = "eng@lists.example.com") -> bytes:
    return make_mail(f"Post {n}", sender=sender, to=to, msgid=f"m{n}@example.org")


@pytest.mark.parametrize(
    ("posting", "sender", "state"),
    [
        ("org", "ana@example.com", "done"),
        ("org", "eve@outside.example", "held"),
        ("org", "member@outside.example", "done"),
        ("members", "ana@example.com", "held"),
        ("members", "member@outside.example", "done"),
        ("members", "boss@outside.example", "done"),
        ("anyone", "eve@outside.example", "held"),
        ("anyone", "ana@example.com", "done"),
    ],
)
def test_posting_policy_on_live_mail(core: Core, posting: str, sender: str, state: str) -> None:
    """Members, org or anyone-with-moderation decide what is published at once."""
    create_community(core, posting=posting)
    with writer(core.engine).begin() as conn:
        admin.set_member(conn, "eng", "Member@Outside.example")
        admin.set_admin(conn, "boss@outside.example")
    (outcome,) = deliver(core, mail_from(sender, 1))
    assert outcome.state == state
    if state == "held":
        expected = "moderation" if posting == "anyone" else "sender not permitted"
        assert outcome.reason.startswith(expected)
        assert "(eng)" in outcome.reason


def test_imported_history_is_not_subject_to_posting(core: Core) -> None:
    """An archive import files outsiders' old mail: that is history, not posting."""
    create_community(core, posting="members")
    (outcome,) = deliver(core, mail_from("eve@outside.example", 1), source="import")
    assert outcome.state == "done"


def test_disabled_member_is_held(core: Core) -> None:
    """A disabled person's membership no longer lets their mail through."""
    create_community(core, posting="members")
    with writer(core.engine).begin() as conn:
        admin.set_member(conn, "eng", "member@outside.example")
        admin.set_disabled(conn, "member@outside.example")
    (outcome,) = deliver(core, mail_from("member@outside.example", 1))
    assert outcome.state == "held"


def test_approve_publishes_a_held_message(core: Core) -> None:
    """Approval lifts the posting hold and files the message; it is audited."""
    create_community(core, posting="members")
    (held,) = deliver(core, mail_from("eve@outside.example", 1))
    assert held.state == "held"
    (item,) = moderation.held_messages(core)
    assert (item.id, item.sender, len(item.community_ids)) == (
        held.raw_id,
        "eve@outside.example",
        1,
    )
    state = moderation.decide(
        core, held.raw_id, "approve", actor="mod@example.com", actor_is_admin=False
    )
    assert state == RawState.done
    assert moderation.held_messages(core) == []
    with core.engine.connect() as conn:
        (entry, *_) = admin.audit_log(conn)
    assert (entry.actor, entry.action) == ("mod@example.com", "held.approve")
    with pytest.raises(UsageError, match="not held"):
        moderation.decide(core, held.raw_id, "discard", actor="x@example.com", actor_is_admin=True)


def test_reject_mails_the_reason_to_the_sender(core: Core) -> None:
    """A rejection needs a reason, marks the message rejected and tells the sender."""
    create_community(core, posting="members")
    (held,) = deliver(core, mail_from("Eve <eve@outside.example>", 1))
    with pytest.raises(UsageError, match="reason"):
        moderation.decide(core, held.raw_id, "reject", actor="m@example.com", actor_is_admin=False)
    state = moderation.decide(
        core,
        held.raw_id,
        "reject",
        actor="m@example.com",
        actor_is_admin=False,
        reason="Please post product questions to support@example.com.",
    )
    assert state == RawState.rejected
    (notice,) = list(mailbox.Maildir(core.settings.outbox_dir, create=True))
    assert notice["To"] == "eve@outside.example"
    text = "".join(
        p.get_payload(decode=True).decode()
        for p in notice.walk()
        if p.get_content_type() == "text/plain"
    )
    assert "support@example.com" in text
    with core.engine.connect() as conn:
        (row,) = moderation.incoming_log(conn, state="rejected")
    assert row.reason.startswith("rejected by a moderator")


def test_discard_keeps_the_bytes_and_says_nothing(core: Core) -> None:
    """Discarded mail is out of the queue but still in the log; nobody is mailed."""
    create_community(core, posting="members")
    (held,) = deliver(core, mail_from("eve@outside.example", 1))
    moderation.decide(core, held.raw_id, "discard", actor="m@example.com", actor_is_admin=False)
    with core.engine.connect() as conn:
        (row,) = moderation.incoming_log(conn)
    assert row.state == "discarded"
    assert not list(mailbox.Maildir(core.settings.outbox_dir, create=True))


def test_confidential_mail_is_released_by_admins_only(core: Core) -> None:
    """A moderator cannot publish what was held as confidential; an admin can."""
    create_community(core)
    raw = make_mail("[confidential] Salaries", sender="ana@example.com", msgid="c@example.com")
    (held,) = deliver(core, raw)
    assert held.reason.startswith("confidential")
    with pytest.raises(UsageError, match="admin"):
        moderation.decide(core, held.raw_id, "approve", actor="m@example.com", actor_is_admin=False)
    state = moderation.decide(
        core, held.raw_id, "approve", actor="root@example.com", actor_is_admin=True
    )
    assert state == RawState.done


def test_web_posting_is_rate_limited(core: Core) -> None:
    """Past POST_LIMIT replies in the window, a person's web replies are refused."""
    from bridge import posting
    from threads.access import viewer_for

    create_community(core)
    (first,) = deliver(core, mail_from("ana@example.com", 1))
    with core.engine.connect() as conn:
        viewer = viewer_for(conn, "ana@example.com", ["example.com"])
        thread_id = conn.execute(
            select(Message.thread_id).where(Message.id == first.message_pks[0])
        ).scalar_one()
    for n in range(posting.POST_LIMIT):
        posting.post_reply(core, viewer, thread_id, f"Reply {n}.")
    with pytest.raises(posting.PostRefused, match="wait"):
        posting.post_reply(core, viewer, thread_id, "One too many.")
