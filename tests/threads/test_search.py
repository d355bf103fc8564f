"""Search: words and phrases, ranking, community filter, the ranking window, odd input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.core import Core
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from threads import search

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def find(core: Core, q: str, **kw) -> list[str]:
    with core.engine.connect() as conn:
        return [h.subject for h in search.search(conn, search.parse_query(q), **kw)]


@pytest.fixture
def archive(core: Core) -> Core:
    create_community(core)
    create_community(core, slug="hr", name="HR", addresses=["hr@lists.example.com"])
    deliver(
        core,
        make_mail("Quarterly budget", msgid="a@example.com", body="Numbers for the board.\n"),
        make_mail(
            "Lunch",
            msgid="b@example.com",
            body="The budget for lunch is fine.\n",
            date=DAY + timedelta(days=1),
        ),
        make_mail(
            "Salary bands",
            msgid="c@example.com",
            to="hr@lists.example.com",
            body="Budget for salary bands, confidential to HR.\n",
        ),
        make_mail(
            "Board notes", msgid="d@example.com", body="The board budget review went well.\n"
        ),
    )
    return core


def test_every_word_must_match_and_phrases_are_exact(archive: Core) -> None:
    """Words are ANDed; a quoted phrase needs its words side by side."""
    assert sorted(find(archive, "budget board")) == ["Board notes", "Quarterly budget"]
    assert find(archive, '"board budget"') == ["Board notes"]
    assert find(archive, '"budget board"') == []


def test_subject_matches_rank_first(archive: Core) -> None:
    """A word in the subject outranks the same word in the body."""
    assert find(archive, "budget")[0] == "Quarterly budget"


def test_community_filter_is_inside_the_query(archive: Core) -> None:
    """Results (and so counts and snippets) come only from readable communities."""
    with archive.engine.connect() as conn:
        hr = conn.exec_driver_sql("SELECT id FROM community WHERE slug = 'hr'").scalar_one()
        eng = conn.exec_driver_sql("SELECT id FROM community WHERE slug = 'eng'").scalar_one()
    assert find(archive, "salary", community_ids=[eng]) == []
    assert find(archive, "salary", community_ids=[hr]) == ["Salary bands"]
    assert find(archive, "budget", community_ids=[]) == []


def test_ranking_window_keeps_the_most_recent_matches(archive: Core, monkeypatch) -> None:
    """Only the newest RANK_WINDOW matches are ranked, so cost stays bounded."""
    monkeypatch.setattr(search.rank, "RANK_WINDOW", 2)
    assert sorted(find(archive, "budget")) == ["Board notes", "Salary bands"]


def test_snippets_mark_the_match(archive: Core) -> None:
    """Snippets carry the engine's markers around matched words."""
    with archive.engine.connect() as conn:
        (hit,) = search.search(conn, search.parse_query("lunch"))
    assert "\x02" in hit.snippet
    assert "\x03" in hit.snippet


@pytest.mark.parametrize("q", ['"', "NEAR(a b)", "a AND OR", "*", "'; DROP TABLE message", "\x00"])
def test_odd_input_is_words_not_syntax(archive: Core, q: str) -> None:
    """Engine operators and stray quotes never reach the engine as syntax."""
    assert find(archive, q) == []
