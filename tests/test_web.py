"""Web pages in-process: what they show, and that odd input gets a page, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from bridge.core import Core
from tests.conftest import conversation, make_mail
from tests.factories import create_community, deliver
from web.app import create_app


@pytest.fixture
def client(core: Core) -> TestClient:
    create_community(core)
    deliver(core, *conversation(3))
    deliver(
        core,
        make_mail(
            "<script>alert(1)</script>",
            msgid="x@example.com",
            date=datetime(2026, 3, 5, tzinfo=UTC),
            body="<b>bold</b> & <img src=x onerror=alert(1)>\n",
        ),
    )
    return TestClient(create_app(core), raise_server_exceptions=False)


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def test_home_lists_communities_with_activity(client: TestClient) -> None:
    """The home page links each community and shows its counts."""
    page = soup(client.get("/"))
    link = page.find("a", href="/c/eng")
    assert link
    assert link.text == "Engineering"
    assert "2 threads · 4 messages" in page.get_text(" ", strip=True)


def test_community_lists_threads_by_last_activity(client: TestClient) -> None:
    """Threads show subject, count and the original cc audience."""
    page = soup(client.get("/c/eng"))
    rows = page.select(".thread-row")
    titles = [r.h2.get_text(strip=True) for r in rows]
    assert titles == ["<script>alert(1)</script>", "Rollout plan"]
    assert "originally cc'd to 3 people" in rows[1].get_text(" ", strip=True)


def test_thread_reads_as_a_conversation_with_escaped_text(client: TestClient) -> None:
    """Messages in order with reply depth; sender text is escaped, never markup."""
    response = client.get("/c/eng")
    thread_href = soup(response).find("a", string="Rollout plan")["href"]
    page = soup(client.get(thread_href))
    bodies = [b.get_text() for b in page.select(".message > article > .body")]
    assert [b.strip() for b in bodies] == [
        f"Message number {i} about the rollout." for i in range(3)
    ]
    depths = [li["class"][1] for li in page.select("li.message")]
    assert depths == ["depth-0", "depth-1", "depth-2"]
    other = soup(client.get("/c/eng")).find("a", string="<script>alert(1)</script>")["href"]
    raw = client.get(other).text
    assert "<script>alert(1)</script>" not in raw
    assert "&lt;script&gt;" in raw
    assert "<img src=x" not in raw


def test_security_headers_on_every_page(client: TestClient) -> None:
    """A strict CSP and nosniff on pages and on errors."""
    for path in ("/", "/c/eng", "/nope", "/t/999"):
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
        "/search?q=" + "x" * 600,
    ],
)
def test_bad_addresses_get_a_clear_page(client: TestClient, path: str) -> None:
    """Unknown or malformed addresses answer 404/400 with an explanatory page."""
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert "text/html" in response.headers["content-type"]
    assert soup(response).h1.get_text()


@pytest.mark.parametrize("q", ['"', '""', "NEAR(", "a OR", "-", "\x00", "ü*", "'", "rollout"])
def test_search_never_errors(client: TestClient, q: str) -> None:
    """Any query returns a page; a real word finds its thread with a highlighted snippet."""
    response = client.get("/search", params={"q": q})
    assert response.status_code == 200
    if q == "rollout":
        assert soup(response).select(".results mark")
