"""A community's thread and message totals stay exact through everything that changes threads.

The totals are kept by triggers (migration 0012) and read by the home page,
the community page and the API; each step below compares them with a count
of the thread table itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, text

from bridge import moderation
from bridge.core import Core
from tests.support.env import settings_for
from tests.support.factories import create_community, deliver
from tests.support.messages import conversation, make_mail
from threads import queries
from threads.db import make_engine, migrate
from threads.models import Community, Message, Thread
from threads.withdraw import withdraw_message

LATEST = datetime(2026, 3, 5, 8, 0, tzinfo=UTC)


def _counted(conn) -> dict[int, tuple[int, int]]:  # type: ignore[no-untyped-def]
    """(threads with a message, messages) per community, counted from the thread rows."""
    rows = conn.execute(
        select(
            Community.id,
            func.count(Thread.id).filter(Thread.message_count > 0),
            func.coalesce(func.sum(Thread.message_count), 0),
        )
        .select_from(Community)
        .outerjoin(Thread, Thread.community_id == Community.id)
        .group_by(Community.id)
    ).all()
    return {cid: (int(threads), int(messages)) for cid, threads, messages in rows}


def _kept(conn) -> dict[int, tuple[int, int]]:  # type: ignore[no-untyped-def]
    rows = conn.execute(select(Community.id, Community.thread_total, Community.message_total))
    return {cid: (threads, messages) for cid, threads, messages in rows}


def _check(core: Core) -> dict[int, tuple[int, int]]:
    with core.engine.connect() as conn:
        kept = _kept(conn)
        assert kept == _counted(conn)
        summaries = {c.id: (c.threads, c.messages) for c in queries.communities(conn)}
    assert summaries == kept
    return kept


def test_totals_follow_filing_merging_withdrawing_and_reprocessing(core: Core) -> None:
    eng = create_community(core)
    ops = create_community(core, slug="ops", name="Ops", addresses=["ops@lists.example.com"])
    assert _check(core) == {eng: (0, 0), ops: (0, 0)}

    deliver(core, *conversation(3))
    deliver(
        core,
        make_mail("Lone", msgid="lone@example.com", sender="Bob <bob@example.com>", date=LATEST),
    )
    deliver(core, make_mail("Ops news", msgid="ops1@example.com", to="ops@lists.example.com"))
    assert _check(core) == {eng: (2, 4), ops: (1, 1)}
    with core.engine.connect() as conn:
        assert queries.communities(conn)[0].last_activity == LATEST  # "Engineering" sorts first

    # Two threads, then a message referencing both: they merge into one.
    deliver(core, make_mail("A", msgid="a@example.com"), make_mail("B", msgid="b@example.com"))
    assert _check(core)[eng] == (4, 6)
    deliver(core, make_mail("Re: B", msgid="b2@example.com", references="<b@example.com>"))
    assert _check(core)[eng] == (4, 7)
    deliver(
        core,
        make_mail("Re: both", msgid="m@example.com", references="<a@example.com> <b@example.com>"),
    )
    assert _check(core)[eng] == (3, 8)

    # Withdrawing the only message of a thread takes the thread out of the count.
    with core.engine.begin() as conn:
        lone = conn.execute(
            select(Message.id).where(Message.message_id == "lone@example.com")
        ).scalar_one()
        assert withdraw_message(conn, lone, actor="bob@example.com") is not None
    assert _check(core)[eng] == (2, 7)
    # ... and its date out of the community's last activity.
    with core.engine.connect() as conn:
        last = {c.id: c.last_activity for c in queries.communities(conn)}
    assert last[eng] == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # conversation(3)'s last

    # Re-filing everything from the raw mail lands on the same totals.
    before = _check(core)
    moderation.reprocess(core, "all")
    assert _check(core) == before


def test_upgrade_counts_the_threads_already_there(tmp_path: Path) -> None:
    """Migration 0012 fills the totals of an existing archive, then the triggers keep them."""
    engine = make_engine(settings_for(tmp_path).effective_database_url)
    migrate(engine, "0011")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO community (id, slug, name, description, visibility, posting, "
                "archived, created_at) VALUES (7, 'eng', 'Eng', '', 'org', 'org', false, "
                "CURRENT_TIMESTAMP)"
            )
        )
        for count in (3, 1, 0):
            conn.execute(
                text(
                    "INSERT INTO thread (community_id, subject, message_count, "
                    "original_recipients) VALUES (7, 's', :n, 0)"
                ),
                {"n": count},
            )
    migrate(engine)
    with engine.begin() as conn:
        assert _kept(conn) == {7: (2, 4)}
        conn.execute(text("UPDATE thread SET message_count = 0 WHERE message_count = 1"))
        assert _kept(conn) == {7: (1, 3)}
    engine.dispose()
