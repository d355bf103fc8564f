"""The ingestion pipeline: every stage's outcome is stored with a state and a reason."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bridge import moderation, route_admin
from bridge.core import Core
from bridge.pipeline import steps
from mail.envelope import Envelope
from tests.support.env import settings_for
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from threads.db import writer
from threads.models import HoldKind, Message, RawMessage, RawState, Thread


def raw_row(core: Core, raw_id: int) -> RawMessage:
    with core.engine.connect() as conn:
        return conn.execute(select(RawMessage).where(RawMessage.id == raw_id)).one()


def test_message_is_filed_and_raw_marked_done(core: Core) -> None:
    """A routed message becomes a message in a new thread; its raw row is done."""
    create_community(core)
    (outcome,) = deliver(core, make_mail(msgid="a1@example.com"))
    assert outcome.state == RawState.done
    row = raw_row(core, outcome.raw_id)
    assert (row.state, row.message_id, row.subject) == ("done", "a1@example.com", "Budget review")
    with core.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Thread)).scalar_one() == 1


def test_identical_bytes_are_accepted_once(core: Core) -> None:
    """The same bytes from two sources are stored once; the second is a duplicate receipt."""
    raw = make_mail(msgid="same@example.com")
    first = core.inbox.accept(raw, Envelope(source="smtp"))
    second = core.inbox.accept(raw, Envelope(source="imap"))
    assert (first.duplicate, second.duplicate) == (False, True)
    assert first.raw_id == second.raw_id
    assert first.queue_id.startswith("CB")


def test_same_message_id_different_bytes_is_a_duplicate(core: Core) -> None:
    """A second copy with other headers (another relay) is kept raw but filed once."""
    create_community(core)
    deliver(core, make_mail(msgid="dup@example.com"))
    (again,) = deliver(core, make_mail(msgid="dup@example.com", headers={"X-Relay": "two"}))
    assert again.state == RawState.duplicate
    with core.engine.connect() as conn:
        real = select(func.count()).select_from(Message).where(Message.placeholder.is_(False))
        assert conn.execute(real).scalar_one() == 1


def test_unrouted_mail_is_held_with_the_recipients_named(core: Core) -> None:
    """No community for the address: held, and the reason says which addresses were tried."""
    create_community(core)
    (outcome,) = deliver(core, make_mail(to="nobody@lists.example.com"), rcpt=("nobody@x.test",))
    assert outcome.state == RawState.held
    assert "no route" in outcome.reason
    assert "nobody@x.test" in outcome.reason


def test_list_id_routes_when_addresses_do_not(core: Core) -> None:
    """A List-Id route files mail whose To is the list's own posting address we don't map."""
    create_community(core, addresses=[])
    with writer(core.engine).begin() as conn:
        route_admin.add_route(conn, "eng", "list_id", "<eng.lists.example.com>")
    raw = make_mail(to="eng-list@example.net", headers={"List-Id": "Eng <eng.lists.example.com>"})
    (outcome,) = deliver(core, raw)
    assert outcome.state == RawState.done


def test_auto_reply_is_held(core: Core) -> None:
    """Out-of-office replies are not published; the reason says auto-reply."""
    create_community(core)
    raw = make_mail("Automatic reply: Budget review", headers={"Auto-Submitted": "auto-replied"})
    (outcome,) = deliver(core, raw)
    assert outcome.state == RawState.held
    assert outcome.reason.startswith("auto-reply")


@pytest.mark.parametrize(
    ("headers", "subject", "why"),
    [
        ({"Sensitivity": "Private"}, "Budget review", "sensitivity label 'private'"),
        ({"Sensitivity": "Company-Confidential"}, "Budget", "label 'company-confidential'"),
        ({}, "[Confidential] Reorg", "subject tag '[confidential]'"),
    ],
)
def test_confidential_mail_is_held_for_an_admin(
    core: Core, headers: dict[str, str], subject: str, why: str
) -> None:
    """Confidential mail is never published; its hold reason says only an admin releases it."""
    create_community(core)
    (outcome,) = deliver(core, make_mail(subject, headers=headers))
    assert outcome.state == RawState.held
    assert outcome.hold_kind == HoldKind.confidential
    assert why in outcome.reason
    assert "only an admin" in outcome.reason


def test_encrypted_mail_is_held_for_an_admin(core: Core) -> None:
    create_community(core)
    raw = (
        b"From: Ana Lima <ana@example.com>\r\nTo: eng@lists.example.com\r\nSubject: Pay\r\n"
        b"Message-ID: <enc1@example.com>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nMIIBhgYJKoZIhvcNAQcDoIIBdzCC\r\n"
    )
    (outcome,) = deliver(core, raw)
    assert outcome.state == RawState.held
    assert outcome.reason == "confidential: encrypted with S/MIME; only an admin can release it"


def test_other_unlisted_labels_wait_for_a_moderator(core: Core) -> None:
    create_community(core)
    label = "MSIP_Label_0f1e2d3c-aaaa-bbbb-cccc-000000000001_Name=Internal;"
    (outcome,) = deliver(core, make_mail(headers={"msip_labels": label}))
    assert outcome.state == RawState.held
    assert outcome.reason == "sensitivity label 'internal': needs a moderator's decision"


def test_failure_in_a_step_keeps_the_raw_and_reprocess_recovers(core: Core, monkeypatch) -> None:
    """A crash inside a step marks the message failed with the reason; reprocess files it."""
    create_community(core)
    real_index = steps.index

    def broken(*args, **kwargs):
        raise RuntimeError("index unavailable")

    monkeypatch.setattr(steps, "index", broken)
    (outcome,) = deliver(core, make_mail(msgid="f1@example.com"))
    assert outcome.state == RawState.failed
    assert "index unavailable" in raw_row(core, outcome.raw_id).reason
    with core.engine.connect() as conn:  # the failed message left nothing half-filed
        assert conn.execute(select(func.count()).select_from(Message)).scalar_one() == 0
    monkeypatch.setattr(steps, "index", real_index)
    assert moderation.reprocess(core, "failed") == {"done": 1}
    assert raw_row(core, outcome.raw_id).state == "done"


def test_one_bad_message_does_not_fail_its_batch(core: Core, monkeypatch) -> None:
    """Savepoints isolate messages: the good ones of a batch are filed."""
    create_community(core)
    real = steps.thread_and_store

    def picky(conn, community, raw, letter, parsed, *rest):
        if letter.message_id == "bad@example.com":
            raise ValueError("boom")
        return real(conn, community, raw, letter, parsed, *rest)

    monkeypatch.setattr(steps, "thread_and_store", picky)
    outcomes = deliver(
        core,
        make_mail(msgid="good1@example.com"),
        make_mail(msgid="bad@example.com"),
        make_mail(msgid="good2@example.com"),
    )
    assert [o.state for o in outcomes] == [RawState.done, RawState.failed, RawState.done]


def test_reprocess_all_refiles_without_duplicating(core: Core) -> None:
    """Reprocessing everything rebuilds the same threads from the raw bytes."""
    create_community(core)
    deliver(
        core,
        make_mail(msgid="r1@example.com"),
        make_mail("Re: Budget review", msgid="r2@example.com", in_reply_to="r1@example.com"),
    )
    assert moderation.reprocess(core, "all") == {"done": 2}
    with core.engine.connect() as conn:
        threads = conn.execute(select(Thread.message_count)).scalars().all()
    assert threads == [2]


def test_live_reply_queues_copies_only_for_those_it_did_not_reach(core: Core) -> None:
    """Fan-out: a reply sent to part of the thread is owed to the rest, not to its own cc."""
    from threads.models import Notification

    create_community(core)
    deliver(core, make_mail(msgid="n1@example.com", cc="bo@example.com, cy@example.com"))
    deliver(
        core,
        make_mail(
            "Re: Budget review",
            sender="bo@example.com",
            msgid="n2@example.com",
            in_reply_to="n1@example.com",
            cc="ana@example.com",
        ),
    )
    with core.engine.connect() as conn:
        owed = conn.execute(select(Notification.recipient)).scalars().all()
    assert owed == ["cy@example.com"]


def test_imported_mail_is_not_fanned_out(core: Core) -> None:
    """An archive is history: importing it queues no mail to anyone."""
    from threads.models import Notification

    create_community(core)
    deliver(core, make_mail(msgid="i1@example.com", cc="bo@example.com"), source="import")
    deliver(
        core,
        make_mail(
            "Re: x", sender="bo@example.com", msgid="i2@example.com", in_reply_to="i1@example.com"
        ),
        source="import",
    )
    with core.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Notification)).scalar_one() == 0


def test_publishable_labels_are_a_setting(tmp_path) -> None:
    """An organisation's own label (Purview) is published once an admin lists it."""
    from bridge.core import open_core

    label = "MSIP_Label_0f1e2d3c-aaaa-bbbb-cccc-000000000001_Name=Internal;"
    core = open_core(settings_for(tmp_path / "d", publishable_labels="normal, Internal"))
    try:
        create_community(core)
        outcomes = deliver(
            core,
            make_mail(msgid="l1@example.com", headers={"msip_labels": label}),
            make_mail(msgid="l2@example.com", headers={"Sensitivity": "Company-Confidential"}),
        )
        assert [o.state for o in outcomes] == [RawState.done, RawState.held]
    finally:
        core.close()


