"""Search that understands language: stems, prefixes, CJK, folding, on either backend.

Run under both backends (`make test` runs the suite on SQLite, then with
`BRIDGE_TEST_BACKEND=postgres`): every query of QUERIES must find exactly the
same threads on both, and the order where it is stated.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.core import Core
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from threads import search
from threads.search.language import parse_query

DAY = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)

MESSAGES = [
    ("Upgrading the cluster", "We are upgrading PostgreSQL tonight; expect a short outage."),
    ("Upgrade window", "The upgrade window is Friday evening, as every month."),
    ("Datenbank", "Die Datenbanken sind nicht migriert und der Server läuft noch."),
    ("Réunions", "Les réunions sont annulées pour la semaine et le mois prochain."),
    ("Обновление", "Мы обновили базы данных вчера вечером."),
    ("数据库迁移计划", "我们的数据库很慢，需要优化。"),
    ("明日の会議", "明日の会議は中止です。"),
    ("백업 완료", "데이터베이스 백업을 완료했습니다."),
    ("Thai note", "การประชุมวันนี้ยกเลิก"),
    ("Width", "Ｔｈｅ ＵＳＢ ｈｕｂ needs a reset."),
    ("Müller's patch", "Jürgen Müller sent the patch for the gadget driver."),
    ("Migration notes", "The migration of the mail store finished."),
]

# Query → the subjects it finds, on both backends.
QUERIES: list[tuple[str, set[str]]] = [
    ("upgrade", {"Upgrading the cluster", "Upgrade window"}),
    ("upgrading", {"Upgrading the cluster", "Upgrade window"}),
    ('"upgrade"', {"Upgrade window"}),  # quoted: that form only
    ('"upgrading postgresql"', {"Upgrading the cluster"}),
    ("upgrad*", {"Upgrading the cluster", "Upgrade window"}),
    ("postgre*", {"Upgrading the cluster"}),
    ("migrat*", {"Migration notes"}),
    ("migr*", {"Migration notes", "Datenbank"}),  # migration, migriert
    ("subject:migrat*", {"Migration notes"}),
    ("datenbank", {"Datenbank"}),
    ("reunion", {"Réunions"}),
    ("annulée", {"Réunions"}),
    ("база", {"Обновление"}),
    ("数据库", {"数据库迁移计划"}),
    ("优化", {"数据库迁移计划"}),
    ("迁移", {"数据库迁移计划"}),
    ("会議", {"明日の会議"}),
    ("中止", {"明日の会議"}),
    ("백업", {"백업 완료"}),
    ("ประชุม", {"Thai note"}),
    ("usb hub", {"Width"}),
    ("ＵＳＢ", {"Width"}),
    ("muller", {"Müller's patch"}),
    ("MÜLLER jurgen", {"Müller's patch"}),
    ("upgrade -subject:window", {"Upgrading the cluster"}),
    ("-upgrading cluster", set()),
    ("subject:upgrading", {"Upgrading the cluster", "Upgrade window"}),
    ("nothingoftheform*", set()),
]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Core:
    from bridge.core import open_core
    from tests.support.env import settings_for

    core = open_core(settings_for(tmp_path_factory.mktemp("understanding") / "data"))
    create_community(core)
    deliver(
        core,
        *[
            make_mail(subject, msgid=f"u{i}@example.com", body=body + "\n", date=DAY)
            for i, (subject, body) in enumerate(MESSAGES)
        ],
    )
    yield core
    core.close()


def results(core: Core, q: str) -> search.SearchResults:
    with core.engine.connect() as conn:
        return search.run(conn, parse_query(q))


def plain(text: str) -> str:
    return text.replace("\x02", "").replace("\x03", "")


@pytest.mark.parametrize(("q", "expected"), QUERIES)
def test_the_same_threads_on_either_backend(archive: Core, q: str, expected: set[str]) -> None:
    assert {plain(t.subject) for t in results(archive, q).threads} == expected


def test_the_form_asked_for_ranks_first(archive: Core) -> None:
    """Exact words outrank their stems: each form finds its own thread first."""
    assert plain(results(archive, "upgrading").threads[0].subject) == "Upgrading the cluster"
    assert plain(results(archive, "upgrade").threads[0].subject) == "Upgrade window"


def test_snippets_mark_the_words_that_matched_through_stems_and_prefixes(archive: Core) -> None:
    hit = next(t for t in results(archive, "upgrade").threads if "cluster" in t.subject)
    assert "\x02upgrading\x03" in hit.snippet
    assert "\x02Upgrading\x03" in hit.subject
    (hit,) = results(archive, "postgre*").threads
    assert "\x02PostgreSQL\x03" in hit.snippet
    (hit,) = results(archive, "база").threads
    assert "\x02базы\x03" in hit.snippet


def test_snippets_mark_cjk_words_and_folded_forms(archive: Core) -> None:
    (hit,) = results(archive, "数据库").threads
    assert "\x02数据库\x03" in hit.snippet
    assert hit.subject == "\x02数据库\x03迁移计划"
    (hit,) = results(archive, "usb").threads
    assert "\x02ＵＳＢ\x03" in hit.snippet
    (hit,) = results(archive, "muller").threads
    assert "\x02Müller\x03" in hit.snippet


def test_a_word_start_too_short_is_searched_as_a_word_with_a_notice(archive: Core) -> None:
    found = results(archive, "u*")
    assert any("word start" in n for n in found.notices)


def test_did_you_mean_offers_a_near_word_that_finds_something(archive: Core) -> None:
    found = results(archive, "upgrde window")
    assert found.threads == []
    assert found.suggestion == "upgrade window"
    assert results(archive, "upgrade").suggestion is None  # found: nothing to suggest
    assert results(archive, "qqqqzzzz").suggestion is None  # nothing near


def test_did_you_mean_never_names_a_word_only_private_communities_hold(tmp_path) -> None:
    """A word in a community the reader cannot read is never suggested to them."""
    from bridge.core import open_core
    from tests.support.env import settings_for
    from tests.support.search_world import public_and_private

    core = open_core(settings_for(tmp_path / "data"))
    try:
        ids = public_and_private(core)
        with core.engine.connect() as conn:
            public_only = search.run(conn, parse_query("zebrafsh"), community_ids=[ids["eng"]])
            member = search.run(conn, parse_query("zebrafsh"), community_ids=list(ids.values()))
        assert public_only.threads == []
        assert public_only.suggestion is None
        assert member.suggestion == "zebrafish"
    finally:
        core.close()


def test_a_snippet_finds_a_match_deep_in_a_long_message() -> None:
    from threads.search.snippet import Matcher, make_snippet

    body = "filler words here. " * 300 + "Then the hub was upgraded at last. " + "tail " * 50
    snippet = make_snippet(body, Matcher.of(parse_query("upgrade").text_terms))
    assert "\x02upgraded\x03" in snippet
    assert snippet.startswith("… ")
    assert snippet.endswith(" …")
    far = "filler " * 2000 + "upgraded"
    # Beyond the look-ahead the snippet is the message's start, unmarked.
    assert "\x02" not in make_snippet(far, Matcher.of(parse_query("upgrade").text_terms))


def test_postgresql_asks_only_for_the_stems_some_message_holds(archive: Core) -> None:
    """`upgrading` has stems in several languages, each looked up as a word and marked;
    the tsquery keeps those the index holds (`~upgrad`, of "upgrading" and "upgrade") and
    drops the rest (no message has the word `upgrad`), finding the same threads."""
    if archive.engine.dialect.name != "postgresql":
        pytest.skip("the tsquery is PostgreSQL's")
    from threads.search import pg
    from threads.search.compiler import Compiler

    root = parse_query("upgrading").root
    with archive.engine.connect() as conn:
        compiler = Compiler("postgresql", {})
        asked = compiler.stem_lexemes(root)
        every = compiler.engine_expr(root)
        compiler.absent = pg.absent(conn, asked)
    assert {"upgrad", "~upgrad"} <= set(asked)
    assert "upgrad" in compiler.absent
    assert "~upgrad" not in compiler.absent
    expr = compiler.engine_expr(root)
    assert "'upgrad'" in str(every)
    assert "'upgrad'" not in str(expr)
    assert "'~upgrad'" in str(expr)
    found = {plain(t.subject) for t in results(archive, "upgrading").threads}
    assert found == {"Upgrading the cluster", "Upgrade window"}
