"""Thread assignment in the store: order-independent, repaired when parents arrive late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bridge.core import Core, open_core
from tests.support.env import settings_for
from tests.support.factories import create_community, deliver
from tests.support.messages import conversation, make_mail
from tests.support.oracle import oracle_input, partition
from threads import queries
from threads.models import Message, Thread
from threads.threading import group_threads


def test_reply_before_parent_joins_when_parent_arrives(core: Core) -> None:
    """A reply that arrives first sits under a placeholder; the parent fills it later."""
    create_community(core)
    root, reply = conversation(2)
    deliver(core, reply)
    deliver(core, root)
    assert partition(core) == {frozenset({"c0@example.com", "c1@example.com"})}
    with core.engine.connect() as conn:
        (tid,) = set(conn.execute(select(Message.thread_id)).scalars())
        messages = queries.thread_messages(conn, tid)
    assert [(m.message_id, m.parent) for m in messages] == [
        ("c0@example.com", None),
        ("c1@example.com", "c0@example.com"),
    ]


def test_siblings_of_a_missing_parent_share_a_thread(core: Core) -> None:
    """Two replies to a message we never received still form one thread."""
    create_community(core)
    a = make_mail("Re: Plan", msgid="s1@example.com", in_reply_to="missing@example.com")
    b = make_mail("Re: Plan", msgid="s2@example.com", in_reply_to="missing@example.com")
    deliver(core, a, b)
    assert partition(core) == {frozenset({"s1@example.com", "s2@example.com"})}


def test_late_link_merges_two_threads(core: Core) -> None:
    """A message referencing two separate threads' messages merges them into one."""
    create_community(core)
    deliver(core, make_mail(msgid="m1@example.com"), make_mail("Other", msgid="m2@example.com"))
    assert len(partition(core)) == 2
    deliver(
        core,
        make_mail(
            "Re: both", msgid="m3@example.com", references="<m1@example.com> <m2@example.com>"
        ),
    )
    assert len(partition(core)) == 1


def test_merging_keeps_follows_reads_and_queued_mail_of_both_threads(core: Core) -> None:
    """A merged-away thread's follows, mutes and reads move to the survivor (foreign keys)."""
    from threads.models import Person, ThreadRead, ThreadSubscription
    from threads.reach import ReadLog

    create_community(core)
    deliver(core, make_mail(msgid="f1@example.com"), make_mail("Other", msgid="f2@example.com"))
    with core.engine.begin() as conn:
        ids = dict(conn.execute(select(Message.message_id, Message.thread_id)).all())
        one, two = ids["f1@example.com"], ids["f2@example.com"]
        sub = ThreadSubscription.__table__
        conn.execute(
            sub.insert(),
            [
                {"thread_id": one, "address": "both@example.com", "state": "muted"},
                {"thread_id": two, "address": "both@example.com", "state": "watching"},
                {"thread_id": two, "address": "fan@example.com", "state": "watching"},
            ],
        )
        reader = conn.execute(
            Person.__table__.insert()
            .values(email="reader@example.com")
            .returning(Person.__table__.c.id)
        ).scalar_one()
    reads = ReadLog(core.engine)
    reads.add(one, reader)
    reads.add(two, reader)
    reads.close()
    deliver(
        core,
        make_mail(
            "Re: both", msgid="f3@example.com", references="<f1@example.com> <f2@example.com>"
        ),
    )
    with core.engine.connect() as conn:
        (survivor,) = set(conn.execute(select(Message.thread_id)).scalars())
        follows = conn.execute(
            select(
                ThreadSubscription.address, ThreadSubscription.state, ThreadSubscription.thread_id
            )
        ).all()
        reads = conn.execute(select(ThreadRead.thread_id, ThreadRead.person_id)).all()
    assert survivor == min(one, two)
    assert sorted(follows) == [
        ("both@example.com", "muted", survivor),  # the survivor's own choice wins
        ("fan@example.com", "watching", survivor),
    ]
    assert reads == [(survivor, reader)]


def test_outlook_thread_index_links_without_references(core: Core) -> None:
    """Outlook replies that lost In-Reply-To still thread by Thread-Index conversation."""
    import base64

    create_community(core)
    header = bytes(range(1, 23))
    root_index = base64.b64encode(header).decode()
    reply_index = base64.b64encode(header + b"\x00\x01\x02\x03\x04").decode()
    deliver(core, make_mail("Budget", msgid="o1@example.com", headers={"Thread-Index": root_index}))
    deliver(
        core, make_mail("AW: Budget", msgid="o2@example.com", headers={"Thread-Index": reply_index})
    )
    assert len(partition(core)) == 1


def test_reply_without_headers_links_by_subject_and_participants(core: Core) -> None:
    """'RE: subject' with no references joins the thread its sender took part in."""
    create_community(core)
    deliver(core, make_mail("Quarterly numbers", msgid="q1@example.com", cc="bo@example.com"))
    deliver(
        core,
        make_mail(
            "RE: [eng] Quarterly numbers",
            sender="bo@example.com",
            msgid="q2@example.com",
            date=datetime(2026, 3, 3, tzinfo=UTC),
        ),
    )
    deliver(
        core,
        make_mail(
            "RE: Quarterly numbers",
            sender="zed@example.net",
            msgid="q3@example.com",
            to="other@example.net, eng@lists.example.com",
            date=datetime(2026, 3, 3, tzinfo=UTC),
        ),
    )
    assert partition(core) == {
        frozenset({"q1@example.com", "q2@example.com"}),
        frozenset({"q3@example.com"}),  # a stranger with the same subject does not join
    }


