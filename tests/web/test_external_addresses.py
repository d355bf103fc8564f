"""External participants: shown by name, their addresses never on a web reader's screen.

World: org domain example.com; a thread where Ana (org) writes to Vic, a
vendor (vic@vendor.example, named), and Quinn (quinn@quiet.example, no name,
on cc); Vic answers, signing with his address and quoting Ana. Org readers
see names, never the two external addresses; an admin sees everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from bridge import admin
from bridge.core import Core, open_core
from tests.support.env import settings_for
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from tests.support.sessions import sign_in
from threads.db import writer
from threads.people import external_label, is_external, usable_name
from web.app import create_app

VIC, QUINN = "vic@vendor.example", "quinn@quiet.example"
HIDDEN = (VIC, QUINN)


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    c = open_core(settings_for(tmp_path / "data", org_domains=["example.com"]))
    create_community(c)
    with writer(c.engine).begin() as conn:
        admin.set_member(conn, "eng", VIC, "member")  # so his answer is not held
    deliver(
        c,
        make_mail(
            "Contract renewal",
            sender="Ana Lima <ana@example.com>",
            to=f"eng@lists.example.com, Vic Vendor <{VIC}>",
            cc=QUINN,
            msgid="ana-1@example.com",
            body="Vic, can you send the new terms?\n",
        ),
        make_mail(
            "Re: Contract renewal",
            sender=f"Vic Vendor <{VIC}>",
            to="Ana Lima <ana@example.com>",
            cc=f"eng@lists.example.com, {QUINN}",
            msgid="vic-1@vendor.example",
            in_reply_to="ana-1@example.com",
            body=(
                "Terms attached tomorrow.\n\n"
                f"On Monday Ana wrote:\n> Vic, write to {VIC.upper()} if needed\n\n"
                f"-- \nVic Vendor\n{VIC}\n"
            ),
        ),
    )
    yield c
    c.close()


def client_as(core: Core, email: str | None, *, is_admin: bool = False) -> TestClient:
    client = TestClient(create_app(core), follow_redirects=False)
    if email:
        sign_in(client, core, email, is_admin=is_admin)
    return client


def surfaces(client: TestClient) -> dict[str, str]:
    """Every reading surface showing the thread, by address."""
    out = {}
    for url in (
        "/",
        "/c/eng",
        "/c/eng/feed.atom",
        "/t/1",
        "/t/1/feed.atom",
        "/t/1/thread.mbox",
        "/api/threads/1",
        "/api/communities/eng/threads",
        "/search?q=terms",
        "/api/search?q=terms",
        "/p/ana@example.com",
        "/api/people/ana@example.com",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        out[url] = response.text
    return out


def test_helpers_decide_external_and_names() -> None:
    """With no org domains nobody is external; names holding an address do not count."""
    assert is_external(VIC, ["example.com"])
    assert not is_external("ana@example.com", ["example.com"])
    assert not is_external(VIC, [])
    assert usable_name("Vic Vendor", VIC) == "Vic Vendor"
    assert usable_name(VIC, VIC) == ""
    assert usable_name("Vic (vic@vendor.example)", VIC) == ""
    assert usable_name("vic", VIC) == ""
    assert external_label("", QUINN) == "someone at quiet.example"


def test_org_reader_sees_names_never_external_addresses(core: Core) -> None:
    """Thread, lists, feeds, API, search, person pages and mbox: no external address anywhere."""
    for url, body in surfaces(client_as(core, "reader@example.com")).items():
        for address in HIDDEN:
            assert address not in body.lower(), f"{address} shown on {url}"
    page = BeautifulSoup(client_as(core, "reader@example.com").get("/t/1").text, "html.parser")
    text = page.get_text(" ")
    assert "Vic Vendor" in text
    assert "someone at quiet.example" in text
    assert "ana@example.com" in text  # colleagues' addresses stay visible
    hrefs = [a["href"] for a in page.select("a[href^='/p/']")]
    assert hrefs
    assert all("vendor.example" not in h and "quiet.example" not in h for h in hrefs)


def test_anonymous_reader_of_a_public_community_sees_no_external_address(core: Core) -> None:
    """The same holds for the public: public communities are read by anyone."""
    create_community(
        core, slug="pub", name="Public", visibility="public", addresses=["pub@lists.example.com"]
    )
    deliver(
        core,
        make_mail(
            "Open question",
            sender="Ana Lima <ana@example.com>",
            to="pub@lists.example.com",
            cc=f"Vic Vendor <{VIC}>",
            msgid="ana-pub@example.com",
        ),
    )
    client = client_as(core, None)
    thread_id = client.get("/api/communities/pub/threads").json()["threads"][0]["id"]
    page = client.get(f"/t/{thread_id}").text
    assert "Vic Vendor" in page
    assert VIC not in page
    assert VIC not in client.get(f"/api/threads/{thread_id}").text


def test_admin_sees_every_address(core: Core) -> None:
    """Admins keep the whole picture: they answer for the archive."""
    seen = surfaces(client_as(core, "boss@example.com", is_admin=True))
    assert VIC in seen["/t/1"]
    assert QUINN in seen["/t/1"]
    assert VIC in seen["/api/threads/1"]
    assert (
        VIC.encode()
        in message_from_bytes(seen["/t/1/thread.mbox"].encode(), policy=policy.default).as_bytes()
    )
    boss = client_as(core, "boss@example.com", is_admin=True)
    assert boss.get(f"/p/{VIC}").status_code == 200


def test_person_page_of_an_external_is_the_unknown_person_s_404(core: Core) -> None:
    """/p/ and /api/people/ must not confirm an external address: same 404 as nobody."""
    reader = client_as(core, "reader@example.com")
    for prefix in ("/p/", "/api/people/"):
        known, unknown = reader.get(prefix + VIC), reader.get(prefix + "nobody@vendor.example")
        assert known.status_code == unknown.status_code == 404
        assert known.text == unknown.text


def test_filtering_a_community_by_an_external_address_finds_nothing(core: Core) -> None:
    """?person= is the same oracle as a person page: it finds nothing for a hidden address."""
    reader = client_as(core, "reader@example.com")
    assert reader.get(f"/api/communities/eng/threads?person={VIC}").json()["threads"] == []
    assert reader.get("/api/communities/eng/threads?person=ana@example.com").json()["threads"]


@pytest.mark.parametrize(
    "q",
    [f"from:{VIC}", "from:vendor.example", "cc:quiet.example", f"cc:{QUINN}", "to:vendor.example"],
)
def test_search_operators_do_not_confirm_an_external_address(core: Core, q: str) -> None:
    """from:/to:/cc: on a hidden address find nothing for a reader, as for nobody;
    the same queries find the messages for an admin, and names still match."""
    reader = client_as(core, "reader@example.com")
    boss = client_as(core, "boss@example.com", is_admin=True)
    assert reader.get("/api/search", params={"q": q}).json()["total_threads"] == 0
    assert boss.get("/api/search", params={"q": q}).json()["total_threads"] == 1
    assert reader.get("/api/search", params={"q": "from:ana@example.com"}).json()["total_threads"]
    assert reader.get("/api/search", params={"q": "from:vic"}).json()["total_threads"]  # name


def test_the_mbox_for_readers_is_rebuilt_without_external_addresses(core: Core) -> None:
    """Readers get the conversation's text with Message-IDs, the addresses hidden."""
    mbox = client_as(core, "reader@example.com").get("/t/1/thread.mbox").text
    assert "Message-ID: <vic-1@vendor.example>" in mbox
    assert "In-Reply-To: <ana-1@example.com>" in mbox
    assert "Vic Vendor <address-hidden@external.invalid>" in mbox
    assert "ana@example.com" in mbox


