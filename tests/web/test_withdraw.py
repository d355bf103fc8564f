"""Withdrawing one's own message: gone from every page at once, kept out by reprocess, raw erased.

World: an org community with a three-message thread — Ana opens, Bob answers
(with an attachment and a marker word), Ana answers Bob — and a one-message
thread of Bob's. Bob withdraws his answer from the web, by the API or by mail.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from bridge import moderation
from bridge.core import Core, open_core
from bridge.outbound.held import HeldReader
from mail.envelope import Envelope
from mail.tokens import reply_token
from tests.support.env import settings_for
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from tests.support.sessions import sign_in
from threads.models import (
    Attachment,
    AuditEntry,
    Message,
    Person,
    RawMessage,
    RawState,
    Thread,
    utcnow,
)
from threads.withdraw import purge_withdrawn_raw, sweep, withdraw_message
from web.app import create_app

SECRET = "zqsecretword"
BOB = "bob@example.com"
ANA = "ana@example.com"
DOMAIN = "bridge.example"


def _answer_with_file() -> bytes:
    m = EmailMessage()
    m["From"] = f"Bob Stone <{BOB}>"
    m["To"] = "eng@lists.example.com"
    m["Subject"] = "Re: Budget review"
    m["Message-ID"] = "<bob-1@example.com>"
    m["In-Reply-To"] = "<ana-1@example.com>"
    m["References"] = "<ana-1@example.com>"
    m["Date"] = "Mon, 02 Mar 2026 10:00:00 +0000"
    m.set_content(f"The {SECRET} numbers are wrong.\n")
    m.add_attachment(b"only bob's sheet\n", maintype="text", subtype="csv", filename="sheet.csv")
    return bytes(m)


def _shared_file_elsewhere() -> bytes:
    """Carla sends the very same file: its bytes are one content-addressed file."""
    m = EmailMessage()
    m["From"] = "Carla <carla@example.com>"
    m["To"] = "eng@lists.example.com"
    m["Subject"] = "Other topic"
    m["Message-ID"] = "<carla-1@example.com>"
    m["Date"] = "Mon, 02 Mar 2026 08:00:00 +0000"
    m.set_content("Same sheet.\n")
    m.add_attachment(b"shared sheet\n", maintype="text", subtype="csv", filename="shared.csv")
    return bytes(m)


# Built once: a multipart message gets a random boundary each time it is built.
BOB_ANSWER = _answer_with_file()


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    c = open_core(
        settings_for(
            tmp_path / "data",
            org_domains=["example.com"],
            mail_domain=DOMAIN,
            trusted_authserv_ids=["mx.example.com"],
        )
    )
    create_community(c)
    deliver(
        c,
        make_mail(sender=f"Ana Lima <{ANA}>", msgid="ana-1@example.com", body="Opening plan.\n"),
        BOB_ANSWER,
        make_mail(
            "Re: Budget review",
            sender=f"Ana Lima <{ANA}>",
            msgid="ana-2@example.com",
            in_reply_to="bob-1@example.com",
            references="<ana-1@example.com> <bob-1@example.com>",
            body="Fixed, thanks.\n",
        ),
        make_mail("Lone idea", sender=f"Bob Stone <{BOB}>", msgid="bob-2@example.com"),
    )
    yield c
    c.close()


def pk_of(core: Core, message_id: str) -> int:
    with core.engine.connect() as conn:
        return int(
            conn.execute(select(Message.id).where(Message.message_id == message_id)).scalar_one()
        )


def row(core: Core, model: Any, *where: Any) -> Any:
    with core.engine.connect() as conn:
        return conn.execute(select(model.__table__).where(*where)).first()


def client_as(core: Core, email: str | None, *, is_admin: bool = False) -> TestClient:
    client = TestClient(create_app(core), follow_redirects=False)
    if email:
        sign_in(client, core, email, is_admin=is_admin)
    return client


def csrf(client: TestClient) -> str:
    page = BeautifulSoup(client.get("/login").text, "html.parser")
    return str(page.find("input", attrs={"name": "csrf_token"})["value"])


def everything_readable(client: TestClient, thread_id: int) -> str:
    """Every reading surface an org reader has, concatenated."""
    urls = [
        f"/t/{thread_id}",
        f"/t/{thread_id}/feed.atom",
        f"/t/{thread_id}/thread.mbox",
        f"/api/threads/{thread_id}",
        "/c/eng",
        "/c/eng/feed.atom",
        "/api/communities/eng/threads",
        f"/p/{BOB}",
        f"/api/people/{BOB}",
    ]
    pages = [client.get(u).text for u in urls]
    # Search pages repeat the query: only their results count.
    for q in (SECRET, "sheet"):
        page = BeautifulSoup(client.get(f"/search?q={q}").text, "html.parser")
        pages.extend(r.get_text() for r in page.select("ol.results"))
        pages.append(str(client.get(f"/api/search?q={q}").json()["results"]))
    return "\n".join(pages)


def test_author_withdraws_from_the_web_and_it_is_gone_everywhere_at_once(core: Core) -> None:
    """Bob's Withdraw link, confirmation, POST: the text leaves pages, search, feeds, API."""
    bob_pk = pk_of(core, "bob-1@example.com")
    thread_id = row(core, Message, Message.id == bob_pk).thread_id
    reader = client_as(core, "reader@example.com")
    assert SECRET in everything_readable(reader, thread_id)
    bob = client_as(core, BOB)
    page = BeautifulSoup(bob.get(f"/t/{thread_id}").text, "html.parser")
    links = [a["href"] for a in page.select("a.withdraw")]
    assert links == [f"/m/{bob_pk}/withdraw"]  # only his own message offers it
    confirm = bob.get(links[0])
    assert confirm.status_code == 200
    assert SECRET in confirm.text
    done = bob.post(links[0], data={"csrf_token": csrf(bob)})
    assert done.status_code == 303
    assert done.headers["location"] == f"/t/{thread_id}?withdrawn=1#m{bob_pk}"
    notice = bob.get(f"/t/{thread_id}?withdrawn=1").text
    assert "Your message was withdrawn" in notice
    assert "You withdrew this message" in notice

    seen = everything_readable(reader, thread_id)
    assert SECRET not in seen
    assert "sheet.csv" not in seen
    thread_page = BeautifulSoup(reader.get(f"/t/{thread_id}").text, "html.parser")
    grey = thread_page.select_one(f"#m{bob_pk}.withdrawn")
    assert grey is not None
    assert "withdrawn by its author" in grey.get_text()
    assert "Bob Stone" not in thread_page.select_one(".conversation").get_text()
    assert "2 messages" in thread_page.select_one("p.meta").get_text()
    assert reader.get(f"/p/{BOB}").text.count("Lone idea") == 1  # his other message stays

    assert row(core, Thread, Thread.id == thread_id).message_count == 2
    raw = row(core, RawMessage, RawMessage.message_id == "bob-1@example.com")
    assert raw.state == RawState.withdrawn
    assert "withdrawn by its author on" in raw.reason
    assert row(core, Attachment, Attachment.message_pk == bob_pk) is None
    audit = row(core, AuditEntry, AuditEntry.action == "message.withdraw")
    assert audit.actor == BOB
    assert audit.target == f"message {bob_pk}"


