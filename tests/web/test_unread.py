"""What's new: unread counts on thread lists, threads opening at the first unread, mark all read.

World: an org community "eng" with a three-message thread and a one-message thread,
a 30-message thread (longer than the fold), and a members-only community "hr" the
reader is not in. Ana reads on the web, logged in; Bob writes by mail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from bridge.core import Core, open_core
from tests.support.env import settings_for
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from tests.support.sessions import sign_in
from threads import unread
from threads.db import writer
from threads.models import Message, Person, Thread
from threads.withdraw import withdraw_message
from web.app import create_app
from web.conversation import FOLD_OVER, PAGE_SIZE

ANA = "ana@example.com"
BOB = "Bob Stone <bob@example.com>"
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def mail(subject: str, n: int, prefix: str, **kw: Any) -> bytes:
    return make_mail(
        ("Re: " if n else "") + subject,
        sender=BOB,
        msgid=f"{prefix}{n}@example.com",
        in_reply_to=f"{prefix}{n - 1}@example.com" if n else None,
        date=BASE + timedelta(minutes=n),
        body=f"Message {n} about {subject}.\n",
        **kw,
    )


def thread_id(core: Core, subject: str) -> int:
    with core.engine.connect() as conn:
        found = conn.execute(select(Thread.id).where(Thread.subject == subject)).scalar()
    assert found is not None
    return int(found)


def arrivals(core: Core, tid: int) -> list[tuple[int, int]]:
    """(pk, raw id) of a thread's messages in the order they arrived."""
    with core.engine.connect() as conn:
        rows = conn.execute(
            select(Message.id, Message.raw_id)
            .where(Message.thread_id == tid, Message.placeholder.is_(False))
            .order_by(Message.raw_id)
        ).tuples()
        return [(int(pk), int(raw or 0)) for pk, raw in rows]


def message_pks(core: Core, tid: int) -> list[int]:
    return [pk for pk, _ in arrivals(core, tid)]


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    core = open_core(settings_for(tmp_path / "data", org_domains=["example.com"]))
    create_community(core)
    create_community(
        core,
        slug="hr",
        name="People team",
        visibility="members",
        addresses=["hr@lists.example.com"],
    )
    deliver(core, *(mail("Budget review", n, "budget") for n in range(3)))
    deliver(core, mail("Offsite", 0, "offsite"))
    deliver(core, *(mail("Long one", n, "long") for n in range(FOLD_OVER + 10)))
    deliver(core, *(mail("Salaries", n, "pay", to="hr@lists.example.com") for n in range(2)))
    yield core
    core.close()


@pytest.fixture
def client(core: Core) -> TestClient:
    client = TestClient(create_app(core), raise_server_exceptions=False)
    sign_in(client, core, ANA)
    return client


def rows(client: TestClient, path: str = "/c/eng") -> dict[str, BeautifulSoup]:
    page = BeautifulSoup(client.get(path).text, "html.parser")
    return {li.h2.a.get_text(strip=True): li for li in page.select("li.thread-row")}


def unread_of(client: TestClient, path: str = "/c/eng") -> dict[str, str | None]:
    return {subject: li.get("data-unread") for subject, li in rows(client, path).items()}


def test_never_opened_threads_count_every_message_with_a_badge(client: TestClient) -> None:
    """A reader who opened nothing sees each thread's whole count, as data and as a badge."""
    found = rows(client)
    assert unread_of(client) == {"Budget review": "3", "Offsite": "1", "Long one": "30"}
    assert found["Budget review"].select_one(".badge.new").get_text() == "3 new"


def test_opening_a_thread_marks_it_read_at_once_and_after_the_write(
    client: TestClient, core: Core
) -> None:
    """The next page shows the opened thread read, before and after the background write."""
    tid = thread_id(core, "Budget review")
    assert client.get(f"/t/{tid}").status_code == 200
    assert unread_of(client)["Budget review"] == "0"  # still pending in memory
    assert rows(client)["Budget review"].select_one(".badge.new") is None  # 0 shows nothing
    client.app.state.seen.flush()  # type: ignore[attr-defined]
    assert unread_of(client)["Budget review"] == "0"  # now stored
    with core.engine.connect() as conn:
        person = conn.execute(select(Person.id).where(Person.email == ANA)).scalar_one()
        assert unread.seen_mark(conn, person, tid) == arrivals(core, tid)[-1][1]