def test_without_org_domains_nobody_is_external(tmp_path: Path) -> None:
    """No BRIDGE_ORG_DOMAINS: the bridge cannot tell, so addresses show as before."""
    c = open_core(settings_for(tmp_path / "plain"))
    try:
        create_community(c, visibility="public")
        deliver(c, make_mail(sender=f"Vic Vendor <{VIC}>", msgid="v@vendor.example"))
        assert VIC in client_as(c, None).get("/t/1").text
    finally:
        c.close()


def test_the_original_html_hides_external_addresses_from_readers(core: Core) -> None:
    """The HTML version on request (/m/ID/html) is scrubbed like the text: mailto and quotes."""
    from email.message import EmailMessage

    m = EmailMessage()
    m["From"] = "Ana Lima <ana@example.com>"
    m["To"] = f"eng@lists.example.com, {QUINN}"
    m["Subject"] = "Re: Contract renewal"
    m["Message-ID"] = "<ana-html@example.com>"
    m["In-Reply-To"] = "<vic-1@vendor.example>"
    m.set_content("See below.\n")
    m.add_alternative(
        f'<p>See below.</p><blockquote>From: <a href="mailto:{VIC}">{VIC}</a><br>'
        "Terms attached tomorrow.</blockquote>",
        subtype="html",
    )
    deliver(core, m.as_bytes())
    reader = client_as(core, "reader@example.com")
    thread = reader.get("/api/threads/1").json()
    pk = next(x["id"] for x in thread["messages"] if x["message_id"] == "ana-html@example.com")
    html = reader.get(f"/m/{pk}/html").text
    assert "Terms attached tomorrow." in html
    assert VIC not in html.lower()
    boss = client_as(core, "boss@example.com", is_admin=True)
    assert VIC in boss.get(f"/m/{pk}/html").text