def outlook_labelled(n: int, header: str) -> bytes:
    """Mail as Outlook sends it with a label: the msip_labels field folded after each ';'."""
    return (
        "From: Ana Lima <ana@example.com>\r\nTo: eng@lists.example.com\r\n"
        f"Subject: Label {n}\r\nMessage-ID: <label{n}@example.com>\r\n"
        f"Date: Mon, 02 Mar 2026 09:00:00 +0100\r\n{header}\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\nSee the plan.\r\n"
    ).encode()


def msip(name: str) -> str:
    guid = "MSIP_Label_f42aa342-8706-4288-bd11-ebb85995028c"
    site = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    fields = ["Enabled=true", "Method=Standard", f"Name={name}", f"SiteId={site}", "ContentBits=0"]
    return "msip_labels: " + ";\r\n ".join(f"{guid}_{field}" for field in fields)


@pytest.mark.parametrize(
    ("header", "state", "reason"),
    [
        (msip("General"), "done", ""),
        (msip("Public"), "done", ""),
        (msip("All Employees (unrestricted)"), "done", ""),
        (msip("Anyone (unrestricted)"), "done", ""),
        (msip("Non-Business"), "done", ""),
        ("Sensitivity: Normal", "done", ""),
        (msip("Highly Confidential"), "held", "confidential: sensitivity label"),
        ("Sensitivity: Company-Confidential", "held", "confidential: sensitivity label"),
        (msip("Internal"), "held", "sensitivity label 'internal': needs a moderator"),
    ],
)
def test_open_labels_are_published_and_others_held(
    core: Core, header: str, state: str, reason: str
) -> None:
    """Labels that are not confidential are never held; confidential and unknown ones are."""
    create_community(core)
    (outcome,) = deliver(core, outlook_labelled(1, header))
    assert (outcome.state, outcome.reason[: len(reason)]) == (state, reason)