def test_a_new_message_counts_and_the_thread_opens_at_it(client: TestClient, core: Core) -> None:
    """After a reply arrives, the thread counts 1 and opens with focus on that reply."""
    tid = thread_id(core, "Budget review")
    first = BeautifulSoup(client.get(f"/t/{tid}").text, "html.parser")
    assert first.select_one("[autofocus]") is None  # first visit: opens at the top
    deliver(core, mail("Budget review", 3, "budget"))
    assert unread_of(client)["Budget review"] == "1"
    newest = message_pks(core, tid)[-1]
    page = BeautifulSoup(client.get(f"/t/{tid}").text, "html.parser")
    focused = page.select("[autofocus]")
    assert [li["id"] for li in focused] == [f"m{newest}"]
    jump = page.find("a", string="Jump to first unread")
    assert jump is not None
    assert jump["href"] == f"#m{newest}"
    assert unread_of(client)["Budget review"] == "0"


def test_first_unread_behind_the_fold_opens_the_page_that_holds_it(
    client: TestClient, core: Core
) -> None:
    """A long thread read up to its 5th message opens on the page with the 6th, focused."""
    tid = thread_id(core, "Long one")
    pks = message_pks(core, tid)
    with writer(core.engine).begin() as conn:
        person = conn.execute(select(Person.id).where(Person.email == ANA)).scalar_one()
        conn.execute(
            unread.SEEN.insert().values(
                person_id=person, thread_id=tid, seen_up_to=arrivals(core, tid)[4][1], seen_at=BASE
            )
        )
    assert unread_of(client)["Long one"] == str(len(pks) - 5)
    folded = BeautifulSoup(client.get(f"/t/{tid}?all=0").text, "html.parser")
    target = folded.find(id=f"m{pks[5]}")
    assert target is not None
    assert target.has_attr("autofocus")
    assert folded.select_one("li.fold") is None  # not the folded view: the page holding it
    assert folded.find("a", string="Back to the short view") is not None  # the paged view


def test_withdrawn_messages_do_not_count(client: TestClient, core: Core) -> None:
    """A message its author withdrew is not news to anyone."""
    tid = thread_id(core, "Budget review")
    client.get(f"/t/{tid}")
    deliver(core, mail("Budget review", 3, "budget"), mail("Budget review", 4, "budget"))
    assert unread_of(client)["Budget review"] == "2"
    with writer(core.engine).begin() as conn:
        withdraw_message(conn, message_pks(core, tid)[-1], actor="bob@example.com")
    assert unread_of(client)["Budget review"] == "1"


def test_anonymous_readers_see_no_counts(core: Core) -> None:
    """On a public community an anonymous reader gets the list without any unread data."""
    create_community(
        core, slug="pub", name="Open", visibility="public", addresses=["pub@l.example.com"]
    )
    deliver(core, mail("Announce", 0, "pub", to="pub@l.example.com"))
    anonymous = TestClient(create_app(core))
    page = BeautifulSoup(anonymous.get("/c/pub").text, "html.parser")
    assert page.select("li.thread-row")
    assert page.select("[data-unread]") == []
    assert page.select(".badge.new") == []
    assert page.find("button", string="Mark all read") is None
    refused = anonymous.post("/c/pub/read", headers={"X-CSRF-Token": "x"}, follow_redirects=False)
    assert refused.status_code in (403, 404)


def test_counts_only_readable_communities(client: TestClient, core: Core) -> None:
    """Thread ids of a community the reader may not read count nothing, even asked directly."""
    hidden = thread_id(core, "Salaries")
    shown = thread_id(core, "Offsite")
    with core.engine.connect() as conn:
        person = int(conn.execute(select(Person.id).where(Person.email == ANA)).scalar_one())
        eng = int(conn.execute(select(Thread.community_id).where(Thread.id == shown)).scalar_one())
        counts = unread.unread_counts(conn, person, [hidden, shown], communities=[eng])
    assert counts == {shown: 1}
    assert client.get("/c/hr").status_code == 404
    token = BeautifulSoup(client.get("/c/eng").text, "html.parser").find(
        "input", attrs={"name": "csrf_token"}
    )["value"]
    assert client.post("/c/hr/read", data={"csrf_token": token}).status_code == 404