def test_others_may_not_withdraw(core: Core) -> None:
    """Another reader gets 403; who may not read it gets 404, like a message that is not there."""
    bob_pk = pk_of(core, "bob-1@example.com")
    ana = client_as(core, ANA)
    page = BeautifulSoup(
        ana.get(f"/t/{row(core, Message, Message.id == bob_pk).thread_id}").text, "html.parser"
    )
    assert f"/m/{bob_pk}/withdraw" not in [a["href"] for a in page.select("a.withdraw")]
    assert ana.get(f"/m/{bob_pk}/withdraw").status_code == 403
    assert ana.post(f"/m/{bob_pk}/withdraw", data={"csrf_token": csrf(ana)}).status_code == 403
    token = csrf(ana)
    api = ana.post(f"/api/messages/{bob_pk}/withdraw", headers={"X-CSRF-Token": token})
    assert api.status_code == 403
    outsider = client_as(core, "someone@elsewhere.example")
    assert outsider.get(f"/m/{bob_pk}/withdraw").status_code == 404
    assert client_as(core, None).get(f"/m/{bob_pk}/withdraw").status_code == 404
    missing = client_as(core, BOB).get("/m/987654/withdraw")
    assert missing.status_code == 404
    assert row(core, Message, Message.id == bob_pk).placeholder is False


