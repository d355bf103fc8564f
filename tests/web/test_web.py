"""Web pages in-process: what they show, who may see it, and that odd input gets a page.

The viewer is set through FastAPI's dependency override of `current_viewer`
(the seam the identity work fills in); access itself is decided by
threads/access.py inside the queries, as in production.
"""

from __future__ import annotations

import mailbox
import struct
import zlib
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from bridge.core import Core
from tests.support.factories import create_community, deliver
from tests.support.messages import conversation, make_mail
from tests.support.paths import MAIL_SAMPLES
from threads.access import ANONYMOUS, Viewer
from web import pages, reading
from web.app import create_app
from web.viewer import current_viewer

ADMIN = Viewer(email="ana@example.com", is_admin=True)
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def tiny_png() -> bytes:
    """A valid 1x1 PNG (a real raster image for previews)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def html_mail_with_files() -> bytes:
    """An HTML message with an inline logo, a remote tracker and three attached files."""
    m = EmailMessage()
    m["From"] = "Carla Diaz <carla@example.com>"
    m["To"] = "eng@lists.example.com"
    m["Cc"] = "Dan Roe <dan@example.com>"
    m["Subject"] = "Design review: new dashboard"
    m["Date"] = format_datetime(BASE + timedelta(days=1))
    m["Message-ID"] = "<design@example.com>"
    m.set_content("The new dashboard mock-ups are attached.\n\n-- \nCarla Diaz\nDesign\n")
    m.add_alternative(
        "<html><body><p>The new <b>dashboard</b> mock-ups are attached.</p>"
        '<img src="cid:logo@example.com" alt="logo">'
        '<img src="https://tracker.example.net/open.gif" alt="">'
        "<script>window.parent.pwned = 1</script></body></html>",
        subtype="html",
    )
    html_part = m.get_payload()[1]
    html_part.add_related(tiny_png(), "image", "png", cid="<logo@example.com>")
    m.add_attachment(tiny_png(), maintype="image", subtype="png", filename="mockup.png")
    m.add_attachment(
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        maintype="image",
        subtype="svg+xml",
        filename="icon.svg",
    )
    m.add_attachment(
        b"<html><script>alert(1)</script></html>",
        maintype="text",
        subtype="html",
        filename="report final.html",
    )
    return bytes(m)


@pytest.fixture
def app_core(core: Core) -> Core:
    create_community(core, description="Architecture and releases.")
    create_community(core, slug="hr", name="People Team", addresses=["hr@lists.example.com"])
    deliver(core, *conversation(3))
    deliver(
        core,
        make_mail(
            "<script>alert(1)</script>",
            msgid="x@example.com",
            date=BASE + timedelta(days=2),
            body="<b>bold</b> & <img src=x onerror=alert(1)>\n\n> quoted history\n> more\n",
        ),
        html_mail_with_files(),
        make_mail(
            "Salary bands",
            sender="Dana Ito <dana@example.com>",
            to="hr@lists.example.com",
            msgid="hr1@example.com",
            body="Budget for salary bands.\n",
        ),
    )
    return core


def client_for(core: Core, viewer: Viewer | None = ADMIN) -> TestClient:
    app = create_app(core)
    if viewer is not None:
        app.dependency_overrides[current_viewer] = lambda: viewer
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(app_core: Core) -> TestClient:
    return client_for(app_core)


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def thread_href(client: TestClient, subject: str) -> str:
    link = soup(client.get("/c/eng")).find("a", string=subject)
    assert link, subject
    return str(link["href"])


# --- home and community ------------------------------------------------------------------


def test_home_lists_communities_with_activity(client: TestClient) -> None:
    """The home page links each readable community with its counts and recent threads."""
    page = soup(client.get("/"))
    link = page.find("a", href="/c/eng")
    assert link
    assert link.text == "Engineering"
    text = page.get_text(" ", strip=True)
    assert "3 threads · 5 messages" in text
    assert page.find("a", string="Design review: new dashboard")


def test_anonymous_sees_no_private_community(app_core: Core) -> None:
    """Organisation communities are invisible to an anonymous viewer, on every route."""
    c = client_for(app_core, ANONYMOUS)
    assert not soup(c.get("/")).find("a", href="/c/eng")
    admin = client_for(app_core)
    href = thread_href(admin, "Rollout plan")
    tid = href.rsplit("/", 1)[-1]
    attachment = soup(admin.get(thread_href(admin, "Design review: new dashboard"))).find(
        "a", string="mockup.png"
    )["href"]
    html_src = soup(admin.get(thread_href(admin, "Design review: new dashboard"))).find("iframe")[
        "src"
    ]
    for path in (
        "/c/eng",
        href,
        f"/t/{tid}/feed.atom",
        f"/t/{tid}/thread.mbox",
        "/c/eng/feed.atom",
        attachment,
        html_src,
        "/p/p0@example.com",
    ):
        assert c.get(path).status_code == 404, path
    # The API tells an anonymous caller that a login is needed, for private and missing alike.
    for path in (f"/api/threads/{tid}", "/api/communities/eng/threads", "/api/communities"):
        assert c.get(path).status_code == 401, path
    assert not soup(c.get("/search", params={"q": "rollout"})).select(".results li")
    assert c.get("/api/search", params={"q": "rollout"}).status_code == 401


def test_community_lists_threads_by_last_activity(client: TestClient) -> None:
    """Threads show subject, participants, count, the original cc audience and last reply."""
    page = soup(client.get("/c/eng"))
    rows = page.select(".thread-row")
    titles = [r.h2.get_text(strip=True) for r in rows]
    assert titles == ["<script>alert(1)</script>", "Design review: new dashboard", "Rollout plan"]
    rollout = rows[2].get_text(" ", strip=True)
    assert "3 messages" in rollout
    assert "Person 0, Person 1, Person 2" in rollout
    assert "started by e-mail, originally cc'd to 3 people" in rollout
    assert "last reply" in rollout
    assert "by Person 2" in rollout
    assert "1 attachment" not in rollout
    assert "attachments" in rows[1].get_text(" ", strip=True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"unanswered": "1"}, ["<script>alert(1)</script>", "Design review: new dashboard"]),
        ({"attachments": "1"}, ["Design review: new dashboard"]),
        ({"person": "P1@example.com"}, ["Rollout plan"]),
        ({"person": "carla@example.com", "unanswered": "1"}, ["Design review: new dashboard"]),
        ({"person": "nobody@example.com"}, []),
    ],
)
def test_community_filters(client: TestClient, query: dict[str, str], expected: list[str]) -> None:
    """Unanswered, with attachments and by person narrow the list."""
    page = soup(client.get("/c/eng", params=query))
    assert [r.h2.get_text(strip=True) for r in page.select(".thread-row")] == expected


def test_community_pages(client: TestClient, monkeypatch) -> None:
    """Pagination by last activity, with filters kept in the links."""
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    first = soup(client.get("/c/eng"))
    assert len(first.select(".thread-row")) == 2
    older = first.find("a", rel="next")["href"]
    second = soup(client.get("/c/eng" + older))
    assert [r.h2.get_text(strip=True) for r in second.select(".thread-row")] == ["Rollout plan"]
    assert "Page 2 of 2" in second.get_text(" ", strip=True)
    monkeypatch.setattr(pages, "PAGE_SIZE", 1)
    filtered = soup(client.get("/c/eng", params={"unanswered": "1"}))
    assert "unanswered=1" in filtered.find("a", rel="next")["href"]


# --- thread ---------------------------------------------------------------------------------


def test_thread_reads_as_a_conversation_with_escaped_text(client: TestClient) -> None:
    """Messages in order with reply depth; sender text is escaped, never markup."""
    page = soup(client.get(thread_href(client, "Rollout plan")))
    bodies = [b.get_text() for b in page.select(".message > article > .body")]
    assert [b.strip() for b in bodies] == [
        f"Message number {i} about the rollout." for i in range(3)
    ]
    depths = [li["class"][1] for li in page.select("li.message")]
    assert depths == ["depth-0", "depth-1", "depth-2"]
    assert "replying to Person 1" in page.select("li.message")[2].get_text(" ", strip=True)
    participants = [a["href"] for a in page.select(".participants a[href^='/p/']")]
    assert participants == [f"/p/p{i}%40example.com" for i in range(3)]
    raw = client.get(thread_href(client, "<script>alert(1)</script>")).text
    assert "<script>alert(1)</script>" not in raw
    assert "&lt;script&gt;" in raw
    assert "<img src=x" not in raw


def test_quoted_text_and_signature_are_one_click_away(client: TestClient) -> None:
    """Quoted history and the signature sit in closed <details>."""
    page = soup(client.get(thread_href(client, "<script>alert(1)</script>")))
    quoted = page.select_one("details.quoted")
    assert quoted is not None
    assert not quoted.has_attr("open")
    assert "quoted history" in quoted.get_text()
    assert "quoted history" not in page.select_one(".message > article > .body").get_text()
    design = soup(client.get(thread_href(client, "Design review: new dashboard")))
    assert "Carla Diaz" in design.select_one("details.signature").get_text()


def test_attachments_listed_with_sizes_and_previews(client: TestClient) -> None:
    """Attachments link to downloads with human sizes; only real raster images preview."""
    page = soup(client.get(thread_href(client, "Design review: new dashboard")))
    items = page.select(".attachments > li")
    text = " ".join(i.get_text(" ", strip=True) for i in items)
    assert "mockup.png" in text
    assert "icon.svg" in text
    assert "report final.html" in text
    assert "bytes" in text
    previews = page.select(".attachments img")
    assert [p["alt"] for p in previews] == ["Preview of mockup.png"]


def test_html_version_is_a_sandboxed_frame(client: TestClient) -> None:
    """The HTML view is an iframe with a sandbox, served with its own strict CSP."""
    response = client.get(thread_href(client, "Design review: new dashboard"))
    assert "frame-src 'self'" in response.headers["content-security-policy"]
    frame = soup(response).find("iframe")
    assert frame["sandbox"] == ["allow-popups", "allow-popups-to-escape-sandbox"]
    doc = client.get(frame["src"])
    csp = doc.headers["content-security-policy"]
    assert "sandbox" in csp
    assert "script-src" not in csp
    assert "default-src 'none'" in csp
    assert "img-src data:;" in csp
    assert "<script" not in doc.text
    assert "tracker.example.net" not in doc.text
    assert 'src="data:image/png;base64,' in doc.text  # the cid: logo, inline
    remote = client.get(frame["src"], params={"remote": "1"})
    assert "tracker.example.net" in remote.text
    assert "https:" in remote.headers["content-security-policy"]
    assert "<script" not in remote.text


def test_attachments_are_downloads_never_inline_html_or_svg(client: TestClient) -> None:
    """Every attachment is served as a download; previews only for bytes that are images."""
    page = soup(client.get(thread_href(client, "Design review: new dashboard")))
    links = {a.get_text(): a["href"] for a in page.select(".attachments a[download]")}
    for name in ("icon.svg", "report final.html", "mockup.png"):
        for suffix in ("", "?preview=1"):
            r = client.get(links[name] + suffix)
            assert r.status_code == 200
            assert r.headers["x-content-type-options"] == "nosniff"
            if name == "mockup.png" and suffix:
                assert r.headers["content-type"] == "image/png"
                assert r.headers["content-disposition"].startswith("inline")
            else:
                assert r.headers["content-type"] == "application/octet-stream"
                assert r.headers["content-disposition"].startswith("attachment;")
            assert "sandbox" in r.headers["content-security-policy"]
    r = client.get(links["report final.html"])
    assert "filename*=UTF-8''report%20final.html" in r.headers["content-disposition"]
    assert r.content == b"<html><script>alert(1)</script></html>"


def test_feeds_are_atom(client: TestClient) -> None:
    """Per community and per thread, valid Atom with escaped text."""
    atom = "{http://www.w3.org/2005/Atom}"
    feed = client.get("/c/eng/feed.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.content)  # noqa: S314 (our own feed)
    titles = [e.findtext(f"{atom}title") for e in root.findall(f"{atom}entry")]
    assert titles[0] == "<script>alert(1)</script>"
    assert "Rollout plan" in titles
    href = thread_href(client, "Rollout plan")
    thread = ET.fromstring(client.get(f"{href}/feed.atom").content)  # noqa: S314 (our own feed)
    entries = thread.findall(f"{atom}entry")
    assert len(entries) == 3
    assert entries[0].findtext(f"{atom}author/{atom}name") == "Person 2"


def test_thread_downloads_as_mbox_of_raw_bytes(client: TestClient, tmp_path: Path) -> None:
    """The mbox holds each message's raw bytes; a mail library reads them back."""
    href = thread_href(client, "Rollout plan")
    r = client.get(f"{href}/thread.mbox")
    assert r.headers["content-disposition"].startswith("attachment;")
    path = tmp_path / "t.mbox"
    path.write_bytes(r.content)
    ids = [m["Message-ID"] for m in mailbox.mbox(path)]
    assert ids == [f"<c{i}@example.com>" for i in range(3)]


