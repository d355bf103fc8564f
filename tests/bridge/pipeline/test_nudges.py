"""Consent nudges: the one mail a candidate's starter gets, its links, its answers.

Candidates are made with threads/consent.start_candidate over raw rows, as
the pipeline's consent gate makes them; the end-to-end test at the bottom
sends through the real SMTP listener to a consent route instead. Outbound
mail is read from the Maildir outbox; links are followed through the app.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select, update

from bridge import admin, route_admin
from bridge.core import Core, open_core
from bridge.outbound.sender import Sender
from bridge.pipeline import nudges
from bridge.worker import drain
from mail.envelope import Envelope
from mail.tokens import consent_link_token
from tests.support import replies
from tests.support.dnsstub import DNSStub
from tests.support.env import settings_for
from tests.support.factories import bridge_listener
from tests.support.messages import make_mail
from tests.support.nudges import (
    PUBLIC,
    click,
    client_for,
    form_token,
    links_of,
    nudges_in,
    outbox,
    plain,
)
from tests.support.replies import send
from tests.support.sessions import sign_in
from threads import consent
from threads.db import writer
from threads.models import (
    AuditEntry,
    ConsentCandidate,
    Message,
    OutboundMail,
    Person,
    RawMessage,
    RawState,
    Thread,
)

DOMAIN = "bridge.example"
ANA = "ana@example.com"
BOB = "bob@example.com"
CAL = "cal@example.com"


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    c = replies.open_reply_core(tmp_path / "data", org_domains=["example.com"], nudge_daily_cap=2)
    yield c
    c.close()


# The real listener, wired as `bridge serve` wires it, on this module's core.
smtp_port = replies.smtp_port


def community_id(core: Core, slug: str = "eng") -> int:
    with core.engine.connect() as conn:
        return int(
            conn.execute(
                select(admin.Community.id).where(admin.Community.slug == slug)
            ).scalar_one()
        )


def make_candidate(
    core: Core, n: int = 1, *, starter: str = ANA, live: bool = True, nudge: bool = True
) -> int:
    """A raw message kept as a candidate, as the consent gate keeps one; nudged if asked."""
    raw = make_mail(
        f"Rollout plan {n}",
        sender=f"Ana Lima <{starter}>",
        to=BOB,
        cc=f"{CAL}, eng@lists.example.com",
        msgid=f"plan{n}@example.com",
        body=f"Hello both,\nhere is rollout plan number {n}.\nShip on Monday?\n",
    )
    raw_id = core.inbox.accept(raw, Envelope("smtp", starter, ("eng@lists.example.com",))).raw_id
    with writer(core.engine).begin() as conn:
        conn.execute(
            update(RawMessage.__table__)
            .where(RawMessage.__table__.c.id == raw_id)
            .values(state=RawState.candidate.value)
        )
        cid = consent.start_candidate(
            conn,
            community_id=community_id(core),
            raw_id=raw_id,
            message_id=f"plan{n}@example.com",
            starter=starter,
            starter_name="Ana Lima",
            subject=f"Rollout plan {n}",
            excerpt=f"Hello both,\nhere is rollout plan number {n}.",
            participants=[
                {"name": "Ana Lima", "address": starter},
                {"name": "", "address": BOB},
                {"name": "", "address": CAL},
            ],
            org_count=2,
            live=live,
        )
        if nudge:
            nudges.queue_nudge(conn, core.settings.consent, cid)
    return cid


def candidate(core: Core, cid: int) -> Any:
    with core.engine.connect() as conn:
        return conn.execute(
            select(ConsentCandidate.__table__).where(ConsentCandidate.__table__.c.id == cid)
        ).one()


def raw_states(core: Core, cid: int) -> set[str]:
    cm, raw = consent.CMSG, RawMessage.__table__
    with core.engine.connect() as conn:
        rows = conn.execute(
            select(raw.c.state).join(cm, cm.c.raw_id == raw.c.id).where(cm.c.candidate_id == cid)
        )
        return set(rows.scalars())


# --- the nudge --------------------------------------------------------------------------


def test_nudge_is_queued_once_with_what_the_starter_needs(core: Core) -> None:
    """One nudge per candidate: subject, first lines, people, community, links, kind words."""
    cid = make_candidate(core)
    with writer(core.engine).begin() as conn:
        assert nudges.queue_nudge(conn, core.settings.consent, cid) is False  # already nudged
    (msg,) = nudges_in(core)
    assert msg["To"].addresses[0].addr_spec == ANA
    assert msg["From"].addresses[0].addr_spec == f"bridge@{DOMAIN}"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Commons-Bridge-Loop"] == DOMAIN
    assert "Rollout plan 1" in msg["Subject"]
    assert "Engineering" in msg["Subject"]
    reply_to = msg["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("consent+")
    assert reply_to.endswith("@" + DOMAIN)
    assert len(reply_to.partition("@")[0]) <= 64  # RFC 5321 local part
    text = plain(msg)
    assert "here is rollout plan number 1." in text
    assert "you and 2 others" in text
    assert "Engineering" in text
    assert "If you do nothing, nothing is published." in text
    assert "“open” or “keep private”" in text
    open_link, private_link = links_of(msg)
    assert open_link != private_link
    assert candidate(core, cid).nudged_at is not None


def ana_chooses(core: Core, locale: str) -> None:
    """Ana's language, as the web's switch saves it."""
    with writer(core.engine).begin() as conn:
        admin.ensure_person(conn, ANA)
        conn.execute(
            update(Person.__table__).where(Person.__table__.c.email == ANA).values(locale=locale)
        )


def test_the_nudge_is_in_the_language_the_starter_chose(core: Core) -> None:
    """Ana chose German on the web: subject and text are German, her answer words
    ("open", "keep private") stay the ones the reply parser reads, the links still work."""
    ana_chooses(core, "de")
    make_candidate(core)
    (msg,) = nudges_in(core)
    assert msg["Subject"] == "„Rollout plan 1“ mit Engineering teilen?"
    text = plain(msg)
    assert text.startswith("Hallo Ana Lima,")
    assert "(Sie und 2 weitere Personen sind beteiligt)" in text
    assert "here is rollout plan number 1." in text  # her words, untranslated
    assert "„open“ (öffnen) oder „keep private“ (privat halten)" in text
    assert len(links_of(msg)) == 2


def test_nudge_text_fills_values_after_translating_and_never_formats_what_people_wrote() -> None:
    """A subject or excerpt holding % or %(name)s comes out as written, in any language."""
    from bridge.outbound.language import language

    for code in ("en", "ja"):
        text = nudges.nudge_text(
            name="",
            subject="50% done %(x)s",
            excerpt="cost: 10% %(days)s",
            people=1,
            community="Eng",
            open_url="https://o",
            private_url="https://p",
            days=1,
            address="a@example.com",
            language=language(code),
        )
        assert "50% done %(x)s" in text
        assert "cost: 10% %(days)s" in text
    assert "just you on it" in nudges.nudge_text(
        name="",
        subject="s",
        excerpt="",
        people=1,
        community="Eng",
        open_url="o",
        private_url="p",
        days=1,
        address="a@example.com",
    )


def test_history_and_decided_candidates_get_no_nudge(core: Core) -> None:
    """Mail a mailbox had before it was connected is never nudged about."""
    old = make_candidate(core, 1, live=False)
    assert candidate(core, old).nudged_at is None
    assert nudges.nudge_waiting(core.engine, core.settings.consent) == 0
    assert nudges_in(core) == []


def test_open_link_confirms_then_opens(core: Core) -> None:
    """GET shows the conversation and changes nothing; POST opens; raw mail returns to pending."""
    cid = make_candidate(core)
    open_link, _ = links_of(nudges_in(core)[0])
    client = client_for(core)
    page = client.get(open_link)
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    main = soup.main.get_text(" ", strip=True)  # type: ignore[union-attr]
    assert "Rollout plan 1" in main
    assert "3 people on it" in main
    assert "Engineering" in main
    assert "here is rollout plan number 1." in main
    assert [b["value"] for b in soup.select("main form button")] == ["open"]
    assert candidate(core, cid).state == "candidate"  # a link scanner's GET does nothing
    done = client.post(open_link, data={"action": "open", "csrf_token": form_token(page.text)})
    assert done.status_code == 200
    assert "The conversation is open." in done.text
    row = candidate(core, cid)
    assert (row.state, row.decided_by, row.decided_via) == ("opened", ANA, "link")
    assert raw_states(core, cid) == {"pending"}
    again = client.post(open_link, data={"action": "open", "csrf_token": form_token(page.text)})
    assert again.status_code == 200
    assert "already opened" in again.text
    with core.engine.connect() as conn:
        actions = conn.execute(select(AuditEntry.__table__.c.action)).scalars().all()
    assert actions.count("consent.opened") == 1


def test_keep_private_link(core: Core) -> None:
    """Keep private: the raw mail is private for good; the page says nothing is published."""
    cid = make_candidate(core)
    _, private_link = links_of(nudges_in(core)[0])
    done = click(client_for(core), private_link, "private")
    assert done.status_code == 200
    assert "stays private" in done.text
    assert candidate(core, cid).state == "private"
    assert raw_states(core, cid) == {"private"}


def test_link_for_one_action_does_not_do_the_other(core: Core) -> None:
    """The keep-private link cannot be turned into an open by editing the form."""
    cid = make_candidate(core)
    _, private_link = links_of(nudges_in(core)[0])
    client = client_for(core)
    token = form_token(client.get(private_link).text)
    answer = client.post(private_link, data={"action": "open", "csrf_token": token})
    assert answer.status_code == 400
    assert candidate(core, cid).state == "candidate"


def test_expired_and_forged_links_are_refused(core: Core) -> None:
    """Expired: 410 with a clear page; altered or foreign-key tokens: 404; never a change."""
    cid = make_candidate(core)
    open_link, _ = links_of(nudges_in(core)[0])
    expired = consent_link_token(
        core.settings.secret_key,
        candidate_id=cid,
        address=ANA,
        action="open",
        expires=date.today() - timedelta(days=1),
    )
    foreign = consent_link_token(
        "another key", candidate_id=cid, address=ANA, action="open", expires=date(2099, 1, 1)
    )
    token = open_link.rsplit("/", 1)[1]
    altered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    client = client_for(core)
    csrf = form_token(client.get(open_link).text)
    page = client.get(f"/consent/{expired}")
    assert page.status_code == 410
    assert "expired" in page.text
    assert (
        client.post(f"/consent/{expired}", data={"action": "open", "csrf_token": csrf}).status_code
        == 410
    )
    for bad in (foreign, altered, "not-a-token"):
        assert client.get(f"/consent/{bad}").status_code == 404
        answer = client.post(f"/consent/{bad}", data={"action": "open", "csrf_token": csrf})
        assert answer.status_code == 404
    assert candidate(core, cid).state == "candidate"


def test_link_for_a_missing_candidate_is_404(core: Core) -> None:
    """A genuine token whose candidate is gone answers 404, not 500."""
    token = consent_link_token(
        core.settings.secret_key,
        candidate_id=4242,
        address=ANA,
        action="any",
        expires=date(2099, 1, 1),
    )
    assert client_for(core).get(f"/consent/{token}").status_code == 404


def test_daily_cap_holds_back_the_third_nudge_until_the_sweep(core: Core) -> None:
    """Cap 2: the third candidate of one starter waits; the sender's round sends it later."""
    first, second, third = (make_candidate(core, n) for n in (1, 2, 3))
    assert candidate(core, third).nudged_at is None
    assert len(nudges_in(core)) == 2
    assert nudges.nudge_waiting(core.engine, core.settings.consent) == 0  # still within the day
    with writer(core.engine).begin() as conn:
        conn.execute(
            update(consent.CAND)
            .where(consent.CAND.c.id.in_([first, second]))
            .values(nudged_at=datetime.now(UTC) - timedelta(hours=25))
        )
    report = Sender(core.engine, core.settings).run_once()
    assert report.nudges == 1
    assert candidate(core, third).nudged_at is not None
    mails = nudges_in(core)
    assert len(mails) == 3
    assert any("Rollout plan 3" in str(m["Subject"]) for m in mails)
    assert nudges.nudge_waiting(core.engine, core.settings.consent) == 0  # never twice


