"""The counts a thread shows agree with each other, with the community list and home page,
and with the copies the bridge actually sends.

World: community `eng` (org, list address eng@lists.example.com). A thread
arrives through the real SMTP listener: Ana writes to the list with Dan and
Erin on cc, Dan answers all, Ana answers again from her second address.
Gus is a member who chose every message; Lee, an organisation reader,
replies on the web. Copies go out through the recording relay.
"""

from __future__ import annotations

import re
import smtplib
from pathlib import Path

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from bridge import admin
from bridge.core import open_core
from bridge.outbound.sender import Sender
from bridge.worker import drain
from tests.support.env import settings_for
from tests.support.factories import bridge_listener
from tests.support.messages import make_mail
from tests.support.relay import RelayHandler
from tests.support.sessions import sign_in
from threads import outbound
from threads.db import writer
from threads.models import Message
from web.app import create_app

LIST = "eng@lists.example.com"
DOMAIN = "bridge.example"
ANA, ANA_HOME, DAN, ERIN = (
    "ana@example.com",
    "ana.lima@example.com",
    "dan@example.com",
    "erin@example.com",
)
GUS, LEE = "gus@example.com", "lee@example.com"


def _thread() -> list[tuple[str, bytes]]:
    """(envelope sender, bytes) of the three messages, as their mail clients send them."""
    return [
        (
            ANA,
            make_mail(
                "Rollout plan",
                sender=f"Ana Lima <{ANA}>",
                to=LIST,
                cc=f"Dan Roe <{DAN}>, {ERIN}",
                msgid="plan-1@example.com",
                body="Rollout on Monday?\n",
            ),
        ),
        (
            DAN,
            make_mail(
                "Re: Rollout plan",
                sender=f"Dan Roe <{DAN}>",
                to=f"{LIST}, Ana Lima <{ANA}>",
                cc=ERIN,
                msgid="plan-2@example.com",
                in_reply_to="plan-1@example.com",
                body="Monday is fine.\n",
            ),
        ),
        (
            ANA_HOME,
            make_mail(
                "Re: Rollout plan",
                sender=f"Ana Lima <{ANA_HOME}>",
                to=LIST,
                msgid="plan-3@example.com",
                in_reply_to="plan-2@example.com",
                body="Good, Monday then.\n",
            ),
        ),
    ]


def _counts(html: str) -> dict[str, object]:
    page = BeautifulSoup(html, "html.parser")
    meta = " ".join(str(page.select_one("p.meta").get_text()).split())  # type: ignore[union-attr]
    people = page.select("section.participants p")[0].select("a, span.external")
    label = page.select_one("label[for=reply-body]")
    mailed = re.search(r"mailed to (\d+)", label.get_text()) if label else None
    return {
        "messages": int(re.search(r"(\d+) messages?", meta).group(1)),  # type: ignore[union-attr]
        "on thread": int(re.search(r"(\d+) (?:people|person) on", meta).group(1)),  # type: ignore[union-attr]
        "participants": [p.get_text() for p in people],
        "mailed": int(mailed.group(1)) if mailed else None,
    }


def _listed(html: str) -> tuple[int, list[str]]:
    """The community list's (message count, participants) of its only thread."""
    meta = BeautifulSoup(html, "html.parser").select_one("li.thread-row p.meta")
    assert meta is not None
    text = " ".join(meta.get_text().split())
    found = re.fullmatch(r"(\d+) messages? · (.+?)(?: and (\d+) more)?", text)
    assert found is not None, text
    assert found.group(3) is None
    return int(found.group(1)), [n.strip() for n in found.group(2).split(",")]


def test_counts_agree_with_each_other_and_with_the_copies_sent(
    tmp_path: Path, recording_relay: tuple[int, RelayHandler]
) -> None:
    """Filed through the real listener, copies through the relay: every count matches."""
    port, relay = recording_relay
    core = open_core(
        settings_for(
            tmp_path / "data",
            org_domains=["example.com"],
            mail_domain=DOMAIN,
            smtp_relay=f"127.0.0.1:{port}",
            smtp_relay_tls="none",
            public_url="https://bridge.example.com",
        )
    )
    try:
        with writer(core.engine).begin() as conn:
            cid = admin.add_community(conn, "eng", "Engineering", "org", addresses=[LIST])
            admin.set_member(conn, "eng", GUS, "member")
            outbound.set_preference(conn, cid, GUS, "each")
        with bridge_listener(core, DOMAIN) as smtp_port:
            for sender, raw in _thread():
                with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
                    client.sendmail(sender, [LIST], raw.replace(b"\n", b"\r\n"))
        drain(core)
        with core.engine.connect() as conn:
            tid = conn.execute(
                select(Message.thread_id).where(Message.message_id == "plan-1@example.com")
            ).scalar_one()
        Sender(core.engine, core.settings).run_once()
        by_mail = sorted(r for _, rcpts, _ in relay.received for r in rcpts)
        # Gus (every message) got all three; Ana's last reached only the list, so the others
        # on the thread got a copy of that one; nobody a copy of mail they were sent directly.
        assert by_mail == sorted([GUS, GUS, GUS, ANA, DAN, ERIN])
        relay.received.clear()

        web = TestClient(create_app(core), base_url="https://testserver")
        sign_in(web, core, LEE)
        before = _counts(web.get(f"/t/{tid}").text)
        assert before["messages"] == 3
        # Ana under two addresses is one participant; the list address is not a person.
        assert before["participants"] == ["Ana Lima", "Dan Roe"]
        assert before["on thread"] == len({ANA, ANA_HOME, DAN, ERIN})
        token = BeautifulSoup(web.get(f"/t/{tid}").text, "html.parser").select_one(
            "form#reply input[name=csrf_token]"
        )
        assert token is not None
        posted = web.post(
            f"/t/{tid}/reply",
            data={"csrf_token": str(token["value"]), "body": "Monday it is.\n"},
            follow_redirects=False,
        )
        assert posted.status_code == 303
        drain(core)
        Sender(core.engine, core.settings).run_once()
        copies = [r for _, rcpts, _ in relay.received for r in rcpts]
        # The number the reply box announced is the number of copies sent, one each.
        assert len(copies) == len(set(copies)) == before["mailed"]
        assert set(copies) == {ANA, ANA_HOME, DAN, ERIN, GUS}
        assert LIST not in copies

        after = _counts(web.get(f"/t/{tid}").text)
        listed_count, listed_people = _listed(web.get("/c/eng").text)
        home = BeautifulSoup(web.get("/").text, "html.parser").get_text(" ")
        assert after["messages"] == listed_count == 4
        assert after["participants"] == listed_people
        assert after["participants"][:2] == ["Ana Lima", "Dan Roe"]
        assert len(after["participants"]) == 3  # and Lee
        assert re.search(r"1 thread · 4 messages", " ".join(home.split()))
        assert after["on thread"] == len({ANA, ANA_HOME, DAN, ERIN, LEE})
    finally:
        core.close()
