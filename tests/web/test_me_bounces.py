"""/me shows a person their own bounce state and lets them turn their mail back on.

The form posts no address: the viewer's own is the only one it can touch, so
nobody can resume (or learn about) mail to someone else. CSRF is required as
on every form, and the change is audited.
"""

from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from bridge.core import Core
from tests.support.csrf_checks import EXPIRED_PAGE, form_token
from tests.support.sessions import sign_in
from threads import outbound
from threads.db import writer
from threads.models import AuditEntry, MailAddress
from web.app import create_app

ME = "nina@example.com"
OTHER = "omar@example.com"


def bounce(core: Core, address: str, times: int) -> None:
    with writer(core.engine).begin() as conn:
        for _ in range(times):
            outbound.record_bounce(
                conn, address, permanent=True, reason="hard bounce 5.2.2 mailbox full", limit=3
            )


def state(core: Core, address: str) -> MailAddress:
    with core.engine.connect() as conn:
        row = conn.execute(
            select(MailAddress.__table__).where(MailAddress.__table__.c.address == address)
        ).first()
    assert row is not None
    return row  # type: ignore[return-value]


def client_for(core: Core, email: str) -> TestClient:
    client = TestClient(create_app(core), base_url="https://testserver")
    sign_in(client, core, email)
    return client


def test_me_says_since_when_mail_bounces_and_resumes_it(core: Core) -> None:
    """A stopped address reads "bouncing since"; the button resumes it and the audit says who."""
    bounce(core, ME, 3)
    bounce(core, OTHER, 3)
    client = client_for(core, ME)
    page = BeautifulSoup(client.get("/me").text, "html.parser")
    section = page.select_one("section.bounce-state")
    assert section is not None
    text = " ".join(section.get_text().split())
    assert "Mail to you is bouncing since" in text
    assert "stopped sending it" in text
    assert "hard bounce 5.2.2 mailbox full" in text
    assert OTHER not in page.get_text()

    token = form_token(client, "/me")
    done = client.post("/me/bounces", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/me?done=bounces"
    mine = state(core, ME)
    assert not mine.disabled
    assert mine.hard_bounces == 0
    assert mine.first_bounce_at is None
    assert state(core, OTHER).disabled  # someone else's stays stopped
    after = BeautifulSoup(client.get("/me?done=bounces").text, "html.parser")
    assert after.select_one("section.bounce-state") is None
    assert "Mail to you is sent again." in after.get_text()
    with core.engine.connect() as conn:
        (entry,) = conn.execute(
            select(AuditEntry.__table__).where(AuditEntry.__table__.c.action == "bounces.enable")
        ).all()
    assert entry.actor == ME
    assert entry.target == f"address {ME}"
    assert entry.before["disabled"] is True
    assert entry.before["hard_bounces"] == 3


def test_bouncing_but_still_sent_is_shown_too(core: Core) -> None:
    """Below the limit the page says mail bounces and is still sent."""
    bounce(core, ME, 1)
    client = client_for(core, ME)
    text = " ".join(BeautifulSoup(client.get("/me").text, "html.parser").get_text().split())
    assert "Mail to you is bouncing since" in text
    assert "It is still being sent." in text


def test_no_bounces_no_section(core: Core) -> None:
    """A person whose mail works sees nothing about bounces."""
    client = client_for(core, ME)
    assert "bouncing" not in client.get("/me").text


def test_resuming_needs_the_form_token_and_ignores_an_address(core: Core) -> None:
    """Without CSRF nothing changes; an address field cannot aim it at someone else."""
    bounce(core, OTHER, 3)
    bounce(core, ME, 3)
    client = client_for(core, ME)
    refused = client.post("/me/bounces", data={"address": OTHER}, follow_redirects=False)
    assert refused.status_code == 403
    assert EXPIRED_PAGE in refused.text
    assert state(core, ME).disabled
    token = form_token(client, "/me")
    client.post("/me/bounces", data={"csrf_token": token, "address": OTHER})
    assert state(core, OTHER).disabled
    assert not state(core, ME).disabled


def test_anonymous_is_sent_to_login(core: Core) -> None:
    """Nobody logged in: the POST changes nothing (CSRF first, then the login redirect)."""
    bounce(core, ME, 3)
    client = TestClient(create_app(core), base_url="https://testserver")
    token = form_token(client, "/login")
    answer = client.post("/me/bounces", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")
    assert state(core, ME).disabled