def test_cap_counts_per_person(core: Core) -> None:
    """Another starter's candidates are not held back by Ana's cap."""
    for n in (1, 2, 3):
        make_candidate(core, n)
    other = make_candidate(core, 4, starter="dee@example.com")
    assert candidate(core, other).nudged_at is not None


# --- answers by mail ----------------------------------------------------------------------


def answer(nudge: EmailMessage, *, sender: str, body: str, **headers: str) -> EmailMessage:
    """What a mail client writes when its user answers the nudge."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = str(nudge["Reply-To"])
    msg["Subject"] = "Re: " + str(nudge["Subject"])
    msg["Message-ID"] = f"<answer-{abs(hash((sender, body))) % 10**9}@example.com>"
    msg["In-Reply-To"] = str(nudge["Message-ID"])
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    quoted = "\n".join("> " + line for line in plain(nudge).splitlines())
    msg.set_content(f"{body}\n\nOn Monday, Commons Bridge wrote:\n{quoted}\n")
    return msg


def answer_reason(core: Core, message_id: str) -> Any:
    with core.engine.connect() as conn:
        return conn.execute(
            select(RawMessage.state, RawMessage.reason).where(RawMessage.message_id == message_id)
        ).one()


def test_reply_open_by_mail_opens_the_candidate(core: Core, smtp_port: int) -> None:
    """ "Yes, open" from the starter through the real listener opens it; nothing is filed."""
    cid = make_candidate(core)
    (nudge,) = nudges_in(core)
    msg = answer(nudge, sender=f"Ana Lima <{ANA}>", body="Yes, open!")
    send(smtp_port, msg, nudge["Reply-To"].addresses[0].addr_spec)
    drain(core)
    row = candidate(core, cid)
    assert (row.state, row.decided_via) == ("opened", "mail")
    state, reason = answer_reason(core, str(msg["Message-ID"]).strip("<>"))
    assert state == "done"
    assert reason == f"consent reply: candidate {cid} opened by {ANA}"
    with core.engine.connect() as conn:
        assert (
            conn.execute(select(Message.id).where(Message.subject.like("Re: Share%"))).first()
            is None
        )


def test_reply_keep_private_by_mail(core: Core, smtp_port: int) -> None:
    """ "keep private" keeps it private."""
    cid = make_candidate(core)
    (nudge,) = nudges_in(core)
    send(
        smtp_port,
        answer(nudge, sender=ANA, body="Keep private"),
        nudge["Reply-To"].addresses[0].addr_spec,
    )
    drain(core)
    assert candidate(core, cid).state == "private"


def test_reply_from_another_address_does_nothing(core: Core, smtp_port: int) -> None:
    """The reply address is bound to the nudged person: Bob cannot open Ana's thread with it."""
    cid = make_candidate(core)
    (nudge,) = nudges_in(core)
    msg = answer(nudge, sender=BOB, body="open")
    send(smtp_port, msg, nudge["Reply-To"].addresses[0].addr_spec)
    drain(core)
    assert candidate(core, cid).state == "candidate"
    _state, reason = answer_reason(core, str(msg["Message-ID"]).strip("<>"))
    assert reason.startswith("consent reply: ")
    assert "someone else" in reason


