"""The search language: each operator, combinations, odd input and ranking, on either backend.

Run twice by `make test` (SQLite, then `BRIDGE_TEST_BACKEND=postgres`): the same
expectations hold on both, which is what "same results" means here.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.core import Core
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from threads import search
from threads.search.language import All, Any_, Filter, Not, Term, describe_query, parse_query

DAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def with_attachment(raw: bytes, filename: str = "notes.pdf") -> bytes:
    from email import message_from_bytes, policy

    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    msg.add_attachment(
        b"%PDF-1.4 fictional", maintype="application", subtype="pdf", filename=filename
    )
    return bytes(msg)


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Core:
    from bridge.core import open_core
    from tests.support.env import settings_for

    core = open_core(settings_for(tmp_path_factory.mktemp("search") / "data"))
    create_community(core)
    create_community(core, slug="hr", name="People Team", addresses=["hr@lists.example.com"])
    deliver(
        core,
        make_mail(
            "Quarterly budget",
            msgid="a@example.com",
            cc="Bo Chen <bo@example.com>",
            body="Numbers for the board.\n",
            date=DAY - timedelta(days=50),
        ),
        make_mail(
            "Re: Quarterly budget",
            sender="Bo Chen <bo@example.com>",
            msgid="a2@example.com",
            in_reply_to="a@example.com",
            references="<a@example.com>",
            body="The numbers look right to me.\n",
            date=DAY - timedelta(days=49),
        ),
        make_mail(
            "Lunch",
            sender="Bo Chen <bo@example.com>",
            cc="Carla Diaz <carla@example.com>",
            msgid="b@example.com",
            body="The budget for lunch is fine.\n",
            date=DAY - timedelta(days=15),
        ),
        make_mail(
            "Salary bands",
            sender="Dana Ito <dana@example.com>",
            to="hr@lists.example.com",
            msgid="c@example.com",
            body="Budget for salary bands, confidential to the people team.\n",
            date=DAY,
        ),
        with_attachment(
            make_mail(
                "Board notes",
                msgid="d@example.com",
                body="The board budget review went well. See the e-mail from the CFO.\n",
                date=DAY + timedelta(days=3),
            )
        ),
        make_mail(
            "Café opening",
            sender="Élodie Martin <elodie@example.com>",
            to="eng@lists.example.com, Frank Ode <frank@example.com>",
            msgid="e@example.com",
            body="Le café ouvre lundi. Привет мир. 日本語のテキスト. مرحبا بكم.\n",
            date=DAY + timedelta(days=18),
        ),
    )
    yield core
    core.close()


def subjects(core: Core, q: str, **kw) -> list[str]:
    """Thread subjects in result order (highlight markers removed)."""
    with core.engine.connect() as conn:
        found = search.run(conn, parse_query(q), **kw)
    return [t.subject.replace("\x02", "").replace("\x03", "") for t in found.threads]


def found(core: Core, q: str) -> set[str]:
    return set(subjects(core, q))


def ids(core: Core) -> dict[str, int]:
    with core.engine.connect() as conn:
        return dict(conn.exec_driver_sql("SELECT slug, id FROM community").all())


# --- the parser, pure ------------------------------------------------------------------


def test_parser_builds_the_tree() -> None:
    """Operators, phrases, negation and OR parse into the documented tree."""
    q = parse_query('budget "board review" from:Ana -to:bo@example.com a OR b has:attachment')
    assert q.root == All(
        (
            Term(("budget",)),
            Term(("board", "review")),
            Filter("from", "ana"),
            Not(Filter("to", "bo@example.com")),
            Any_((Term(("a",)), Term(("b",)))),
            Filter("has", "attachment"),
        )
    )
    assert not q.notices


def test_or_binds_tighter_than_and_and_parentheses_group() -> None:
    """`a b OR c` is a AND (b OR c); parentheses and NOT work as written."""
    assert describe_query(parse_query("a b OR c")) == "a (b OR c)"
    assert describe_query(parse_query("(a OR b) NOT (c d)")) == "(a OR b) -(c d)"
    assert describe_query(parse_query('subject:"q3 plan" in:eng')) == (
        'subject:"q3 plan" community:eng'
    )


def test_dates_read_in_three_precisions() -> None:
    """A day, a month or a year; an unreadable date is left out with a notice."""
    assert describe_query(parse_query("after:2026-03 before:2027")) == (
        "after:2026-03-01 before:2027-01-01"
    )
    assert describe_query(parse_query("after:2026/3/9")) == "after:2026-03-09"
    q = parse_query("before:yesterday after:2026-02-30 budget")
    assert describe_query(q) == "budget"
    assert len(q.notices) == 2


@pytest.mark.parametrize(
    ("q", "shown", "notice"),
    [
        ('"unclosed phrase', '"unclosed phrase"', "quotation mark"),
        ("from:", "", "needs something"),
        ("from: ana", "from:ana", None),
        ("has:pdf", "", "has:attachment"),
        ("label:urgent", '"label urgent"', "not a search operator"),
        ("http://example.com/x", '"http example com x"', None),
        ("NEAR(a b) OR* AND", "near (a b) or*", None),
        (")))((( a ((", "a", None),
        ("- -- OR AND NOT", "", None),
        ("e-mail ana@example.com", '"e mail" "ana example com"', None),
        ("Café ÉLODIE", "cafe elodie", None),
        ("日本語のテキスト Привет مرحبا", "日本語のテキスト привет مرحبا", None),
    ],
)
def test_odd_input_parses_to_something_sensible(q: str, shown: str, notice: str | None) -> None:
    """Odd input is read charitably; what is dropped is said in a notice."""
    parsed = parse_query(q)
    assert describe_query(parsed) == shown
    if notice:
        assert any(notice in n for n in parsed.notices)
    else:
        assert not parsed.notices


def test_very_long_queries_are_cut_with_a_notice() -> None:
    """Thousands of characters or terms parse quickly into a bounded tree."""
    long = parse_query("budget " * 5000)
    assert len(long.root.nodes) == 40
    assert any("first" in n for n in long.notices)
    deep = parse_query("(" * 5000 + "a" + ")" * 5000)
    assert describe_query(deep) in ("", "a")


@given(st.text(max_size=300))
def test_the_parser_never_raises_and_leaks_no_syntax(q: str) -> None:
    """Any text parses; every word it keeps is letters, digits and (Thai) marks only."""
    parsed = parse_query(q)
    for words in parsed.terms:
        assert all(c.isalnum() or unicodedata.category(c)[0] == "M" for w in words for c in w)


# --- each operator against the archive ---------------------------------------------------


def test_words_and_phrases(archive: Core) -> None:
    """Words are all required; a phrase needs its words side by side."""
    assert found(archive, "budget board") == {"Quarterly budget", "Board notes"}
    assert found(archive, '"board budget"') == {"Board notes"}
    assert found(archive, '"budget board"') == set()
    assert found(archive, "e-mail") == {"Board notes"}


def test_from_by_name_part_or_whole_address(archive: Core) -> None:
    """from: matches part of a name or address; a whole address is exact."""
    assert found(archive, "from:bo") == {"Quarterly budget", "Lunch"}
    assert found(archive, "from:chen") == {"Quarterly budget", "Lunch"}
    assert found(archive, "from:bo@example.com") == {"Quarterly budget", "Lunch"}
    assert found(archive, "from:o@example.com") == set()
    assert found(archive, 'from:"dana ito"') == {"Salary bands"}
    assert found(archive, "numbers from:bo") == {"Quarterly budget"}
    assert found(archive, "budget from:ana") == {"Quarterly budget", "Board notes"}


def test_to_and_cc(archive: Core) -> None:
    """to: and cc: look at each recipient's name and address."""
    assert found(archive, "to:frank") == {"Café opening"}
    assert found(archive, "to:hr@lists.example.com") == {"Salary bands"}
    assert found(archive, "cc:carla") == {"Lunch"}
    assert found(archive, 'cc:"bo chen"') == {"Quarterly budget"}
    assert found(archive, "cc:address") == set()  # the JSON keys are not searched


