"""Consent routes in the pipeline: candidates, the cc threshold, opening, keeping private.

Mail on a consent route is not published: a new cc-heavy conversation is a
candidate its participants alone know of, a thinly copied one is ignored,
and an opened one is published with its earlier messages and announced once
to each participant. Fictional people at example.com throughout.
"""

from __future__ import annotations

import email
import json
import smtplib
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from bridge import admin, moderation, route_admin
from bridge.core import Core, open_core
from bridge.pipeline import nudges
from mail.envelope import Envelope
from tests.support.cli import run_bridge
from tests.support.env import bridge_env, settings_for
from tests.support.factories import bridge_listener, create_community
from tests.support.messages import make_mail
from tests.support.sessions import sign_in
from threads import consent
from threads.db import writer
from threads.models import (
    ConsentCandidate,
    ConsentMessage,
    Message,
    Notification,
    OutboundMail,
    Person,
    RawMessage,
    RawState,
    Thread,
    utcnow,
)
from web.app import create_app

LIST = "eng@lists.example.com"
TEAM = [
    "Ana Lima <ana@example.com>",
    "Ben Okafor <ben@example.com>",
    "Chen Wu <chen@example.com>",
    "Dara Roy <dara@example.com>",
    "Eli Stone <eli@example.com>",
    "Fay Moss <fay@example.com>",
]
RAW = RawMessage.__table__
CAND = ConsentCandidate.__table__


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    settings = settings_for(
        tmp_path / "data", org_domains=["example.com"], public_url="https://bridge.example"
    )
    c = open_core(settings)
    create_community(c, addresses=[])
    with writer(c.engine).begin() as conn:
        route_admin.add_route(conn, "eng", "address", LIST, policy="consent", cc_threshold=4)
    yield c
    c.close()


