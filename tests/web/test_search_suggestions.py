""" "Did you mean" on the search page and the API: offered, and never from what the reader
may not read."""

from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from bridge.core import Core
from tests.support.search_world import public_and_private
from threads.access import ANONYMOUS, Viewer
from web.app import create_app
from web.viewer import current_viewer

ADMIN = Viewer(email="ana@example.com", is_admin=True)


def client_as(core: Core, viewer: Viewer) -> TestClient:
    app = create_app(core)
    app.dependency_overrides[current_viewer] = lambda: viewer
    return TestClient(app, raise_server_exceptions=False)


def test_a_near_word_the_reader_may_read_is_offered_as_a_link(core: Core) -> None:
    public_and_private(core)
    page = client_as(core, ADMIN).get("/search", params={"q": "zebrafsh"})
    assert page.status_code == 200
    link = BeautifulSoup(page.text, "html.parser").select_one(".suggestion a")
    assert link is not None
    assert link.get_text() == "zebrafish"
    assert link["href"] == "/search?q=zebrafish"
    api = client_as(core, ADMIN).get("/api/search", params={"q": "sandwches"}).json()
    assert api["did_you_mean"] == "sandwiches"


def test_no_suggestion_names_a_word_of_a_community_the_reader_cannot_read(core: Core) -> None:
    public_and_private(core)
    outsider = client_as(core, ANONYMOUS)
    page = outsider.get("/search", params={"q": "zebrafsh"})
    assert page.status_code == 200
    assert "zebrafish" not in page.text
    assert BeautifulSoup(page.text, "html.parser").select_one(".suggestion") is None
    assert outsider.get("/api/search", params={"q": "zebrafsh"}).json()["did_you_mean"] is None
    assert outsider.get("/api/search", params={"q": "sandwches"}).json()["did_you_mean"] == (
        "sandwiches"
    )