def test_without_csrf_nothing_happens(core: Core) -> None:
    """The form is a POST like every other: no token, no withdrawal."""
    bob_pk = pk_of(core, "bob-1@example.com")
    bob = client_as(core, BOB)
    assert bob.post(f"/m/{bob_pk}/withdraw").status_code == 403
    assert row(core, Message, Message.id == bob_pk).withdrawn_at is None


def test_api_withdraw_of_a_thread_s_only_message_removes_the_thread(core: Core) -> None:
    """POST /api/messages/{pk}/withdraw; a thread left with nothing leaves the lists."""
    lone = pk_of(core, "bob-2@example.com")
    thread_id = row(core, Message, Message.id == lone).thread_id
    bob = client_as(core, BOB)
    answer = bob.post(f"/api/messages/{lone}/withdraw", headers={"X-CSRF-Token": csrf(bob)})
    assert answer.status_code == 200
    assert answer.json() == {"id": lone, "thread_id": thread_id, "thread_url": None}
    reader = client_as(core, "reader@example.com")
    assert reader.get(f"/t/{thread_id}").status_code == 404
    listing = reader.get("/api/communities/eng/threads").json()
    assert thread_id not in [t["id"] for t in listing["threads"]]
    assert listing["total"] == 1
    assert "Lone idea" not in reader.get("/c/eng").text
    again = bob.post(f"/api/messages/{lone}/withdraw", headers={"X-CSRF-Token": csrf(bob)})
    assert again.status_code == 404


def test_web_form_for_the_last_message_goes_back_to_the_community(core: Core) -> None:
    """Nothing left to show in the thread: the notice is on the community page."""
    lone = pk_of(core, "bob-2@example.com")
    bob = client_as(core, BOB)
    done = bob.post(f"/m/{lone}/withdraw", data={"csrf_token": csrf(bob)})
    assert done.headers["location"] == "/c/eng?withdrawn=1"
    assert "Your message was withdrawn" in bob.get("/c/eng?withdrawn=1").text


def test_admin_may_withdraw_anyone_s_message(core: Core) -> None:
    """An admin sees the link on every message and the audit names the admin."""
    bob_pk = pk_of(core, "bob-1@example.com")
    boss = client_as(core, "boss@example.com", is_admin=True)
    assert boss.post(f"/m/{bob_pk}/withdraw", data={"csrf_token": csrf(boss)}).status_code == 303
    assert (
        row(core, AuditEntry, AuditEntry.action == "message.withdraw").actor == "boss@example.com"
    )


def test_reprocess_keeps_it_withdrawn(core: Core) -> None:
    """`bridge reprocess` in every mode leaves a withdrawn raw alone; replies stay threaded."""
    bob_pk = pk_of(core, "bob-1@example.com")
    with core.engine.begin() as conn:
        assert withdraw_message(conn, bob_pk, "test") is not None
    for which in ("failed", "held", "all"):
        moderation.reprocess(core, which)
    again = row(core, Message, Message.message_id == "bob-1@example.com")
    assert again.placeholder
    assert again.withdrawn_at is not None
    assert again.visible_text == ""
    raw = row(core, RawMessage, RawMessage.message_id == "bob-1@example.com")
    assert raw.state == RawState.withdrawn
    threads = {
        r.thread_id
        for r in [
            row(core, Message, Message.message_id == m)
            for m in ("ana-1@example.com", "ana-2@example.com")
        ]
    }
    assert len(threads) == 1
    assert again.thread_id in threads