def test_reply_failing_trusted_authentication_does_nothing(core: Core, smtp_port: int) -> None:
    """A forged From that our trusted receiving server saw fail DMARC cannot open anything."""
    cid = make_candidate(core)
    (nudge,) = nudges_in(core)
    msg = answer(
        nudge,
        sender=ANA,
        body="open",
        Authentication_Results="mx.example.com; dmarc=fail header.from=example.com",
    )
    send(smtp_port, msg, nudge["Reply-To"].addresses[0].addr_spec)
    drain(core)
    assert candidate(core, cid).state == "candidate"
    assert "authentication failed" in answer_reason(core, str(msg["Message-ID"]).strip("<>"))[1]


def test_reply_failing_dmarc_checked_here_does_nothing(tmp_path: Path, dns_stub: DNSStub) -> None:
    """With no trusted stamp the bridge checks DMARC itself: a forged "open" fails it, nothing
    is opened (the token stands in for a missing pass, never against a failure)."""
    dns_stub.add_txt("example.com", "v=spf1 ip4:192.0.2.25 -all")
    dns_stub.add_txt("_dmarc.example.com", "v=DMARC1; p=none")
    checked = open_core(
        settings_for(
            tmp_path / "checked",
            mail_domain=DOMAIN,
            public_url=PUBLIC,
            org_domains=["example.com"],
            verify_senders="auto",
            dns_servers=[dns_stub.address],
        )
    )
    try:
        with writer(checked.engine).begin() as conn:
            admin.add_community(conn, "eng", "Engineering", addresses=["eng@lists.example.com"])
        cid = make_candidate(checked)
        (nudge,) = nudges_in(checked)
        msg = answer(nudge, sender=ANA, body="open")
        with bridge_listener(checked, DOMAIN) as port:
            send(port, msg, nudge["Reply-To"].addresses[0].addr_spec)
        drain(checked)
        assert candidate(checked, cid).state == "candidate"
        reason = answer_reason(checked, str(msg["Message-ID"]).strip("<>"))[1]
        assert "failed DMARC" in reason
    finally:
        checked.close()