def test_mbox_quotes_from_lines(app_core: Core, tmp_path: Path) -> None:
    """A body line starting with "From " is quoted (mboxrd) and reads back intact."""
    deliver(
        app_core,
        make_mail("Quoting", msgid="q@example.com", body="From the start,\n>From here\n"),
    )
    c = client_for(app_core)
    href = thread_href(c, "Quoting")
    data = c.get(f"{href}/thread.mbox").content
    assert b"\n>From the start," in data
    assert b"\n>>From here" in data


# --- person, reply, search ----------------------------------------------------------------


def test_person_page_shows_what_they_wrote_and_where(client: TestClient) -> None:
    """A person's messages in readable communities, newest first."""
    page = soup(client.get("/p/carla@example.com"))
    assert page.h1.get_text() == "Carla Diaz"
    assert page.find("a", string="Design review: new dashboard")
    assert page.find("a", href="/c/eng?person=carla%40example.com")
    assert client.get("/p/nobody@example.com").status_code == 404


def test_reply_box_posts_through_the_pipeline(client: TestClient) -> None:
    """The form files a reply in the thread and redirects to it."""
    href = thread_href(client, "Rollout plan")
    form = soup(client.get(href)).find("form", id="reply")
    token = form.find("input", attrs={"name": "csrf_token"})["value"]
    r = client.post(
        form["action"],
        data={"body": "Agreed, ship it on Monday.", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"].startswith(href + "#m")
    page = soup(client.get(href))
    last = page.select("li.message")[-1]
    assert "Agreed, ship it on Monday." in last.get_text()
    assert "via the web" in last.get_text()


def test_an_empty_reply_is_refused_with_the_reason(client: TestClient) -> None:
    """A refused reply re-shows the page with the reason next to the box."""
    href = thread_href(client, "Rollout plan")
    form = soup(client.get(href)).find("form", id="reply")
    token = form.find("input", attrs={"name": "csrf_token"})["value"]
    r = client.post(form["action"], data={"body": "   ", "csrf_token": token})
    assert r.status_code == 400
    assert "The reply is empty." in soup(r).select_one("#reply-error").get_text()


def test_search_page_groups_by_thread_and_highlights(client: TestClient) -> None:
    """Results are threads with marked snippets and subjects, linking to the message."""
    page = soup(client.get("/search", params={"q": "rollout"}))
    results = page.select(".results > li")
    assert len(results) == 1
    assert "3 matching messages" in results[0].get_text(" ", strip=True)
    assert results[0].select("mark")
    assert results[0].h2.a["href"].startswith("/t/")
    page = soup(client.get("/search", params={"q": "dashboard from:carla has:attachment"}))
    assert [h.get_text() for h in page.select(".results h2")] == ["Design review: new dashboard"]


@pytest.mark.parametrize(
    "q",
    ['"', '""', "NEAR(", "a OR", "-", "\x00", "ü*", "'", "before:xyz", "(((", "from:", "x" * 3000],
)
def test_search_never_errors(client: TestClient, q: str) -> None:
    """Any query returns a page, with a notice when part of it could not be read."""
    response = client.get("/search", params={"q": q})
    assert response.status_code == 200
    if q in ("before:xyz", "from:", "x" * 3000):
        assert soup(response).select(".notice")


def test_security_headers_on_every_page(client: TestClient) -> None:
    """A strict CSP and nosniff on pages and on errors."""
    for path in ("/", "/c/eng", "/nope", "/t/999", "/search?q=a"):
        response = client.get(path)
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/c/missing",
        "/t/999999",
        "/t/abc",
        "/c/eng?page=0",
        "/c/eng?page=zz",
        "/a/999/x.pdf",
        "/m/999/html",
        "/search?q=" + "x" * 30_000,
    ],
)
def test_bad_addresses_get_a_clear_page(client: TestClient, path: str) -> None:
    """Unknown or malformed addresses answer 404/400 with an explanatory page."""
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert "text/html" in response.headers["content-type"]
    assert soup(response).h1.get_text()