@pytest.fixture
def nudged(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The candidates the pipeline asked to nudge about (the nudge itself is tested apart)."""
    calls: list[int] = []

    def record(conn: Any, context: Any, candidate_id: int) -> bool:
        calls.append(candidate_id)
        return True

    monkeypatch.setattr(nudges, "queue_nudge", record)
    return calls


def thread_mail(n: int, *, prefix: str = "plan", cc: list[str] | None = None) -> list[bytes]:
    """A reply-all conversation of n messages among the team, the list on To."""
    people = cc if cc is not None else TEAM
    out = []
    for i in range(n):
        refs = " ".join(f"<{prefix}{j}@example.com>" for j in range(i))
        sender = people[i % len(people)]
        out.append(
            make_mail(
                ("Re: " if i else "") + "Rollout plan for the storage migration",
                sender=sender,
                to=LIST,
                cc=", ".join(p for p in people if p != sender),
                msgid=f"{prefix}{i}@example.com",
                in_reply_to=f"{prefix}{i - 1}@example.com" if i else None,
                references=refs or None,
                body=f"Point {i}: the migration window moves to the weekend.\n",
            )
        )
    return out


def run(core: Core, *raws: bytes, source: str = "smtp", **env: Any) -> list[Any]:
    receipts = [core.inbox.accept(r, Envelope(source=source, rcpt_to=[LIST], **env)) for r in raws]
    return core.pipeline.run([r.raw_id for r in receipts])


def count(core: Core, table: Any) -> int:
    with core.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def candidate(core: Core) -> Any:
    with core.engine.connect() as conn:
        return conn.execute(select(CAND)).one()


def decide(core: Core, decision: str) -> None:
    with core.engine.begin() as conn:
        assert consent.decide(conn, candidate(core).id, decision, "ana@example.com", "web")


def admin_client(core: Core) -> TestClient:
    client = TestClient(create_app(core), follow_redirects=False)
    sign_in(client, core, "root@example.com", is_admin=True)
    return client


def shown(core: Core) -> bool:
    """Whether an admin finds the conversation on the community page or by searching its text."""
    client = admin_client(core)
    subject = "Rollout plan for the storage migration"
    return subject in client.get("/c/eng").text or subject in client.get("/search?q=weekend").text


def test_smtp_mail_on_a_consent_route_becomes_a_candidate(core: Core, nudged: list[int]) -> None:
    """Sent over SMTP to a consent route: a candidate, nothing filed, its starter nudged once."""
    with bridge_listener(core, "bridge.example") as port, smtplib.SMTP("127.0.0.1", port) as client:
        # SMTP carries CRLF line endings; make_mail writes bare LF.
        data = thread_mail(1)[0].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        client.sendmail("ana@example.com", [LIST], data)
    with core.engine.connect() as conn:
        pending = list(conn.execute(select(RAW.c.id).where(RAW.c.state == "pending")).scalars())
    (outcome,) = core.pipeline.run(pending)
    assert outcome.state == RawState.candidate
    row = candidate(core)
    assert outcome.reason == (
        f"consent: waiting for ana@example.com to open this conversation (candidate {row.id})"
    )
    assert (row.starter, row.org_recipients, row.live, row.state) == (
        "ana@example.com",
        5,
        True,
        "candidate",
    )
    assert {p["address"] for p in row.participants} == {
        f"{n}@example.com" for n in ("ana", "ben", "chen", "dara", "eli", "fay")
    }
    assert nudged == [row.id]
    assert count(core, Message) == 0
    assert count(core, Thread) == 0
    assert not shown(core)


def test_a_reply_joins_its_candidate(core: Core, nudged: list[int]) -> None:
    """A reply (by In-Reply-To) joins the candidate; no second candidate, no second nudge."""
    outcomes = run(core, *thread_mail(3))
    assert [o.state for o in outcomes] == [RawState.candidate] * 3
    assert count(core, CAND) == 1
    assert count(core, ConsentMessage) == 3
    assert len(nudged) == 1
    # The same Message-ID again (another relay's copy): a duplicate, not a fourth member.
    (again,) = run(core, thread_mail(2)[1].replace(b"Point 1", b"Point 1 "))
    assert again.state == RawState.duplicate
    assert count(core, ConsentMessage) == 3


def test_below_the_threshold_is_ignored_and_never_shown(core: Core, nudged: list[int]) -> None:
    """Two colleagues on cc where the route needs four: ignored with a readable reason."""
    few = thread_mail(1, prefix="small", cc=TEAM[:3])
    (outcome,) = run(core, few[0])
    assert outcome.state == RawState.ignored
    assert outcome.reason == (
        "below the cc threshold: 2 organisation addresses on To/Cc, the route needs 4"
    )
    assert count(core, CAND) == 0
    assert count(core, Message) == 0
    assert nudged == []
    assert not shown(core)


def test_opened_publishes_earlier_mail_once_and_announces_once(core: Core) -> None:
    """Opened: earlier messages filed without copies, later ones published, one notice each."""
    first = run(core, *thread_mail(2))
    decide(core, "opened")
    released = core.pipeline.run([o.raw_id for o in first])
    assert [o.state for o in released] == [RawState.done, RawState.done]
    row = candidate(core)
    assert row.thread_id is not None
    assert row.announced_at is not None
    # Participants had the released mail by cc: no notification copies.
    assert count(core, Notification) == 0
    with core.engine.connect() as conn:
        notices = conn.execute(
            select(OutboundMail.recipient, OutboundMail.data).where(
                OutboundMail.message_id.like("opened.%")
            )
        ).all()
    assert sorted(r.recipient for r in notices) == sorted(p["address"] for p in row.participants)
    mail = email.message_from_bytes(notices[0].data, policy=policy.default)
    assert mail["In-Reply-To"] == "<plan1@example.com>"
    assert "<plan0@example.com>" in mail["References"]
    text = mail.get_body(("plain",)).get_content()
    assert f"https://bridge.example/t/{row.thread_id}" in text
    assert "Mute this thread: https://bridge.example/unsubscribe/" in text
    assert mail["List-Unsubscribe"]
    # A later reply-all is published as it arrives, into the same thread.
    (later,) = run(core, thread_mail(3)[2])
    assert later.state == RawState.done
    with core.engine.connect() as conn:
        threads = set(conn.execute(select(Message.thread_id)).scalars())
    assert threads == {row.thread_id}
    assert shown(core)
    # Reprocessing everything announces nothing twice.
    moderation.reprocess(core, "all")
    with core.engine.connect() as conn:
        again = select(func.count()).where(OutboundMail.message_id.like("opened.%"))
        assert conn.execute(again).scalar_one() == len(notices)
    assert candidate(core).state == "opened"


def test_the_opened_notice_in_each_participants_language(core: Core) -> None:
    """Ben chose German, Chen Japanese, Dara nothing: the same announcement in three languages."""
    first = run(core, *thread_mail(2))
    people = Person.__table__
    with writer(core.engine).begin() as conn:
        for address, locale in (("ben@example.com", "de"), ("chen@example.com", "ja")):
            if not conn.execute(
                update(people).where(people.c.email == address).values(locale=locale)
            ).rowcount:
                conn.execute(people.insert().values(email=address, name="", locale=locale))
    decide(core, "opened")
    core.pipeline.run([o.raw_id for o in first])
    with core.engine.connect() as conn:
        rows = conn.execute(
            select(OutboundMail.recipient, OutboundMail.data).where(
                OutboundMail.message_id.like("opened.%")
            )
        ).all()
    sent = {row.recipient: row.data for row in rows}

    def text(address: str) -> str:
        mail = email.message_from_bytes(sent[address], policy=policy.default)
        body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        return str(body).replace("\r\n", "\n")

    url = f"https://bridge.example/t/{candidate(core).thread_id}"
    german, japanese, english = (
        text("ben@example.com"),
        text("chen@example.com"),
        text("dara@example.com"),
    )
    assert f"für die Community Engineering lesbar, unter\n\n  {url}\n" in german
    assert "ana@example.com hat sie geöffnet." in german
    assert "Diesen Thread stummschalten: https://bridge.example/unsubscribe/" in german
    assert "この会話は Engineering コミュニティで閲覧できるようになりました。" in japanese
    assert f"readable by the Engineering community at\n\n  {url}\n" in english
    assert "ana@example.com opened it." in english


def test_private_keeps_later_mail_private(core: Core) -> None:
    """Kept private: the held mail and every later reply stay raw, never shown."""
    run(core, *thread_mail(2))
    decide(core, "private")
    (later,) = run(core, thread_mail(3)[2])
    assert later.state == RawState.private
    assert count(core, Message) == 0
    with core.engine.connect() as conn:
        states = set(conn.execute(select(RAW.c.state)).scalars())
    assert states == {"private"}
    assert not shown(core)


def test_confidential_on_a_consent_route_is_held_not_a_candidate(
    core: Core, nudged: list[int]
) -> None:
    """A confidential label holds the mail before the gate: no candidate, no nudge."""
    labelled = thread_mail(1)[0].replace(
        b"Subject:", b"Sensitivity: Company-Confidential\nSubject:", 1
    )
    (outcome,) = run(core, labelled)
    assert outcome.state == RawState.held
    assert outcome.reason.startswith("confidential: ")
    assert count(core, CAND) == 0
    assert nudged == []


def test_history_from_a_connected_mailbox_is_a_candidate_never_nudged(
    core: Core, nudged: list[int]
) -> None:
    """imap-history mail (before the folder was connected) is kept as a candidate, no nudge."""
    url = "imap://bridge@127.0.0.1:1143/INBOX"
    with writer(core.engine).begin() as conn:
        route_admin.add_imap_route(conn, "eng", url, password_env="X", cc_threshold=3)
    ref = "bridge@127.0.0.1:1143/INBOX/7/1"
    (old,) = run(
        core, thread_mail(1)[0], source="imap-history", source_ref=ref, community_hint="eng"
    )
    assert old.state == RawState.candidate
    assert candidate(core).live is False
    assert nudged == []
    # Live mail of the same folder is nudged about.
    new = thread_mail(1, prefix="fresh")[0]
    (live,) = run(core, new, source="imap", source_ref=ref[:-1] + "2", community_hint="eng")
    assert live.state == RawState.candidate
    assert len(nudged) == 1


def test_reprocess_honours_decisions(core: Core, nudged: list[int]) -> None:
    """reprocess --all: a candidate stays one (no new rows, no nudge), private stays private."""
    run(core, *thread_mail(2))
    private = run(core, *thread_mail(1, prefix="secret"))
    with core.engine.begin() as conn:
        second = conn.execute(select(func.max(CAND.c.id))).scalar_one()
        consent.decide(conn, second, "private", "ana@example.com", "web")
    assert len(nudged) == 2
    counts = moderation.reprocess(core, "all")
    assert counts == {"candidate": 2, "private": 1}
    assert count(core, CAND) == 2
    assert count(core, ConsentMessage) == 3
    assert len(nudged) == 2
    with core.engine.connect() as conn:
        state = conn.execute(select(RAW.c.state).where(RAW.c.id == private[0].raw_id)).scalar()
    assert state == "private"
    assert count(core, Message) == 0


def test_reprocess_does_not_nudge_about_old_mail(core: Core, nudged: list[int]) -> None:
    """Ignored mail re-read under a lower threshold becomes a candidate; only the recent
    conversation's starter is mailed, not the one of a conversation weeks old."""
    few = TEAM[:3]  # two colleagues on Cc besides the sender: below the threshold of 4
    (old,) = run(core, *thread_mail(1, prefix="old", cc=few))
    (new,) = run(core, *thread_mail(1, prefix="new", cc=few))
    assert {old.state, new.state} == {RawState.ignored}
    with core.engine.begin() as conn:
        conn.execute(
            RAW.update()
            .where(RAW.c.id == old.raw_id)
            .values(received_at=utcnow() - timedelta(days=30))
        )
    with writer(core.engine).begin() as conn:
        route_admin.set_route_policy(conn, "eng", LIST, cc_threshold=2)
    assert moderation.reprocess(core, "all") == {"candidate": 2}
    cm = ConsentMessage.__table__
    with core.engine.connect() as conn:
        rows = conn.execute(
            select(cm.c.raw_id, CAND.c.id, CAND.c.live).join(CAND, CAND.c.id == cm.c.candidate_id)
        ).all()
    by_raw = {raw_id: (cid, live) for raw_id, cid, live in rows}
    assert by_raw[old.raw_id][1] is False
    assert by_raw[new.raw_id][1] is True
    assert nudged == [by_raw[new.raw_id][0]]


def test_open_community_on_cc_publishes_there_only(core: Core) -> None:
    """cc'ing an open community's address is consent there; the consent route is left out."""
    create_community(core, slug="ops", name="Ops", addresses=["ops@lists.example.com"])
    mail = thread_mail(1)[0].replace(b"Cc: ", b"Cc: ops@lists.example.com, ", 1)
    receipt = core.inbox.accept(
        mail, Envelope(source="smtp", rcpt_to=[LIST, "ops@lists.example.com"])
    )
    (outcome,) = core.pipeline.run([receipt.raw_id])
    assert outcome.state == RawState.done
    assert count(core, CAND) == 0
    with core.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Message)).scalar_one() == 1