def test_unclear_reply_is_explained_once(core: Core, smtp_port: int) -> None:
    """An answer we cannot read changes nothing and gets one short explanation."""
    cid = make_candidate(core)
    (nudge,) = nudges_in(core)
    address = nudge["Reply-To"].addresses[0].addr_spec
    send(smtp_port, answer(nudge, sender=ANA, body="Let me ask Bob first."), address)
    send(smtp_port, answer(nudge, sender=ANA, body="Maybe later?"), address)
    drain(core)
    assert candidate(core, cid).state == "candidate"
    help_mails = [m for m in outbox(core) if m["Subject"] == "Your answer about a conversation"]
    assert len(help_mails) == 1
    assert "keep private" in plain(help_mails[0])


def test_unclear_reply_is_explained_in_the_language_the_starter_chose(
    core: Core, smtp_port: int
) -> None:
    """Ana chose German: the explanation is German, the answer words stay English."""
    ana_chooses(core, "de")
    make_candidate(core)
    (nudge,) = nudges_in(core)
    address = nudge["Reply-To"].addresses[0].addr_spec
    send(smtp_port, answer(nudge, sender=ANA, body="Vielleicht später?"), address)
    drain(core)
    (help_mail,) = [m for m in outbox(core) if "Unterhaltung" in str(m["Subject"])]
    assert help_mail["Subject"] == "Ihre Antwort zu einer Unterhaltung"
    text = plain(help_mail)
    assert "Wir konnten Ihrer Antwort zu „Rollout plan 1“ nicht entnehmen" in text
    assert "  open            um die Unterhaltung zu veröffentlichen" in text
    assert "  keep private    um sie dauerhaft privat zu halten" in text