def test_lone_reply_follows_the_best_opening_message(core: Core) -> None:
    """A reference-less reply waits alone, joins its opening message, then leaves when answered."""
    create_community(core)
    day = datetime(2026, 3, 2, tzinfo=UTC)
    reply = make_mail(
        "RE: Offsite", sender="bo@example.com", msgid="r@example.com", date=day + timedelta(days=1)
    )
    deliver(core, reply)
    deliver(core, make_mail("Offsite", msgid="o@example.com", cc="bo@example.com", date=day))
    assert partition(core) == {frozenset({"o@example.com", "r@example.com"})}
    deliver(
        core,
        make_mail(
            "Re: Offsite",
            sender="cy@example.com",
            msgid="rr@example.com",
            in_reply_to="r@example.com",
            date=day + timedelta(days=2),
        ),
    )
    assert partition(core) == {
        frozenset({"o@example.com"}),
        frozenset({"r@example.com", "rr@example.com"}),
    }
    with core.engine.connect() as conn:
        counts = sorted(conn.execute(select(Thread.message_count)).scalars())
    assert counts == [1, 2]


def _mixed_set() -> list[bytes]:
    base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    msgs = conversation(4, "a") + conversation(3, "b")
    msgs.append(make_mail("Re: Plan", msgid="x1@example.com", in_reply_to="gone@example.com"))
    msgs.append(
        make_mail(
            "Re: Plan", msgid="x2@example.com", references="<gone@example.com> <x1@example.com>"
        )
    )
    msgs.append(
        make_mail(
            "Re: Rollout plan",
            sender="Person 0 <p0@example.com>",
            msgid="y1@example.com",
            date=base + timedelta(days=1),
        )
    )
    # A second lone reply, later answered with references: it must anchor its own thread.
    msgs.append(
        make_mail(
            "Re: Rollout plan",
            sender="Person 1 <p1@example.com>",
            msgid="z1@example.com",
            date=base + timedelta(days=2),
        )
    )
    msgs.append(
        make_mail(
            "Re: Rollout plan",
            sender="Person 2 <p2@example.com>",
            msgid="z2@example.com",
            in_reply_to="z1@example.com",
            date=base + timedelta(days=3),
        )
    )
    return msgs


def _recurring_subject() -> list[bytes]:
    """A weekly-report subject over months: openings 45 days apart, lone replies near and far."""
    day = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    people = "bo@example.com, cy@example.com"

    def opening(msgid: str, days: float) -> bytes:
        return make_mail("Weekly report", msgid=msgid, cc=people, date=day + timedelta(days=days))

    def lone(msgid: str, days: float, sender: str = "bo@example.com") -> bytes:
        return make_mail(
            "RE: Weekly report", sender=sender, msgid=msgid, date=day + timedelta(days=days)
        )

    return [
        opening("w0@example.com", 0),
        lone("l1@example.com", 1),  # answers w0
        lone("l29@example.com", 29.9),  # still inside w0's window
        lone("l31@example.com", 31),  # beyond w0's window, before w45: alone
        opening("w45@example.com", 45),
        lone("l44@example.com", 44.8),  # written 5 hours "before" w45: clock skew allows it
        lone("l46@example.com", 46, sender="cy@example.com"),  # answers w45, the latest that fits
        opening("w100@example.com", 100),
        lone("l130@example.com", 130),  # exactly w100 + 30 days
    ]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.permutations(range(9)))
def test_subject_windows_give_the_oracle_partition_in_any_order(tmp_path_factory, order) -> None:
    """Filing reads only a window of same-subject mail; the result still equals the oracle's."""
    msgs = _recurring_subject()
    got = _filed_in_order(tmp_path_factory.mktemp("window"), msgs, order)
    assert got == set(group_threads(oracle_input(m) for m in msgs))
    assert frozenset({"w0@example.com", "l1@example.com", "l29@example.com"}) in got
    assert frozenset({"l31@example.com"}) in got


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.permutations(range(12)))
def test_any_arrival_order_gives_the_oracle_partition(tmp_path_factory, order) -> None:
    """The store's incremental threading equals the pure batch oracle, whatever the order."""
    msgs = _mixed_set()
    got = _filed_in_order(tmp_path_factory.mktemp("perm"), msgs, order)
    assert got == set(group_threads(oracle_input(m) for m in msgs))


def _filed_in_order(data: Path, msgs: list[bytes], order: list[int]) -> set[frozenset[str]]:
    """The threads a fresh store files `msgs` into when they arrive in `order`."""
    core = open_core(settings_for(data))
    try:
        create_community(core)
        for i in order:
            deliver(core, msgs[i])
        return partition(core)
    finally:
        core.close()