# --- the JSON API ---------------------------------------------------------------------------


def test_api_reads_match_the_pages(client: TestClient) -> None:
    """Communities, a community's threads, a thread, a person and search, as JSON."""
    communities = client.get("/api/communities").json()
    assert [c["slug"] for c in communities] == ["eng", "hr"]
    threads = client.get("/api/communities/eng/threads").json()
    assert [t["subject"] for t in threads["threads"]][-1] == "Rollout plan"
    assert threads["total"] == 3
    rollout = threads["threads"][-1]
    assert rollout["original_recipients"] == 3
    assert rollout["started_by_email"] is True
    thread = client.get(f"/api/threads/{rollout['id']}").json()
    assert [m["depth"] for m in thread["messages"]] == [0, 1, 2]
    assert thread["messages"][1]["from"]["address"] == "p1@example.com"
    assert thread["messages"][1]["parent_id"] == thread["messages"][0]["id"]
    found = client.get("/api/search", params={"q": "rollout from:p1"}).json()
    assert [r["thread_id"] for r in found["results"]] == [rollout["id"]]
    assert "<mark>" in found["results"][0]["snippet_html"]
    person = client.get("/api/people/p1@example.com").json()
    assert person["total"] == 1
    filtered = client.get("/api/communities/eng/threads", params={"attachments": "1"}).json()
    assert [t["subject"] for t in filtered["threads"]] == ["Design review: new dashboard"]


