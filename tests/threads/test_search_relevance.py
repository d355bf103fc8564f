"""Relevance: where a word was found, how rare it is, how long the message is.

SQLite ranks by threads/search/relevance.py, PostgreSQL by ts_rank; the orders
both must give run on both. In each case the message that should lose is the
newer one, so that recency, the tie-breaker, would put it first if the
relevance did not tell them apart, and the longer one, so that the length
(which weighs against a long message) would too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.core import Core
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from threads import search
from threads.search.relevance import _varint_sum

OLD = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NEW = OLD + timedelta(days=1)


def ranked(core: Core, q: str) -> list[str]:
    with core.engine.connect() as conn:
        return [h.subject for h in search.search(conn, search.parse_query(q))]


def mail(
    subject: str, body: str, date: datetime, sender: str = "Ana Lima <ana@example.com>"
) -> bytes:
    msgid = f"{subject.replace(' ', '.')}@example.com"
    return make_mail(subject, sender=sender, msgid=msgid, body=body, date=date)


@pytest.fixture
def archive(core: Core) -> Core:
    create_community(core)
    return core


def sqlite_only(core: Core, why: str = "ts_rank weighs neither rarity nor length") -> None:
    if core.engine.dialect.name != "sqlite":
        pytest.skip(f"PostgreSQL ranks with ts_rank: {why}")


# On PostgreSQL a phrase is found by its word-pair lexemes and a stem by its marked
# lexeme, neither of which carries the subject's weight.
NO_FIELD = "pair and stem lexemes carry no field"


def test_a_word_in_the_subject_outranks_it_in_the_text(archive: Core) -> None:
    deliver(
        archive,
        mail("Zephyr rollout", "Notes from the call with the vendor on Tuesday.\n", OLD),
        mail("Call notes", "The zephyr rollout went fine.\n", NEW),
    )
    assert ranked(archive, "zephyr") == ["Zephyr rollout", "Call notes"]


def test_the_sender_outranks_the_text(archive: Core) -> None:
    deliver(
        archive,
        mail(
            "Rota",
            "See the rota for the next two weeks.\n",
            OLD,
            sender="Sam Quillon <sam@example.com>",
        ),
        mail("Shifts", "Ask Quillon about shifts.\n", NEW),
    )
    assert ranked(archive, "quillon") == ["Rota", "Shifts"]


def test_a_word_as_written_outranks_its_stem_in_the_text(archive: Core) -> None:
    deliver(
        archive,
        mail("Plan A", "We will migrate the database on Friday.\n", OLD),
        mail("Plan B", "Migrating the database took all of Friday.\n", NEW),
    )
    assert ranked(archive, "migrate") == ["Plan A", "Plan B"]


def test_a_stem_in_the_subject_outranks_the_word_as_written_in_the_text(archive: Core) -> None:
    sqlite_only(archive, NO_FIELD)
    deliver(
        archive,
        mail("Migrating the plans", "Notes from the call with the vendor on Tuesday.\n", OLD),
        mail("Plans", "We migrate on Tuesday.\n", NEW),
    )
    assert ranked(archive, "migrate") == ["Migrating the plans", "Plans"]


def test_a_phrase_in_the_subject_outranks_it_in_the_text(archive: Core) -> None:
    sqlite_only(archive, NO_FIELD)
    deliver(
        archive,
        mail("Release train dates", "Dates for the next quarter are fixed now.\n", OLD),
        mail("Dates", "The release train leaves on Friday.\n", NEW),
    )
    assert ranked(archive, '"release train"') == ["Release train dates", "Dates"]


def test_an_or_word_as_written_outranks_its_stem(archive: Core) -> None:
    """ "wombat" is in most messages, so it weighs almost nothing: the order is
    migrate's, looked up in the text (an OR's words are not in every match)."""
    sqlite_only(archive)
    common = [
        mail(f"Note {n}", f"A wombat, number {n}.\n", OLD - timedelta(days=n)) for n in range(1, 7)
    ]
    deliver(
        archive,
        *common,
        mail("One", "We will migrate the cluster next week, as planned.\n", OLD),
        mail("Two", "Migrating the cluster is planned.\n", NEW),
    )
    assert ranked(archive, "migrate OR wombat")[:2] == ["One", "Two"]


def test_a_word_start_in_the_subject_outranks_it_in_the_text(archive: Core) -> None:
    deliver(
        archive,
        mail("Kubernetes upgrade", "Done on Monday morning before the stand-up.\n", OLD),
        mail("Monday", "The kubernetes upgrade is done.\n", NEW),
    )
    assert ranked(archive, "kubern*") == ["Kubernetes upgrade", "Monday"]


def test_either_word_in_the_subject_counts_for_an_or(archive: Core) -> None:
    deliver(
        archive,
        mail("Quokka sighting", "Seen at the park near the river this morning.\n", OLD),
        mail("Park", "A wombat was seen at the park.\n", NEW),
    )
    assert ranked(archive, "quokka OR wombat") == ["Quokka sighting", "Park"]


def test_the_rarer_word_in_the_subject_counts_most(archive: Core) -> None:
    sqlite_only(archive)
    common = [
        mail(f"Weekly {n}", f"The report for week {n} is attached.\n", OLD - timedelta(days=n))
        for n in range(1, 7)
    ]
    deliver(
        archive,
        *common,
        mail("Halvorsen", "The report is late this week, sorry about that again.\n", OLD),
        mail("Report", "Halvorsen asked about it this week, sorry.\n", NEW),
    )
    assert ranked(archive, "report halvorsen") == ["Halvorsen", "Report"]


def test_the_shorter_message_ranks_first_when_the_word_is_in_the_same_place(
    archive: Core,
) -> None:
    sqlite_only(archive)
    filler = " ".join(f"word{n}" for n in range(200))
    deliver(
        archive,
        mail("Short", "The penguin budget is approved.\n", OLD),
        mail("Long", f"The penguin budget is approved. {filler}\n", NEW),
    )
    assert ranked(archive, "penguin") == ["Short", "Long"]


def test_message_lengths_are_read_as_fts5_writes_them() -> None:
    """FTS5 keeps each row's column sizes as SQLite varints, 7 bits a byte."""
    assert _varint_sum(bytes([0x04, 0x81, 0x4E, 0x02, 0x00, 0x2F])) == 4 + 206 + 2 + 0 + 47
    assert _varint_sum(bytes([0x83, 0xFF, 0x7F, 0x01])) == (3 << 14 | 0x7F << 7 | 0x7F) + 1
