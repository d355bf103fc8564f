"""Who knows X: the pure ranking, and the archive reads on the backend under test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bridge.core import Core, open_core
from tests.support.env import settings_for
from tests.support.experts import BO, DEE, MIA, OLI, ORG, ROBOT, VIC, build_world
from threads import expert_reads
from threads.access import readable_community_ids, viewer_for
from threads.db import writer
from threads.experts import Background, Post, expand, is_automatic, query_terms, rank_people
from threads.models import Community, Thread
from threads.privacy import Privacy, reader_privacy

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def post(pk: int, thread: int, author: str, text: str, *, parent: int | None = None) -> Post:
    return Post(
        pk,
        thread,
        author,
        author.split("@")[0].title(),
        NOW - timedelta(days=30) + timedelta(hours=pk),
        text,
        f"m{pk}",
        f"m{parent}" if parent is not None else None,
    )


# --- pure -----------------------------------------------------------------------------------


def test_question_words_drop_the_asking() -> None:
    """ "who knows about the zswap pool?" asks about zswap and pool, folded like the index."""
    assert query_terms("Who knows about the ZSWAP pool?") == ("zswap", "pool")
    assert query_terms("who is the") == ()
    assert len(query_terms(" ".join(f"word{n}" for n in range(500)))) == 12


@pytest.mark.parametrize(
    ("address", "name", "automatic"),
    [
        ("lkp@intel.com", "kernel test robot", True),
        ("syzbot+1234@syzkaller.appspotmail.com", "", True),
        ("ci-bot@example.com", "CI Robot", True),
        ("noreply@github.com", "", True),
        ("mailer-daemon@example.com", "", True),
        ("lucia@example.com", "Lucia Cimino", False),
        ("abbot@example.com", "Ann Abbot", False),
        ("marcin@example.com", "Marcin", False),
    ],
)
def test_automatic_senders_are_told_from_people(address: str, name: str, automatic: bool) -> None:
    """Robots, CI and list software are machines; names that merely contain "ci" or "bot" are
    people."""
    assert is_automatic(address, name) is automatic


def test_breadth_and_focus_beat_volume() -> None:
    """One who answers on the topic in three threads outranks one who posts most, mostly
    off topic but naming it too."""
    posts = []
    for t in range(3):
        posts += [
            post(10 * t + 1, t, "asker@x", "how do I tune zswap?"),
            post(10 * t + 2, t, "expert@x", "zswap wants the zsmalloc pool", parent=10 * t + 1),
        ]
        posts += [post(10 * t + 3 + i, t, "busy@x", "applied, thanks") for i in range(5)]
        posts.append(post(10 * t + 9, t, "busy@x", "zswap series applied"))
    ranked = rank_people(posts, {"zswap": 1.0, "zsmalloc": 0.5}, now=NOW)
    assert [e.address for e in ranked][:1] == ["expert@x"]
    assert ranked[0].threads
    assert set(ranked[0].threads) == {0, 1, 2}


def test_an_answer_taken_up_earns_more_than_the_question() -> None:
    """The same words in a reply that others reply to count more than in the question."""
    posts = [
        post(1, 1, "asker@x", "zswap question"),
        post(2, 1, "answerer@x", "zswap answer", parent=1),
        post(3, 1, "asker@x", "thanks, worked", parent=2),
    ]
    ranked = rank_people(posts, {"zswap": 1.0}, now=NOW)
    assert [e.address for e in ranked] == ["answerer@x", "asker@x"]


def test_excluded_and_automatic_authors_are_never_listed() -> None:
    """Opted-out addresses, automatic mail and robots are not experts, however on topic."""
    posts = [
        post(1, 1, "out@x", "zswap zswap"),
        post(2, 1, "lkp@intel.com", "zswap build failed"),
        Post(3, 1, "away@x", "Away", NOW, "zswap auto reply", "m3", None, automatic=True),
        post(4, 1, "person@x", "zswap"),
    ]
    ranked = rank_people(posts, {"zswap": 1.0}, now=NOW, excluded=frozenset({"out@x"}))
    assert [e.address for e in ranked] == ["person@x"]


def test_expansion_learns_the_jargon_from_the_found_threads() -> None:
    """A word common in the found threads and rare elsewhere joins the question."""
    found = [frozenset({"compressed", "swap", "zswap", "pool"}) for _ in range(5)]
    found.append(frozenset({"swap", "disk"}))
    background = Background([{"printer"}, {"vpn"}, {"budget"}, {"swap"}, {"zswap"}] * 10)
    learnt = expand(["compressed", "swap"], found, background)
    assert "zswap" in learnt
    assert "pool" in learnt
    assert "swap" not in learnt
    assert "disk" not in learnt


# --- the archive ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Core]:
    core = open_core(settings_for(tmp_path_factory.mktemp("experts") / "d", org_domains=ORG))
    build_world(core)
    with writer(core.engine).begin() as conn:
        expert_reads.set_listed(conn, OLI, False)
    yield core
    core.close()


def ask(core: Core, query: str, as_email: str, **kw: object) -> expert_reads.ExpertResults:
    with core.engine.connect() as conn:
        viewer = viewer_for(conn, as_email, ORG)
        shield = reader_privacy(conn, org_domains=ORG, mail_domain="", reveal=viewer.is_admin)
        return expert_reads.find_experts(
            conn,
            query,
            community_ids=readable_community_ids(conn, viewer),
            privacy=shield,
            now=NOW,
            **kw,  # type: ignore[arg-type]
        )


def names(found: expert_reads.ExpertResults) -> list[str]:
    return [p.name for p in found.people]


def test_jargon_finds_the_people_who_answer_it(world: Core) -> None:
    """zswap: Bo, who answered in three threads, first; the busiest poster is not near the top."""
    found = ask(world, "zswap", "reader@example.com")
    assert names(found)[0] == "Bo Berg"
    assert "Hal Busy" not in names(found)[:3]


def test_plain_words_find_the_jargon(world: Core) -> None:
    """ "compressed swap cache" learns zswap from the archive and finds Dee, who never wrote
    the plain words."""
    found = ask(world, "compressed swap cache", "reader@example.com")
    assert "zswap" in found.expanded
    assert names(found)[0] == "Bo Berg"
    assert "Dee Ng" in names(found)


def test_a_private_communitys_expertise_stays_private(world: Core) -> None:
    """Mia's zswap work in `secret` neither lists her nor reveals its threads to non-members;
    her fellow member sees it."""
    outsider_view = ask(world, "zswap", "reader@example.com")
    with world.engine.connect() as conn:
        secret = set(
            conn.execute(
                select(Thread.id)
                .join(Community, Community.id == Thread.community_id)
                .where(Community.slug == "secret")
            ).scalars()
        )
    shown = {t for p in outsider_view.people for t in p.threads} | set(outsider_view.subjects)
    assert secret
    assert not shown & secret
    assert "Mia Hidden" not in names(outsider_view)
    assert all(MIA not in p.address for p in outsider_view.people)
    assert "Mia Hidden" in names(ask(world, "zswap", MIA))


def test_opted_out_people_and_robots_are_never_listed(world: Core) -> None:
    """Oli opted out and the CI robot is a machine: neither is listed, even as an admin."""
    for who in ("reader@example.com", MIA):
        found = ask(world, "zswap zsmalloc", who, limit=50)
        assert OLI not in {p.address for p in found.people}
        assert "Oli Opt" not in names(found)
        assert ROBOT not in {p.address for p in found.people}


def test_outsiders_are_named_without_their_address(world: Core) -> None:
    """Vic (vendor.example) is listed by name to an org reader; his address only to an admin."""
    found = ask(world, "zswap pool", "reader@example.com", limit=50)
    vic = [p for p in found.people if p.name == "Vic Vendor"]
    assert vic
    assert vic[0].address == ""
    assert "address" not in vic[0].to_json()
    assert BO in {p.address for p in found.people}
    with world.engine.connect() as conn:
        everything = expert_reads.find_experts(
            conn, "zswap pool", community_ids=None, privacy=Privacy(), now=NOW, limit=50
        )
    assert VIC in {p.address for p in everything.people}


def test_person_topics_come_from_their_own_words(world: Core) -> None:
    """Bo's topics name zswap, earned in readable threads; an opted-out person has none."""
    with world.engine.connect() as conn:
        reader = viewer_for(conn, "reader@example.com", ORG)
        readable = readable_community_ids(conn, reader)
        bo = expert_reads.person_topics(conn, BO, readable)
        oli = expert_reads.person_topics(conn, OLI, readable)
        dee = expert_reads.person_topics(conn, DEE, readable)
    assert "zswap" in bo.topics
    assert {t.subject for t in bo.threads} >= {"zswap pool size", "zswap writeback stalls"}
    assert oli.topics == []
    assert oli.threads == []
    assert dee.topics
    assert all(t.subject for t in dee.threads)