def test_mark_all_read_needs_csrf_and_clears_every_thread(client: TestClient) -> None:
    """The button posts with its token; without one nothing changes."""
    assert client.post("/c/eng/read", follow_redirects=False).status_code == 403
    assert set(unread_of(client).values()) != {"0"}
    page = BeautifulSoup(client.get("/c/eng").text, "html.parser")
    form = page.find("form", class_="mark-read")
    token = form.find("input", attrs={"name": "csrf_token"})["value"]
    done = client.post(form["action"], data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    after = client.get(done.headers["location"])
    assert "Every thread here is marked read." in after.text
    assert set(unread_of(client).values()) == {"0"}


def test_home_page_recent_threads_carry_counts(client: TestClient) -> None:
    """The home page's recent threads show the same counts as the community page."""
    page = BeautifulSoup(client.get("/").text, "html.parser")
    recent = {li.a.get_text(strip=True): li["data-unread"] for li in page.select("ul.recent li")}
    assert recent["Offsite"] == "1"
    assert recent["Long one"] == "30"


def test_a_page_of_fifty_threads_is_counted_in_one_query(core: Core) -> None:
    """Counting unread for fifty threads runs one statement, whatever was seen."""
    deliver(core, *(mail(f"Topic {i}", 0, f"topic{i}-") for i in range(47)))
    with core.engine.connect() as conn:
        ids = [int(t) for t in conn.execute(select(Thread.id)).scalars()]
        eng = int(
            conn.execute(
                select(Thread.community_id).where(Thread.subject == "Offsite")
            ).scalar_one()
        )
        statements: list[str] = []
        event.listen(conn, "before_cursor_execute", lambda *a: statements.append(a[2]))
        counts = unread.unread_counts(conn, 1, ids, communities=[eng], pending={ids[0]: 10**9})
    assert len(ids) >= 50
    assert len(statements) == 1
    # 47 topics and 3 threads in eng; the one overlaid as read and hr's thread count nothing.
    assert ids[0] not in counts
    assert len(counts) == 49


def test_search_results_carry_counts(client: TestClient, core: Core) -> None:
    """Search results, grouped by thread, show each thread's unread count."""
    client.get(f"/t/{thread_id(core, 'Offsite')}")
    page = BeautifulSoup(client.get("/search?q=message").text, "html.parser")
    found = {li.h2.a.get_text(strip=True): li["data-unread"] for li in page.select("ol.results li")}
    assert found["Offsite"] == "0"
    assert found["Budget review"] == "3"
    assert "Salaries" not in found


def test_a_page_without_the_first_unread_links_to_the_page_with_it(
    client: TestClient, core: Core
) -> None:
    """Asked for another page, the thread's jump link leads to the page holding the news."""
    tid = thread_id(core, "Long one")
    total = FOLD_OVER + 10
    deliver(core, *(mail("Long one", n, "long") for n in range(total, PAGE_SIZE + 5)))
    client.get(f"/t/{tid}")
    deliver(core, mail("Long one", PAGE_SIZE + 5, "long"))  # the 56th: on page 2
    newest = message_pks(core, tid)[-1]
    page = BeautifulSoup(client.get(f"/t/{tid}?page=1").text, "html.parser")
    jump = page.find("a", string="Jump to first unread")
    assert jump is not None
    assert jump["href"] == f"/t/{tid}?page=2#m{newest}"
    assert page.select("[autofocus]") == []


def test_a_parent_arriving_after_its_reply_is_new(client: TestClient, core: Core) -> None:
    """Two replies came first, the first leaving a placeholder for their parent; when the
    parent arrives it fills that row, older than the second reply's, and still counts as
    new and is where the thread opens."""
    reply = make_mail(
        "Re: Late start",
        sender=BOB,
        msgid="late1@example.com",
        in_reply_to="late0@example.com",
        body="Answering a message you have not seen yet.\n",
    )
    answer = make_mail(
        "Re: Late start",
        sender=BOB,
        msgid="late2@example.com",
        in_reply_to="late1@example.com",
        references="<late0@example.com> <late1@example.com>",
        body="And a second reply, filed after the placeholder.\n",
    )
    deliver(core, reply, answer)
    page = BeautifulSoup(client.get("/c/eng").text, "html.parser")
    link = page.find("a", string=re.compile("Late start"))
    assert link is not None
    path = str(link["href"])
    client.get(path)
    deliver(core, make_mail("Late start", sender=BOB, msgid="late0@example.com", body="Opening.\n"))
    assert unread_of(client)[link.get_text(strip=True)] == "1"
    opened = BeautifulSoup(client.get(path).text, "html.parser")
    focused = opened.select("[autofocus]")
    assert len(focused) == 1
    assert "Opening." in focused[0].get_text()