def test_retention_erases_bytes_and_a_reimport_stays_a_duplicate(core: Core) -> None:
    """After BRIDGE_WITHDRAWN_RAW_DAYS the bytes go; the sha256 still recognises the mail."""
    bob_pk = pk_of(core, "bob-1@example.com")
    with core.engine.begin() as conn:
        withdraw_message(conn, bob_pk, "test")
    assert sweep(core.engine, 30) == 0  # kept for now
    assert len(row(core, RawMessage, RawMessage.message_id == "bob-1@example.com").data) > 0
    with core.engine.begin() as conn:
        later = utcnow() + timedelta(days=31)
        assert purge_withdrawn_raw(conn, 30, now=later) == 1
    raw = row(core, RawMessage, RawMessage.message_id == "bob-1@example.com")
    assert raw.data == b""
    assert raw.sha256
    assert raw.state == RawState.withdrawn
    receipt = core.inbox.accept(BOB_ANSWER, Envelope(source="import", community_hint="eng"))
    assert receipt.duplicate
    assert row(core, Message, Message.id == bob_pk).placeholder


def test_zero_days_erases_at_once(core: Core) -> None:
    """BRIDGE_WITHDRAWN_RAW_DAYS=0: the next sweep erases a message withdrawn a moment ago."""
    with core.engine.begin() as conn:
        withdraw_message(conn, pk_of(core, "bob-1@example.com"), "test")
    assert sweep(core.engine, 0) == 1
    assert row(core, RawMessage, RawMessage.message_id == "bob-1@example.com").data == b""


def test_shared_attachment_file_survives_unshared_one_goes(core: Core, tmp_path: Path) -> None:
    """Content-addressed files: removed only when no other message still lists them."""
    deliver(core, _shared_file_elsewhere())
    bob_pk = pk_of(core, "bob-1@example.com")
    # Bob's message also carries the shared file (added the way the store would).
    shared = row(core, Attachment, Attachment.filename == "shared.csv")
    with core.engine.begin() as conn:
        conn.execute(
            Attachment.__table__.insert().values(
                message_pk=bob_pk, filename="shared.csv", sha256=shared.sha256, size=shared.size
            )
        )
    own = row(core, Attachment, Attachment.message_pk == bob_pk, Attachment.filename == "sheet.csv")
    files = core.settings.attachments_dir
    assert (files / own.sha256[:2] / own.sha256).exists()
    bob = client_as(core, BOB)
    bob.post(f"/m/{bob_pk}/withdraw", data={"csrf_token": csrf(bob)})
    assert not (files / own.sha256[:2] / own.sha256).exists()
    assert (files / shared.sha256[:2] / shared.sha256).exists()


def _withdraw_by_mail(core: Core, sender: str, in_reply_to: str) -> Any:
    thread_id = row(core, Message, Message.message_id == "bob-1@example.com").thread_id
    with core.engine.connect() as conn:
        person_id = conn.execute(select(Person.id).where(Person.email == sender)).scalar_one()
    token = reply_token(
        core.settings.secret_key,
        community_id=row(core, Thread, Thread.id == thread_id).community_id,
        thread_id=thread_id,
        person_id=person_id,
        address=sender,
        expires=date.today() + timedelta(days=30),
    )
    address = f"reply+{token}@{DOMAIN}"
    m = EmailMessage()
    m["From"] = sender
    m["To"] = address
    m["Subject"] = "Re: Budget review"
    m["Message-ID"] = f"<withdraw-{sender.split('@')[0]}@example.com>"
    m["In-Reply-To"] = f"<{in_reply_to}>"
    m["Authentication-Results"] = "mx.example.com; dkim=pass; spf=pass"
    m.set_content("withdraw\n\n> The old text\n")
    deliver(core, bytes(m), rcpt=(address,))
    HeldReader(core.engine, core.settings).read()
    return row(
        core, RawMessage, RawMessage.message_id == f"withdraw-{sender.split('@')[0]}@example.com"
    )