def test_nothing_to_ask_and_nothing_readable_answer_empty(world: Core) -> None:
    """A question of stop words, or a reader with no communities, lists nobody."""
    assert ask(world, "who is the", "reader@example.com").people == []
    assert ask(world, "zswap", "stranger@elsewhere.example").people == []


class DictStore:
    """A SampleStore in memory, counting what it is asked."""

    def __init__(self) -> None:
        self.kept: dict[str, str] = {}
        self.loads = 0

    def load(self, key: str) -> str | None:
        self.loads += 1
        return self.kept.get(key)

    def save(self, key: str, value: str) -> None:
        self.kept[key] = value


def test_a_stored_sample_serves_a_new_process_until_the_archive_moves_on(
    world: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sample a run stored is what the next process (an empty memory cache) uses, the
    same words as one built anew; stale (STORED_DRIFT newer messages) or damaged, it is
    built again and stored over."""
    store = DictStore()

    def fresh_process() -> None:
        monkeypatch.setattr(expert_reads, "_samples", {})

    fresh_process()
    with world.engine.connect() as conn:
        built = expert_reads.background(conn, None, store)
        (key,) = store.kept
        fresh_process()
        kept = expert_reads.background(conn, None, store)
        assert (kept.size, kept.df) == (built.size, built.df)
        # What is read is the stored sample, not one built again:
        store.kept[key] = store.kept[key].replace('"df"', '"size": 1, "df"', 1)
        fresh_process()
        assert expert_reads.background(conn, None, store).size == 1
        fresh_process()
        assert names(ask(world, "zswap", "reader@example.com", store=store))[0] == "Bo Berg"

        monkeypatch.setattr(expert_reads, "STORED_DRIFT", 0)
        fresh_process()
        assert expert_reads.background(conn, None, store).size == built.size
        monkeypatch.undo()

        store.kept[key] = "{not json"
        fresh_process()
        assert expert_reads.background(conn, None, store).df == built.df
        assert '"df"' in store.kept[key]