def consent_audit(core: Core) -> list[tuple[str, str, str, Any, Any]]:
    """The audit log's consent entries, oldest first."""
    a = AuditEntry.__table__
    with core.engine.connect() as conn:
        rows = conn.execute(
            select(a.c.actor, a.c.action, a.c.target, a.c.before, a.c.after)
            .where(a.c.action.like("consent.%"))
            .order_by(a.c.id)
        ).all()
    return [tuple(row) for row in rows]


def test_answer_by_mail_is_audited_like_a_click(core: Core, smtp_port: int) -> None:
    """A decision by mail is audited like one by link; an answer that changes nothing is not."""
    cid = make_candidate(core)
    (nudge,) = nudges_in(core)
    open_link, _ = links_of(nudge)
    address = nudge["Reply-To"].addresses[0].addr_spec
    send(smtp_port, answer(nudge, sender=ANA, body="Keep private"), address)
    drain(core)
    assert candidate(core, cid).state == "private"
    again = answer(nudge, sender=ANA, body="no thanks")
    send(smtp_port, again, address)
    drain(core)
    _state, reason = answer_reason(core, str(again["Message-ID"]).strip("<>"))
    assert "nothing changed" in reason
    assert click(client_for(core), open_link, "open").status_code == 200
    target = f"candidate {cid}"
    by_mail = {"state": "private", "via": "mail"}
    by_link = {"state": "opened", "via": "link"}
    assert consent_audit(core) == [
        (ANA, "consent.private", target, {"state": "candidate"}, by_mail),
        (ANA, "consent.opened", target, {"state": "private"}, by_link),
    ]