def test_withdraw_by_mail(core: Core) -> None:
    """'withdraw' to one's reply address, In-Reply-To one's own message: withdrawn, not posted."""
    raw = _withdraw_by_mail(core, BOB, "bob-1@example.com")
    assert raw.state == RawState.done
    assert "withdrawn" in raw.reason
    bob_row = row(core, Message, Message.message_id == "bob-1@example.com")
    assert bob_row.placeholder
    assert bob_row.withdrawn_at is not None
    assert row(core, Message, Message.raw_id == raw.id) is None  # the command is no post
    assert row(core, AuditEntry, AuditEntry.action == "message.withdraw").actor == f"mail:{BOB}"


def test_withdraw_by_mail_of_someone_else_s_message_does_nothing(core: Core) -> None:
    """Ana's 'withdraw' naming Bob's message is not carried out."""
    raw = _withdraw_by_mail(core, ANA, "bob-1@example.com")
    assert raw.state == RawState.held
    assert row(core, Message, Message.message_id == "bob-1@example.com").placeholder is False


def test_a_different_copy_of_a_withdrawn_message_does_not_bring_it_back(core: Core) -> None:
    """The same Message-ID arriving again with other bytes (IMAP after SMTP) stays withdrawn."""
    with core.engine.begin() as conn:
        withdraw_message(conn, pk_of(core, "bob-1@example.com"), "test")
    deliver(core, BOB_ANSWER.replace(b"Subject:", b"X-Copy: imap\r\nSubject:", 1))
    assert row(core, Message, Message.message_id == "bob-1@example.com").placeholder


def test_the_worker_loop_runs_the_retention_sweep(tmp_path: Path) -> None:
    """`bridge serve --role worker` erases due raw copies on its own (here with 0 days)."""
    from bridge.worker import Worker

    c = open_core(settings_for(tmp_path / "w", withdrawn_raw_days=0))
    try:
        create_community(c)
        deliver(c, make_mail(msgid="w-1@example.com"))
        with c.engine.begin() as conn:
            withdraw_message(conn, pk_of(c, "w-1@example.com"), "test")
        Worker(c).sweep_retention()
        assert row(c, RawMessage, RawMessage.message_id == "w-1@example.com").data == b""
    finally:
        c.close()


def test_cli_lists_withdrawn_messages_and_purges_their_raw_bytes(
    core: Core, tmp_path: Path
) -> None:
    """`bridge withdrawn list` / `purge --days 0`, on the same data directory."""
    import json

    from click.testing import CliRunner

    from bridge.cli import main

    with core.engine.begin() as conn:
        withdraw_message(conn, pk_of(core, "bob-1@example.com"), "test")
    env = {"BRIDGE_DATA": str(tmp_path / "data"), "BRIDGE_DATABASE_URL": core.settings.database_url}
    listed = CliRunner().invoke(main, ["withdrawn", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    (item,) = [json.loads(line) for line in listed.output.splitlines()]
    assert (item["author"], item["raw_kept"]) == (BOB, True)
    purged = CliRunner().invoke(main, ["withdrawn", "purge", "--days", "0"], env=env)
    assert purged.output.strip() == "erased 1 raw message(s)"
    listed = CliRunner().invoke(main, ["withdrawn", "list", "--json"], env=env)
    assert json.loads(listed.output)["raw_kept"] is False