def test_cli_route_add_edit_and_list(tmp_path: Path) -> None:
    """route add --policy/--cc-threshold, route edit, route list (IMAP defaults to consent)."""
    env = bridge_env(tmp_path / "d", SECRET_VAR="x")

    def bridge(*args: str) -> str:
        done = run_bridge(args, env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    bridge("community", "add", "eng", "--name", "Engineering")
    out = bridge(
        "route", "add", "eng", "--address", LIST, "--policy", "consent", "--cc-threshold", "5"
    )
    assert "(consent, cc threshold 5)" in out
    bridge("route", "add", "eng", "--list-id", "eng.lists.example.com")
    url = "imap://bot@127.0.0.1:1143/INBOX"
    assert "(consent)" in bridge(
        "route", "add", "eng", "--imap", url, "--password-env", "SECRET_VAR"
    )
    bridge("route", "edit", "eng", LIST, "--cc-threshold", "3")
    bridge("route", "edit", "eng", url, "--policy", "open")
    rows = [json.loads(line) for line in bridge("route", "list", "--json").splitlines()]
    assert {(r["kind"], r["policy"], r["cc_threshold"]) for r in rows} == {
        ("address", "consent", 3),
        ("list_id", "open", 0),
        ("imap", "open", 0),
    }
    audit = bridge("audit", "--json")
    assert '"route.policy"' in audit
    assert '"route.imap.policy"' in audit


def test_admin_page_edits_a_route_policy(core: Core) -> None:
    """An admin changes a route's policy and threshold on the community page; it is audited."""
    client = admin_client(core)
    page = BeautifulSoup(client.get("/admin/c/eng").text, "html.parser")
    assert "consent, cc threshold 4" in page.get_text(" ")
    token = page.find("input", attrs={"name": "csrf_token"})["value"]
    form = {"target": LIST, "policy": "open", "cc_threshold": "0", "csrf_token": token}
    response = client.post("/admin/c/eng/policy", data=form)
    assert response.status_code == 303
    with core.engine.connect() as conn:
        (entry, *_) = admin.audit_log(conn)
        routes = route_admin.list_routes(conn)
    assert (entry.actor, entry.action) == ("root@example.com", "route.policy")
    assert entry.before == {"policy": "consent", "cc_threshold": 4}
    assert routes[0]["policy"] == "open"
    # An unknown target is refused with a note, not a crash.
    form["target"] = "nobody@lists.example.com"
    assert "has+no+route" in client.post("/admin/c/eng/policy", data=form).headers["location"]


def test_an_outsider_starting_a_conversation_is_not_held_nor_nudged(core: Core) -> None:
    """On a consent route the posting policy does not show mail to a moderator: the
    conversation is a candidate, and as its starter is an outsider, the colleagues
    on it decide (not the outsider), and the outsider gets no nudge."""
    vendor = make_mail(
        "Quote for the storage migration",
        sender="Vic Vendor <vic@vendor.test>",
        to=LIST,
        cc=", ".join(TEAM),
        msgid="vendor0@vendor.test",
        body="Our quote is attached in spirit.\n",
    )
    (outcome,) = run(core, vendor)
    assert outcome.state == RawState.candidate
    assert count(core, OutboundMail.__table__) == 0  # the real nudge: none to an outsider
    row = candidate(core)
    openers = core.settings.consent_openers
    assert row.starter == "vic@vendor.test"
    assert not consent.may_decide(row, "vic@vendor.test", openers, ["example.com"])
    assert consent.may_decide(row, "ana@example.com", openers, ["example.com"])
    assert not consent.may_decide(row, "zed@example.com", openers, ["example.com"])  # not on it


def test_colleagues_decide_only_their_own_starts_by_default(core: Core) -> None:
    run(core, *thread_mail(1))
    row = candidate(core)
    openers = core.settings.consent_openers
    assert consent.may_decide(row, "ana@example.com", openers, ["example.com"])
    assert not consent.may_decide(row, "ben@example.com", openers, ["example.com"])
    assert consent.may_decide(row, "ben@example.com", "participants", ["example.com"])