def test_subject(archive: Core) -> None:
    """subject: restricts a word or phrase to the subject."""
    assert found(archive, "subject:budget") == {"Quarterly budget"}
    assert found(archive, 'subject:"board notes"') == {"Board notes"}
    assert found(archive, "subject:numbers") == set()


def test_community_by_slug_or_name(archive: Core) -> None:
    """community: (or in:) takes a slug or a name; unknown ones say so."""
    assert found(archive, "budget community:hr") == {"Salary bands"}
    assert found(archive, 'budget in:"people team"') == {"Salary bands"}
    with archive.engine.connect() as conn:
        res = search.run(conn, parse_query("budget in:nowhere"))
    assert res.threads == []
    assert any("nowhere" in n for n in res.notices)


def test_before_and_after(archive: Core) -> None:
    """after: includes the day named, before: excludes it."""
    assert found(archive, "budget after:2026-03-02") == {"Salary bands", "Board notes"}
    assert found(archive, "budget before:2026-03-02") == {"Quarterly budget", "Lunch"}
    assert found(archive, "budget after:2026-02 before:2026-03") == {"Lunch"}
    assert found(archive, "after:2026-03-10") == {"Café opening"}
    assert found(archive, "before:2025") == set()


def test_has_attachment(archive: Core) -> None:
    """has:attachment keeps messages that carry a file."""
    assert found(archive, "has:attachment") == {"Board notes"}
    assert found(archive, "budget -has:attachment") == {"Quarterly budget", "Lunch", "Salary bands"}


