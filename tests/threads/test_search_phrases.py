"""Phrases on both backends: adjacency, longer phrases, subject: phrases, field boundaries.

On PostgreSQL phrases are found through indexed word pairs
(threads/search/analysis.py, `word_pairs`); these cases pin down that the
pairs give exactly the answers FTS5's positional phrases give.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bridge.core import Core
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from threads import search
from threads.search.language import parse_query


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Core]:
    from bridge.core import open_core
    from tests.support.env import settings_for

    core = open_core(settings_for(tmp_path_factory.mktemp("phrases") / "data"))
    create_community(core)
    deliver(
        core,
        make_mail(
            "Release train", msgid="p1@example.com", body="The release train leaves at noon.\n"
        ),
        make_mail(
            "Train schedule", msgid="p2@example.com", body="A train for the release party.\n"
        ),
        make_mail("Budget review", msgid="p3@example.com", body="Review budget numbers first.\n"),
        make_mail(
            "Hiring plan",
            sender="Noon Rivera <noon@example.com>",
            msgid="p4@example.com",
            body="Numbers attached.\n",
        ),
    )
    yield core
    core.close()


def found(core: Core, q: str) -> set[str]:
    with core.engine.connect() as conn:
        return {
            t.subject.replace("\x02", "").replace("\x03", "")
            for t in search.run(conn, parse_query(q)).threads
        }


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('"release train"', {"Release train"}),
        ('"train release"', set()),
        ('"the release train leaves"', {"Release train"}),
        ('"release train leaves noon"', set()),  # "at" sits between leaves and noon
        ('"train for the release"', {"Train schedule"}),
        ('"budget review"', {"Budget review"}),  # the subject
        ('"review budget"', {"Budget review"}),  # the body
        ('subject:"budget review"', {"Budget review"}),
        ('subject:"review budget"', set()),  # only in the body
        ('"plan noon"', set()),  # subject's last word, sender's first: not a phrase
        ('"noon rivera"', {"Hiring plan"}),  # the sender's name
        ('"release train" -"release party"', {"Release train"}),
        ('"release party" OR "budget review"', {"Train schedule", "Budget review"}),
    ],
)
def test_phrases(archive: Core, q: str, expected: set[str]) -> None:
    assert found(archive, q) == expected


def test_word_pairs_stay_within_a_field() -> None:
    assert search.word_pairs("Budget review", "Ana Lima", "Café numbers") == [
        "ana lima",
        "budget review",
        "cafe numbers",
    ]


@pytest.mark.parametrize(
    ("density", "overestimate"),
    [(0.0, False), (2.0, False), (1e12, True)],
    ids=["walk", "spans", "spans-grown"],
)
def test_both_postgres_paths_find_the_same_newest_matches(
    archive: Core, density: float, overestimate: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Walking the newest rows and searching growing spans are two ways to one answer,
    for the ranking window and for the messages operators are tested on. Spans
    start where the planner expects enough matches; when it expects far too
    many ("spans-grown"), they start at the smallest and grow."""
    if archive.engine.dialect.name != "postgresql":
        pytest.skip("the two paths are PostgreSQL's")
    monkeypatch.setattr(search.pg, "WALK_DENSITY", density)
    if overestimate:
        real = search.pg.estimate
        monkeypatch.setattr(search.pg, "estimate", lambda *a: (real(*a)[0], 1e9))
    monkeypatch.setattr(search.rank, "RANK_WINDOW", 2)  # spans must grow to fill even this
    monkeypatch.setattr(search.pg, "SPAN_FRACTIONS", (1 / 4, 1 / 2, 1.0))
    assert found(archive, "train") == {"Release train", "Train schedule"}
    assert found(archive, "numbers") == {"Budget review", "Hiring plan"}
    assert found(archive, '"release train"') == {"Release train"}
    assert found(archive, "nothing") == set()
    # Words with operators: the operators are tested on the newest matches.
    assert found(archive, "numbers from:noon") == {"Hiring plan"}
    assert found(archive, "numbers -from:noon") == {"Budget review"}
    assert found(archive, "numbers -review from:noon") == {"Hiring plan"}
    monkeypatch.setattr(search.execute, "FILTER_SCAN", 1)  # only the newest "numbers" is looked at
    assert found(archive, "numbers from:noon") == {"Hiring plan"}
    assert found(archive, "numbers -from:noon") == set()
