"""A discussion started on the web reaches the outside mailing list a community mirrors,
and the list's echo of it is kept once and never mailed on.

World: community `eng` mirrors the outside list eng@lists.example.org. The
bridge is subscribed to it as eng@bridge.example (an address route: the
list delivers there) and knows its List-Id; the list's posting address is a
route of kind list. Gus is a member who chose every message. Copies go out
through the recording relay; the list's echo comes back through the real
SMTP listener.
"""

from __future__ import annotations

import smtplib
from email import message_from_bytes, policy
from pathlib import Path

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bridge import admin, route_admin
from bridge.core import Core, open_core
from bridge.outbound.sender import Sender
from bridge.posting import post_reply
from bridge.worker import drain
from tests.support.env import settings_for
from tests.support.factories import bridge_listener
from tests.support.relay import RelayHandler
from tests.support.sessions import sign_in
from threads import outbound
from threads.access import Viewer
from threads.db import writer
from threads.models import CopyReview, Message, Notification, RawMessage
from web.app import create_app

DOMAIN = "bridge.example"
SUBSCRIBED = f"eng@{DOMAIN}"  # where the list delivers to the bridge
LIST = "eng@lists.example.org"  # the list's posting address
LIST_ID = "eng.lists.example.org"
ANA, GUS = "ana@example.com", "gus@example.com"


def _core(data: Path, relay_port: int) -> Core:
    core = open_core(
        settings_for(
            data,
            org_domains=["example.com"],
            mail_domain=DOMAIN,
            smtp_relay=f"127.0.0.1:{relay_port}",
            smtp_relay_tls="none",
            public_url="https://bridge.example.com",
        )
    )
    with writer(core.engine).begin() as conn:
        cid = admin.add_community(conn, "eng", "Engineering", "org", addresses=[SUBSCRIBED])
        route_admin.add_route(conn, "eng", "list_id", LIST_ID)
        route_admin.add_route(conn, "eng", "list", LIST)
        admin.set_member(conn, "eng", ANA, "member")
        admin.set_member(conn, "eng", GUS, "member")
        outbound.set_preference(conn, cid, GUS, "each")
    return core


def _start_on_the_web(core: Core) -> int:
    web = TestClient(create_app(core), base_url="https://testserver", follow_redirects=False)
    sign_in(web, core, ANA)
    form = BeautifulSoup(web.get("/c/eng/new").text, "html.parser")
    token = form.find("input", attrs={"name": "csrf_token"})
    assert token is not None
    answer = web.post(
        "/c/eng/new",
        data={"csrf_token": str(token["value"]), "subject": "Freeze dates", "body": "Monday.\n"},
        files=[("files", ("", b"", "application/octet-stream"))],
    )
    assert answer.status_code == 303, answer.text
    return int(answer.headers["location"].partition("#")[0].removeprefix("/t/"))


def _as_the_list_resends(copy: bytes) -> bytes:
    """What a list server delivers to its subscribers: the post with its own headers added."""
    echo = message_from_bytes(copy, policy=policy.SMTP)
    echo["List-Id"] = f"Engineering <{LIST_ID}>"
    echo["List-Post"] = f"<mailto:{LIST}>"
    echo["Sender"] = "eng-bounces@lists.example.org"
    return echo.as_bytes()


def _deliver(core: Core, raw: bytes) -> None:
    """As the list server delivers to its subscriber, the bridge, through the real listener."""
    with bridge_listener(core, DOMAIN) as smtp_port, smtplib.SMTP("127.0.0.1", smtp_port) as smtp:
        assert smtp.sendmail("eng-bounces@lists.example.org", [SUBSCRIBED], raw) == {}


def test_a_web_thread_goes_to_the_list_once_and_its_echo_is_not_filed_or_mailed_again(
    tmp_path: Path, recording_relay: tuple[int, RelayHandler]
) -> None:
    """Web post -> one copy to the list address -> the list's echo through the listener ->
    one message in the thread, no second copy to anyone."""
    port, relay = recording_relay
    core = _core(tmp_path / "data", port)
    try:
        thread_id = _start_on_the_web(core)
        Sender(core.engine, core.settings).run_once()
        sent = {rcpt: data for _, rcpts, data in relay.received for rcpt in rcpts}
        assert sorted(sent) == sorted([LIST, GUS])  # Ana wrote it
        to_list = message_from_bytes(sent[LIST], policy=policy.default)
        # List members answer on the list; our loop mark travels with the copy.
        assert to_list["Reply-To"].addresses[0].addr_spec == LIST
        assert to_list["X-Commons-Bridge-Loop"] == DOMAIN
        # Nothing in it lets one list member mute or unsubscribe the list for everyone;
        # Gus's own copy keeps his links.
        assert to_list["List-Unsubscribe"] is None
        assert b"/unsubscribe/" not in sent[LIST]
        assert b"mute" not in sent[LIST].lower()
        assert message_from_bytes(sent[GUS], policy=policy.default)["List-Unsubscribe"]
        assert b"/unsubscribe/" in sent[GUS]
        with core.engine.connect() as conn:
            filed_id = conn.execute(select(Message.message_id)).scalar_one()
        assert to_list["Message-ID"] == f"<{filed_id}>"

        relay.received.clear()
        _deliver(core, _as_the_list_resends(sent[LIST]))
        drain(core)
        Sender(core.engine, core.settings).run_once()

        with core.engine.connect() as conn:
            messages = conn.execute(select(func.count()).select_from(Message)).scalar_one()
            states = conn.execute(select(RawMessage.source, RawMessage.state)).all()
            copies = conn.execute(select(func.count()).select_from(Notification)).scalar_one()
        assert messages == 1
        assert sorted((s, str(st)) for s, st in states) == [("smtp", "duplicate"), ("web", "done")]
        assert copies == 2  # the two of the web post, none for the echo
        assert relay.received == []
        with core.engine.connect() as conn:
            (thread_of,) = conn.execute(select(Message.thread_id)).one()
        assert thread_of == thread_id
    finally:
        core.close()


def test_mail_from_the_list_is_not_sent_back_to_it_and_a_web_reply_is(
    tmp_path: Path, recording_relay: tuple[int, RelayHandler]
) -> None:
    """A thread that came in from the list is not mailed to the list, nor is the list
    treated as a person on its To (no copy, no review); a reply on the web goes to it once."""
    port, relay = recording_relay
    core = _core(tmp_path / "data", port)
    try:
        post = (
            "From: Ana Lima <ana@example.com>\r\nTo: eng@lists.example.org\r\n"
            "Subject: From the list\r\nMessage-ID: <list-1@example.com>\r\n"
            f"List-Id: <{LIST_ID}>\r\nDate: Mon, 2 Mar 2026 09:00:00 +0000\r\n\r\nHello\r\n"
        ).encode()
        _deliver(core, post)
        drain(core)
        Sender(core.engine, core.settings).run_once()
        with core.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(Message)).scalar_one() == 1
        # Gus chose every message; the list already has it (it came from there).
        assert [rcpts for _, rcpts, _ in relay.received] == [[GUS]]
        relay.received.clear()
        with core.engine.connect() as conn:
            thread_id = conn.execute(select(Message.thread_id)).scalar_one()
            reviews = conn.execute(select(CopyReview.address)).scalars().all()
        assert LIST not in reviews
        post_reply(core, Viewer(email=GUS, org=True), thread_id, "Count me in.\n", name="Gus")
        drain(core)
        Sender(core.engine, core.settings).run_once()
        sent = sorted(r for _, rcpts, _ in relay.received for r in rcpts)
        assert sent.count(LIST) == 1
    finally:
        core.close()