def test_or_not_and_groups(archive: Core) -> None:
    """OR, -, NOT and parentheses combine words and operators."""
    assert found(archive, "lunch OR salary") == {"Lunch", "Salary bands"}
    # Messages match, threads are shown: the reply "Re: Quarterly budget" has no "board".
    assert found(archive, "budget -board") == {"Quarterly budget", "Lunch", "Salary bands"}
    assert found(archive, "budget NOT board") == found(archive, "budget -board")
    assert found(archive, "budget -board -numbers") == {"Lunch", "Salary bands"}
    assert found(archive, 'budget -"board budget"') == {"Quarterly budget", "Lunch", "Salary bands"}
    assert found(archive, "budget -(board OR lunch OR numbers)") == {"Salary bands"}
    assert found(archive, "(lunch OR café) from:bo") == {"Lunch"}
    assert found(archive, "from:dana OR has:attachment") == {"Salary bands", "Board notes"}
    assert found(archive, "salary OR from:elodie") == {"Salary bands", "Café opening"}
    assert found(archive, "-budget -numbers") == {"Café opening"}
    budget_but_lunch = {"Quarterly budget", "Salary bands", "Board notes"}
    assert found(archive, "budget -from:bo") == budget_but_lunch
    assert found(archive, "budget NOT cc:carla") == budget_but_lunch
    assert found(archive, "-to:frank after:2026-03-10") == set()
    assert found(archive, "budget AND board") == found(archive, "budget board")


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("cafe", {"Café opening"}),
        ("CAFÉ", {"Café opening"}),
        ("привет", {"Café opening"}),
        ("ПРИВЕТ мир", {"Café opening"}),
        ("日本語のテキスト", {"Café opening"}),
        ("مرحبا", {"Café opening"}),
        ('"привет мир"', {"Café opening"}),
        ("from:élodie", {"Café opening"}),
    ],
)
def test_non_latin_scripts_and_diacritics(archive: Core, q: str, expected: set[str]) -> None:
    """Cyrillic, CJK and Arabic words match; Latin diacritics are folded on both backends."""
    assert found(archive, q) == expected


@pytest.mark.parametrize(
    "q",
    [
        '"',
        '""',
        "NEAR(a b)",
        "a AND OR",
        "*",
        "budget*",
        "^budget",
        "budget:",
        "{subject}: x",
        "subject:",
        "'; DROP TABLE message; --",
        "\x00",
        "\\",
        "a & b | !c <-> d",
        "a:b:c:d",
        "from:%",
        "to:_",
        "cc:\\",
        "community:'",
        "after:9999-99-99",
        "x" * 5000,
        "(" * 300,
        "budget " * 300,
        "🙂 emoji",
        "\u202e\u200b",
    ],
)
def test_odd_input_never_errors(archive: Core, q: str) -> None:
    """Engine syntax, LIKE wildcards and control characters are text, never errors."""
    with archive.engine.connect() as conn:
        result = search.run(conn, parse_query(q))
    assert isinstance(result.threads, list)
    if q in ("from:%", "to:_", "cc:\\", "*", "budget*"):
        assert result.threads == [] or q in ("budget*",)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.sampled_from(
            [
                "budget",
                "board",
                '"',
                "(",
                ")",
                "-",
                "OR",
                "NOT",
                "from:bo",
                "to:",
                "cc:carla",
                "has:attachment",
                "in:hr",
                "after:2026-03",
                "subject:budget",
                "*",
                "NEAR",
                "ü",
            ]
        ),
        max_size=12,
    ).map(" ".join)
)
def test_any_combination_runs(archive: Core, q: str) -> None:
    """Random combinations of operators and syntax characters always run."""
    with archive.engine.connect() as conn:
        search.run(conn, parse_query(q))


# --- results: grouping, snippets, access, ranking -------------------------------------------


def test_results_are_grouped_by_thread(archive: Core) -> None:
    """Two matching messages of one thread give one result that counts both."""
    with archive.engine.connect() as conn:
        res = search.run(conn, parse_query("numbers"))
    assert [t.subject for t in res.threads] == ["Quarterly budget"]
    assert res.threads[0].matches == 2
    assert res.total_threads == 1
    assert res.total_messages == 2


def test_snippets_and_subjects_are_highlighted(archive: Core) -> None:
    """The matched words are marked in the snippet and in the subject."""
    with archive.engine.connect() as conn:
        (hit,) = search.run(conn, parse_query("lunch")).threads
        (cafe,) = search.run(conn, parse_query("cafe")).threads
    assert "\x02lunch\x03" in hit.snippet
    assert hit.subject == "\x02Lunch\x03"
    assert "\x02café\x03" in cafe.snippet.lower()
    assert cafe.community_slug == "eng"