def test_forged_consent_address_is_refused_at_rcpt(core: Core, smtp_port: int) -> None:
    """A consent+ address we did not sign is refused before any content is sent."""
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
        client.ehlo()
        client.mail(ANA)
        code, _ = client.rcpt(f"consent+{'a' * 36}@{DOMAIN}")
    assert code == 550


def test_answer_words() -> None:
    """The first line that says anything decides; punctuation and case do not matter."""
    from mail.parse import ParsedMessage

    def said(text: str) -> str | None:
        return nudges.answer_of(ParsedMessage(visible_text=text))

    assert said("Open") == "open"
    assert said("\n\n  yes, open!\nthanks") == "open"
    assert said("Keep private.") == "private"
    assert said("no") == "private"
    assert said("open it? not sure") is None
    assert said("") is None


# --- the candidates page ------------------------------------------------------------------


def test_candidates_page_for_participants_only(core: Core) -> None:
    """Participants see their candidates; the starter may decide; anyone else gets 404."""
    cid = make_candidate(core)
    ana, bob, eve = client_for(core), client_for(core), client_for(core)
    sign_in(ana, core, ANA)
    sign_in(bob, core, BOB)
    sign_in(eve, core, "eve@example.com")
    page = ana.get("/me/candidates")
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    item = soup.select_one(f"#candidate-{cid}")
    assert item is not None
    text = item.get_text(" ", strip=True)
    assert "Rollout plan 1" in text
    assert "3 people on it" in text
    assert "Engineering" in text
    assert "here is rollout plan number 1." in text
    assert [b["value"] for b in item.select("button")] == ["open", "private"]
    header = soup.select_one("header .account")
    assert header is not None
    assert header.find("a", href="/me/candidates") is not None
    bob_page = BeautifulSoup(bob.get("/me/candidates").text, "html.parser")
    bob_item = bob_page.select_one(f"#candidate-{cid}")
    assert bob_item is not None
    assert bob_item.select("button") == []
    eve_page = BeautifulSoup(eve.get("/me/candidates").text, "html.parser")
    assert eve_page.select_one(f"#candidate-{cid}") is None
    assert eve_page.select_one("header .account a[href='/me/candidates']") is None
    csrf = form_token(eve.get("/me/candidates").text)
    refused = eve.post(f"/me/candidates/{cid}", data={"action": "open", "csrf_token": csrf})
    assert refused.status_code == 404
    bob_csrf = form_token(bob.get("/me/candidates").text)
    forbidden = bob.post(f"/me/candidates/{cid}", data={"action": "open", "csrf_token": bob_csrf})
    assert forbidden.status_code == 403
    assert candidate(core, cid).state == "candidate"
    anonymous = client_for(core)
    assert anonymous.get("/me/candidates").status_code == 303
    done = ana.post(
        f"/me/candidates/{cid}", data={"action": "open", "csrf_token": form_token(page.text)}
    )
    assert done.status_code == 303
    assert (candidate(core, cid).state, candidate(core, cid).decided_via) == ("opened", "web")