def test_scrubbing_replaces_every_hidden_address_and_only_those() -> None:
    """Any case, one address inside another, a text whose lower case is longer, many copies."""
    from threads.privacy import Privacy

    shield = Privacy(org_domains=("example.com",), reveal=False)
    text = "Ask AVic@Vendor.Example or VIC@vendor.example; ana@example.com knows."
    assert shield.scrub(text) == "Ask (address hidden) or (address hidden); ana@example.com knows."
    # "İ" is two characters in lower case: positions must not shift.
    assert shield.scrub(f"İstanbul: {VIC.upper()}") == "İstanbul: (address hidden)"
    many = shield.scrub(f"{VIC} " * 50_000)
    assert VIC not in many
    assert many.count("(address hidden)") == 50_000
    assert Privacy().scrub(text) == text  # admins see every address


@pytest.mark.parametrize(
    ("text", "html", "shown"),
    [
        ("write to nobody.else@elsewhere.example", False, "write to (address hidden)"),
        ("mailto:vera%2Ev%40partner.example", False, "mailto:(address hidden)"),
        ("mailto:%76era.v@partner.example?subject=x", False, "mailto:(address hidden)?subject=x"),
        ("hit: \x02vera\x03.v@partner.example …", False, "hit: (address hidden) …"),
        ("<p><b>vera.v</b>@partner.example</p>", True, "<p><b>(address hidden)</b></p>"),
        ("<p>vera.v@<i>partner</i>.example ok</p>", True, "<p>(address hidden)<i></i> ok</p>"),
        ('<a href="mailto:vera%2Ev%40partner.example">x</a>', True, None),
        ("ana@example.com, @partner.example, user@localhost", False, None),
    ],
)
def test_scrubbing_finds_addresses_in_any_form(text: str, html: bool, shown: str | None) -> None:
    """Addresses nobody took part with, percent-encoded, search-marked, split by markup."""
    from threads.privacy import Privacy

    shield = Privacy(org_domains=("example.com",), reveal=False)
    out = shield.scrub(text, html=html)
    if shown is not None:
        assert out == shown
    elif "partner" in text and "@partner.example," not in text:
        assert "vera" not in out
    else:
        assert out == text  # colleagues, a bare domain, a host without a dot stay