def test_readable_communities_bound_results_and_counts(archive: Core) -> None:
    """Results, counts and snippets come only from readable communities."""
    c = ids(archive)
    assert found(archive, "salary") == {"Salary bands"}
    assert subjects(archive, "salary", community_ids=[c["eng"]]) == []
    assert subjects(archive, "budget", community_ids=[]) == []
    with archive.engine.connect() as conn:
        res = search.run(conn, parse_query("budget"), community_ids=[c["eng"]])
        hr_named = search.run(conn, parse_query("budget in:hr"), community_ids=[c["eng"]])
    assert "Salary bands" not in {t.subject for t in res.threads}
    assert res.total_threads == 3
    assert hr_named.threads == []


def test_subject_matches_outrank_body_matches(archive: Core) -> None:
    """A word in the subject outranks the same word in the body."""
    assert subjects(archive, "budget")[0] == "Quarterly budget"


def test_recency_breaks_ties_and_paging_is_stable(tmp_path) -> None:
    """Equally relevant messages come newest first; pages do not overlap."""
    from bridge.core import open_core
    from tests.support.env import settings_for

    core = open_core(settings_for(tmp_path / "data"))
    try:
        create_community(core)
        deliver(
            core,
            *[
                make_mail(
                    f"Status {i}",
                    msgid=f"s{i}@example.com",
                    body="Weekly rollout status.\n",
                    date=DAY + timedelta(days=30 * i),
                )
                for i in range(5)
            ],
        )
        with core.engine.connect() as conn:
            first = search.run(conn, parse_query("rollout"), limit=3)
            second = search.run(conn, parse_query("rollout"), offset=3, limit=3)
        order = [t.subject for t in first.threads + second.threads]
        assert order == [f"Status {i}" for i in (4, 3, 2, 1, 0)]
        assert first.total_threads == 5
    finally:
        core.close()


def test_relevance_outweighs_age(tmp_path) -> None:
    """An old message about the word beats a new one that merely mentions it."""
    from bridge.core import open_core
    from tests.support.env import settings_for

    core = open_core(settings_for(tmp_path / "data"))
    try:
        create_community(core)
        filler = " ".join(f"word{i}" for i in range(120))
        deliver(
            core,
            make_mail(
                "Kubernetes upgrade",
                msgid="old@example.com",
                body="Kubernetes upgrade: the kubernetes nodes first.\n",
                date=DAY - timedelta(days=400),
            ),
            make_mail(
                "Weekly notes",
                msgid="new@example.com",
                body=f"{filler} kubernetes {filler}\n",
                date=DAY,
            ),
        )
        assert subjects(core, "kubernetes") == ["Kubernetes upgrade", "Weekly notes"]
    finally:
        core.close()


def test_ranking_window_keeps_the_most_recent_matches(archive: Core, monkeypatch) -> None:
    """Only the newest RANK_WINDOW matches are ranked, and the result says it was capped."""
    monkeypatch.setattr(search.rank, "RANK_WINDOW", 2)
    with archive.engine.connect() as conn:
        res = search.run(conn, parse_query("budget"))
    assert {t.subject for t in res.threads} == {"Board notes", "Salary bands"}
    assert res.capped


def test_operators_alone_scan_a_bounded_window(archive: Core, monkeypatch) -> None:
    """Without words, only the newest SCAN_WINDOW messages are looked at, with a notice."""
    monkeypatch.setattr(search.execute, "SCAN_WINDOW", 2)
    with archive.engine.connect() as conn:
        res = search.run(conn, parse_query("from:bo"))
    assert res.threads == []
    assert any("newest 2 messages" in n for n in res.notices)


def test_recipient_lists_stored_as_json_null_do_not_break_to_and_cc(tmp_path) -> None:
    """A message whose To/Cc column holds JSON null is simply not a match."""
    from bridge.core import open_core
    from tests.support.env import settings_for
    from threads.db import writer

    core = open_core(settings_for(tmp_path / "data"))
    try:
        create_community(core)
        deliver(core, make_mail("Odd row", msgid="odd@example.com", body="Nothing special.\n"))
        with writer(core.engine).begin() as conn:
            conn.exec_driver_sql("UPDATE message SET to_addrs = 'null', cc_addrs = 'null'")
        assert found(core, "to:anyone") == set()
        assert found(core, "special -cc:anyone") == {"Odd row"}
    finally:
        core.close()


def test_operators_with_words_check_a_bounded_number_of_matches(archive: Core, monkeypatch) -> None:
    """Operators are checked on the newest FILTER_SCAN messages holding the words, with a notice."""
    monkeypatch.setattr(search.execute, "FILTER_SCAN", 2)
    with archive.engine.connect() as conn:
        res = search.run(conn, parse_query("budget from:ana"))
    assert [t.subject for t in res.threads] == ["Board notes"]
    assert any("newest 2 messages" in n for n in res.notices)