def test_candidates_page_posts_need_csrf(core: Core) -> None:
    """A decision without the form's CSRF token is refused before it acts."""
    cid = make_candidate(core)
    ana = client_for(core)
    sign_in(ana, core, ANA)
    assert ana.post(f"/me/candidates/{cid}", data={"action": "open"}).status_code == 403
    assert candidate(core, cid).state == "candidate"


# --- end to end, with the pipeline's consent gate ---------------------------------------------


@pytest.fixture
def consent_route(core: Core) -> str:
    """A community whose address is a consent route (before the listener loads its routes)."""
    with writer(core.engine).begin() as conn:
        admin.add_community(conn, "ops", "Operations", addresses=[])
        route_admin.add_route(conn, "ops", "address", "ops@lists.example.com", policy="consent")
    return "ops@lists.example.com"


@pytest.mark.parametrize("how", ["link", "reply"])
def test_mail_to_a_consent_route_is_nudged_and_opening_publishes(
    core: Core, consent_route: str, smtp_port: int, how: str
) -> None:
    """SMTP to a consent route: a candidate, a nudge; its open link (or, separately, a
    reply "open" through the listener) files it, readable and found."""
    msg = EmailMessage()
    msg["From"] = f"Ana Lima <{ANA}>"
    msg["To"] = BOB
    msg["Cc"] = f"{CAL}, ops@lists.example.com"
    msg["Subject"] = "Failover drill zanzibarquokka"
    msg["Message-ID"] = "<drill@example.com>"
    msg.set_content("Hi both,\nthe failover drill is on Thursday.\n")
    send(smtp_port, msg, "ops@lists.example.com")
    drain(core)
    with core.engine.connect() as conn:
        assert conn.execute(select(consent.CAND.c.id)).scalar_one()
        assert conn.execute(select(Thread.id)).first() is None  # nothing filed yet
    Sender(core.engine, core.settings).run_once()
    (nudge,) = nudges_in(core)
    assert "Failover drill" in str(nudge["Subject"])
    assert "Operations" in str(nudge["Subject"])
    assert "you and 2 others" in plain(nudge)  # the route's own address is nobody
    open_link, _ = links_of(nudge)
    reader = client_for(core)
    sign_in(reader, core, "dee@example.com")
    assert "Failover drill" not in reader.get("/search?q=zanzibarquokka").text
    if how == "link":
        assert click(client_for(core), open_link, "open").status_code == 200
    else:
        reply = answer(nudge, sender=f"Ana Lima <{ANA}>", body="open")
        send(smtp_port, reply, nudge["Reply-To"].addresses[0].addr_spec)
        drain(core)  # the answer opens it; the released mail is pending again
    drain(core)
    with core.engine.connect() as conn:
        thread_id = conn.execute(
            select(Message.thread_id).where(Message.message_id == "drill@example.com")
        ).scalar_one()
    page = reader.get(f"/t/{thread_id}")
    assert page.status_code == 200
    assert "the failover drill is on Thursday." in page.text
    assert f"/t/{thread_id}" in reader.get("/search?q=zanzibarquokka").text
    with core.engine.connect() as conn:
        kinds = conn.execute(select(OutboundMail.kind)).scalars().all()
    assert kinds.count(nudges.NUDGE_KIND) == 1
