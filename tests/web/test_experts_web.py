"""Who knows X on the web: /experts, /api/experts, the /me opt-out and topics on person pages.

The world is tests/support/experts.py: zswap threads in `eng` (org), Mia's in
`secret` (members only), Vic an outsider, a CI robot, Hal the busiest poster.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from bridge.core import Core, open_core
from tests.support.csrf_checks import form_token
from tests.support.env import settings_for
from tests.support.experts import BO, MIA, ORG, ROBOT, VIC, build_world
from tests.support.sessions import sign_in
from threads.models import Community, Thread
from web.app import create_app

READER = "reader@example.com"


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    c = open_core(settings_for(tmp_path / "d", org_domains=ORG))
    build_world(c)
    yield c
    c.close()


def client_as(core: Core, email: str | None) -> TestClient:
    client = TestClient(create_app(core), follow_redirects=False)
    if email:
        sign_in(client, core, email)
    return client


def listed(page: str) -> list[str]:
    soup = BeautifulSoup(page, "html.parser")
    return [h.get_text(strip=True) for h in soup.select("ol.experts h2")]


def secret_threads(core: Core) -> set[int]:
    with core.engine.connect() as conn:
        return set(
            conn.execute(
                select(Thread.id)
                .join(Community, Community.id == Thread.community_id)
                .where(Community.slug == "secret")
            ).scalars()
        )


def test_the_page_lists_people_with_the_threads_that_earned_it(core: Core) -> None:
    """An org reader asks about zswap: Bo first, linked to his page; outsiders by name only."""
    page = client_as(core, READER).get("/experts", params={"q": "zswap"})
    assert page.status_code == 200
    names = listed(page.text)
    assert names[0] == "Bo Berg"
    assert "Vic Vendor" in names
    soup = BeautifulSoup(page.text, "html.parser")
    assert soup.select_one("ol.experts h2 a")["href"] == "/p/bo%40example.com"  # type: ignore[index]
    assert "zswap pool size" in page.text
    for hidden in (VIC, ROBOT, "CI Robot", "Mia Hidden", MIA):
        assert hidden not in page.text


def test_a_private_communitys_expertise_is_not_shown_to_others(core: Core) -> None:
    """Mia's work in `secret` lists her for herself, and for nobody outside it: no name, no
    thread link, and the community itself answers like a missing one."""
    secret = secret_threads(core)
    reader = client_as(core, READER)
    for path in ("/experts", "/api/experts"):
        body = reader.get(path, params={"q": "zswap zsmalloc"}).text
        assert "Mia" not in body
        for tid in secret:
            assert f'/t/{tid}"' not in body
    api = reader.get("/api/experts", params={"q": "zswap", "limit": 50}).json()
    assert not {t for p in api["people"] for t in p["threads"]} & secret
    assert reader.get("/experts", params={"q": "zswap", "community": "secret"}).status_code == 404
    anonymous = client_as(core, None).get("/api/experts", params={"q": "zswap"}).json()
    assert anonymous["people"] == []
    mia = client_as(core, MIA).get("/experts", params={"q": "zswap", "community": "secret"})
    assert listed(mia.text) == ["Mia Hidden"]


def test_a_private_members_person_page_shows_no_topics_to_others(core: Core) -> None:
    """Mia wrote only in `secret`: to an org reader her page does not exist, topics included."""
    page = client_as(core, READER).get(f"/p/{MIA}")
    assert page.status_code == 404
    assert "zswap" not in page.text
    own = client_as(core, MIA).get(f"/p/{MIA}")
    assert "Writes about" in own.text


def test_the_api_answers_the_cli_shape(core: Core) -> None:
    """query, people with name, address only where visible, score, threads, last_active."""
    found = client_as(core, READER).get("/api/experts", params={"q": "zswap pool"}).json()
    assert found["query"] == "zswap pool"
    first = found["people"][0]
    assert set(first) == {"name", "address", "score", "threads", "last_active"}
    assert first["address"] == BO
    vic = [p for p in found["people"] if p["name"] == "Vic Vendor"]
    assert vic
    assert vic[0]["address"] is None
    scores = [p["score"] for p in found["people"]]
    assert scores == sorted(scores, reverse=True)


def test_a_person_opts_out_on_me_and_back_in(core: Core) -> None:
    """Bo asks not to be listed: gone from /experts and his topics; listed again on request."""
    bo = client_as(core, BO)
    me = bo.get("/me")
    assert "Do not list me" in me.text
    done = bo.post("/me/experts", data={"listed": "0", "csrf_token": form_token(bo, "/me")})
    assert done.status_code == 303
    assert "List me again" in bo.get("/me").text
    reader = client_as(core, READER)
    assert "Bo Berg" not in listed(reader.get("/experts", params={"q": "zswap"}).text)
    assert "Writes about" not in reader.get(f"/p/{BO}").text
    bo.post("/me/experts", data={"listed": "1", "csrf_token": form_token(bo, "/me")})
    assert listed(reader.get("/experts", params={"q": "zswap"}).text)[0] == "Bo Berg"


def test_the_opt_out_needs_a_login_and_the_form_token(core: Core) -> None:
    """Nobody can opt someone else out: anonymous is sent to log in, a forged POST refused."""
    anonymous = client_as(core, None)
    assert anonymous.post("/me/experts", data={"listed": "0"}).status_code in (303, 403)
    bo = client_as(core, BO)
    assert bo.post("/me/experts", data={"listed": "0"}).status_code == 403
    assert listed(client_as(core, READER).get("/experts", params={"q": "zswap"}).text)[0] == (
        "Bo Berg"
    )


def test_the_person_page_shows_topics_from_their_own_words(core: Core) -> None:
    """Bo's page names zswap and the readable threads where he wrote about it."""
    page = client_as(core, READER).get(f"/p/{BO}")
    soup = BeautifulSoup(page.text, "html.parser")
    section = soup.find("section", attrs={"aria-labelledby": "topics-title"})
    assert section is not None
    assert "zswap" in [a.get_text() for a in section.select("ul.topics a")]
    assert "zswap pool size" in section.get_text()


def test_search_results_link_to_who_knows(core: Core) -> None:
    """The search page asks the same question of people."""
    page = client_as(core, READER).get("/search", params={"q": "zswap"})
    assert 'href="/experts?q=zswap"' in page.text


def test_empty_and_odd_questions_get_a_page_not_an_error(core: Core) -> None:
    """Stop words, operators and markup are no topic; the page says so."""
    reader = client_as(core, READER)
    for q in ("", "who is the", "from:bo", "<script>alert(1)</script>", "zzzunknownword"):
        page = reader.get("/experts", params={"q": q})
        assert page.status_code == 200
        assert "<script>alert" not in page.text
    assert reader.get("/api/experts", params={"q": "x" * 1001}).status_code == 400