def test_api_reply_and_errors_are_json(client: TestClient) -> None:
    """POST a reply; refusals and unknown threads answer JSON with a reason."""
    tid = client.get("/api/communities/eng/threads").json()["threads"][-1]["id"]
    token = soup(client.get(f"/t/{tid}")).find("input", attrs={"name": "csrf_token"})["value"]
    headers = {"X-CSRF-Token": token}
    r = client.post(f"/api/threads/{tid}/replies", json={"body": "From the API."}, headers=headers)
    assert r.status_code == 201
    assert r.json()["url"].startswith(f"/t/{tid}#m")
    texts = [m["visible_text"] for m in client.get(f"/api/threads/{tid}").json()["messages"]]
    assert "From the API." in texts[-1]
    bad = client.post(f"/api/threads/{tid}/replies", json={"body": "  "}, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["detail"] == "The reply is empty."
    missing = client.get("/api/threads/999999")
    assert missing.status_code == 404
    assert "detail" in missing.json()
    assert client.post(f"/api/threads/{tid}/replies", json={}, headers=headers).status_code == 400


def test_openapi_schema_lists_the_api(client: TestClient) -> None:
    """The schema is served at /openapi.json and /api/openapi.json."""
    for path in ("/openapi.json", "/api/openapi.json"):
        schema = client.get(path).json()
        assert "/api/threads/{thread_id}/replies" in schema["paths"]
        assert "/api/search" in schema["paths"]


def test_human_sizes() -> None:
    """Sizes read as people write them."""
    assert reading.human_size(512) == "512 bytes"
    assert reading.human_size(1_234_567) == "1.2 MB"


def test_follow_and_mute_buttons_post_the_mail_choice(client: TestClient) -> None:
    """A reader follows a thread by e-mail, then mutes it, from the thread page."""
    href = thread_href(client, "Rollout plan")
    form = soup(client.get(href)).find("form", class_="mail-choice")
    token = form.find("input", attrs={"name": "csrf_token"})["value"]
    assert [b["value"] for b in form.find_all("button")] == ["watch", "mute"]
    r = client.post(form["action"], data={"action": "watch", "csrf_token": token})
    assert r.status_code == 200
    page = soup(r)
    assert "you follow it by e-mail" in page.find("form", class_="mail-choice").get_text()
    buttons = [b["value"] for b in page.find("form", class_="mail-choice").find_all("button")]
    assert buttons == ["mute", "default"]


def test_invites_forwards_and_impersonating_names_are_shown(app_core: Core) -> None:
    """A calendar invite, a forwarded message and a display name claiming another address."""
    data = MAIL_SAMPLES
    deliver(app_core, (data / "0041-outlook-meeting-request.eml").read_bytes())
    forward = EmailMessage()
    forward["From"] = "Ana Lima <ana@example.com>"
    forward["To"] = "eng@lists.example.com"
    forward["Subject"] = "Fwd: supplier contract"
    forward["Message-ID"] = "<fwd@example.com>"
    forward.set_content("See below.\n")
    inner = message_from_bytes(
        make_mail(
            "Supplier contract",
            sender="Vera Stone <vera@example.com>",
            msgid="in@example.com",
            body="The contract renews in May.\n",
        ),
        policy=policy.default,
    )
    forward.add_attachment(inner)
    deliver(
        app_core,
        bytes(forward),
        make_mail(
            "Urgent transfer",
            sender='"boss@example.com" <mallory@example.net>',
            msgid="imp@example.com",
            body="Please wire the money today.\n",
        ),
    )
    c = client_for(app_core)
    invite = soup(c.get(thread_href(c, "Invitation: Quarterly planning")))
    event = invite.select_one(".event")
    assert event is not None
    assert "Quarterly planning" in event.get_text()
    forwarded = soup(c.get(thread_href(c, "supplier contract"))).select_one("details.forwarded")
    assert forwarded is not None
    assert "Supplier contract" in forwarded.summary.get_text()
    assert "The contract renews in May." in forwarded.get_text()
    warning = soup(c.get(thread_href(c, "Urgent transfer"))).select_one(".warning")
    assert warning is not None
    assert "boss@example.com" in warning.get_text()
    assert "mallory@example.net" in warning.get_text()
