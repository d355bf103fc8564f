"""A long thread's page: folded first view, pages, the whole, tree or flat, capped nesting.

World: a 200-message thread in an org community, each message answering the
one before (so the reply tree is 199 levels deep), from five people, one of
whom writes from two addresses under the same name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from bridge.core import Core, open_core
from tests.support.env import settings_for
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from threads.access import Viewer
from web.app import create_app
from web.conversation import FOLD_OVER, MAX_INDENT, NEWEST_SHOWN, PAGE_SIZE
from web.viewer import current_viewer

READER = Viewer(email="reader@example.com", org=True)
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SENDERS = [
    "Ana Lima <ana@example.com>",
    "Ben Ortiz <ben@example.com>",
    "Carla Diaz <carla@example.com>",
    "Dan Roe <dan@example.com>",
    "Ana Lima <ana.lima@example.com>",  # the same person, another address
]
TOTAL = 200


def chain(total: int, prefix: str = "long") -> list[bytes]:
    out = []
    for i in range(total):
        refs = " ".join(f"<{prefix}{j}@example.com>" for j in range(max(0, i - 20), i))
        out.append(
            make_mail(
                ("Re: " if i else "") + "Storage migration",
                sender=SENDERS[i % len(SENDERS)],
                msgid=f"{prefix}{i}@example.com",
                in_reply_to=f"{prefix}{i - 1}@example.com" if i else None,
                references=refs or None,
                date=BASE + timedelta(minutes=10 * i),
                body=f"Message number {i} of the migration thread.\n",
            )
        )
    return out


@pytest.fixture(scope="module")
def long_core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Core]:
    core = open_core(settings_for(tmp_path_factory.mktemp("long") / "data"))
    create_community(core)
    deliver(core, *chain(TOTAL))
    yield core
    core.close()


@pytest.fixture
def client(long_core: Core) -> TestClient:
    app = create_app(long_core)
    app.dependency_overrides[current_viewer] = lambda: READER
    return TestClient(app, raise_server_exceptions=False)


def thread_url(client: TestClient) -> str:
    page = BeautifulSoup(client.get("/c/eng").text, "html.parser")
    link = page.find("a", string="Storage migration")
    assert link is not None
    return str(link["href"])


def shown(html: str) -> list[int]:
    """The message numbers on a page, in page order."""
    return [int(n) for n in re.findall(r"Message number (\d+) of", html)]


def test_a_long_thread_opens_with_its_first_and_newest_messages(client: TestClient) -> None:
    response = client.get(thread_url(client))
    assert response.status_code == 200
    assert shown(response.text) == [0, *range(TOTAL - NEWEST_SHOWN, TOTAL)]
    page = BeautifulSoup(response.text, "html.parser")
    fold = page.select_one(".conversation .fold a")
    assert fold is not None
    hidden = TOTAL - 1 - NEWEST_SHOWN
    assert fold.get_text() == f"Show {hidden} earlier messages"
    # The fold is a plain link (no script needed) to the first page of the whole thread.
    assert str(fold["href"]).endswith("?page=1")
    assert page.select_one("p.meta") is not None
    assert f"{TOTAL} messages" in page.select_one("p.meta").get_text()


def test_pages_and_the_whole_thread_show_every_message_once(client: TestClient) -> None:
    url = thread_url(client)
    seen: list[int] = []
    for number in range(1, TOTAL // PAGE_SIZE + 1):
        seen += shown(client.get(f"{url}?page={number}").text)
    assert seen == list(range(TOTAL))
    assert shown(client.get(f"{url}?all=1").text) == list(range(TOTAL))
    # A page past the end shows the last one rather than nothing.
    assert shown(client.get(f"{url}?page=99").text) == list(range(TOTAL - PAGE_SIZE, TOTAL))


def test_nesting_is_capped_and_deep_replies_say_whom_they_answer(client: TestClient) -> None:
    page = BeautifulSoup(client.get(f"{thread_url(client)}?page=1").text, "html.parser")
    depths = {
        int(c.removeprefix("depth-"))
        for li in page.select(".conversation > li.message")
        for c in li.get("class", [])
        if c.startswith("depth-")
    }
    assert max(depths) == MAX_INDENT
    deep = page.select(".conversation > li.message")[MAX_INDENT + 3]
    assert "replying to" in deep.get_text()


def test_the_flat_view_is_by_date_and_the_choice_is_kept(long_core: Core) -> None:
    # A thread whose tree order differs from date order: a late reply to the root.
    raws = [
        make_mail("Tree or date", msgid="t0@example.com", date=BASE, body="root text\n"),
        make_mail(
            "Re: Tree or date",
            msgid="t1@example.com",
            in_reply_to="t0@example.com",
            date=BASE + timedelta(hours=1),
            body="first answer\n",
        ),
        make_mail(
            "Re: Tree or date",
            msgid="t2@example.com",
            in_reply_to="t1@example.com",
            date=BASE + timedelta(hours=3),
            body="answer to the answer\n",
        ),
        make_mail(
            "Re: Tree or date",
            msgid="t3@example.com",
            in_reply_to="t0@example.com",
            date=BASE + timedelta(hours=2),
            body="second answer to the root\n",
        ),
    ]
    deliver(long_core, *raws)
    app = create_app(long_core)
    app.dependency_overrides[current_viewer] = lambda: READER
    client = TestClient(app, raise_server_exceptions=False)
    link = BeautifulSoup(client.get("/c/eng").text, "html.parser").find("a", string="Tree or date")
    assert link is not None
    url = str(link["href"])
    order = ["root text", "first answer", "answer to the answer", "second answer to the root"]

    def texts(html: str) -> list[str]:
        page = BeautifulSoup(html, "html.parser")
        return [b.get_text().strip() for b in page.select(".message .blocks")]

    assert texts(client.get(url).text) == order  # the tree: replies under what they answer
    flat = client.get(f"{url}?view=flat")
    assert texts(flat.text) == [order[0], order[1], order[3], order[2]]
    assert client.cookies.get("thread_view") == "flat"
    # The next visit, without asking, is flat again; asking for the tree switches back.
    assert texts(client.get(url).text) == [order[0], order[1], order[3], order[2]]
    assert texts(client.get(f"{url}?view=tree").text) == order
    assert texts(client.get(url).text) == order
    # Anything else is the tree and changes nothing.
    client.get(f"{url}?view=sideways")
    assert client.cookies.get("thread_view") == "tree"


def test_participants_are_listed_once_per_person(client: TestClient) -> None:
    page = BeautifulSoup(client.get(thread_url(client)).text, "html.parser")
    listed = page.select_one(".participants p")
    assert listed is not None
    names = [a.get_text() for a in listed.select("a")]
    assert names == ["Ana Lima", "Ben Ortiz", "Carla Diaz", "Dan Roe"]


def test_a_short_thread_is_not_folded(tmp_path: Path) -> None:
    core = open_core(settings_for(tmp_path / "data"))
    try:
        create_community(core)
        deliver(core, *chain(FOLD_OVER, prefix="short"))
        app = create_app(core)
        app.dependency_overrides[current_viewer] = lambda: READER
        client = TestClient(app, raise_server_exceptions=False)
        html = client.get(thread_url(client)).text
        assert shown(html) == list(range(FOLD_OVER))
        assert "earlier message" not in html
    finally:
        core.close()
