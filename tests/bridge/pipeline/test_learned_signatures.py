"""Learnt signatures through the real pipeline: filing trims them, search forgets them,
`bridge reprocess --all` trims an archive filed before, and real mail loses no content.

Fictional senders, except the corpus test (marked `corpus`), which replays a real
mailing list as filing does and checks what was removed against rules a test can
check; docs/benchmarks.md has the hand check of thirty removals.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from bridge import moderation
from bridge.core import Core
from mail.parse import parse_message
from tests.support.factories import create_community, deliver
from tests.support.learned_signatures import Replay
from tests.support.messages import corpus_messages, make_mail
from threads import search
from threads.db import writer
from threads.models import LearnedSignature, Message, RawMessage

SIGNATURE = "Rosa Vell\nPlatform Lead | Example Turbines\nDesk 4417, Building Quartz"
M = Message.__table__
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _mail(i: int, sender: str = "Rosa Vell <rosa@example.com>", sig: str = SIGNATURE) -> bytes:
    return make_mail(
        f"Turbine report {i}",
        sender=sender,
        msgid=f"turbine{i}-{sender[:4]}@example.com",
        date=BASE + timedelta(hours=i),
        body=f"Report {i}: blade wear is within limits.\n\n{sig}\n",
    )


@pytest.fixture(autouse=True)
def _community(core: Core) -> None:
    """Every test files into one org community (`core` is tests/support/fixtures.py's)."""
    create_community(core)


def _texts(core: Core, address: str) -> list[tuple[str, str]]:
    with core.engine.connect() as conn:
        rows = conn.execute(
            select(M.c.visible_text, M.c.signature)
            .where(M.c.from_addr == address, M.c.placeholder.is_(False))
            .order_by(M.c.date)
        ).all()
    return [(r.visible_text, r.signature) for r in rows]


def _hits(core: Core, words: str) -> int:
    with core.engine.connect() as conn:
        return len(search.run(conn, search.parse_query(words)).threads)


def test_third_message_teaches_and_search_forgets_the_signature(core: Core) -> None:
    """Messages one and two keep the block until the third teaches it; then all three
    show only their text, keep the block as their signature, and search no longer finds
    them by a word only the signature has."""
    deliver(core, _mail(0), _mail(1))
    assert all("Platform Lead" in visible for visible, _ in _texts(core, "rosa@example.com"))
    assert _hits(core, "Quartz") == 2
    deliver(core, _mail(2))
    texts = _texts(core, "rosa@example.com")
    assert [v for v, _ in texts] == [f"Report {i}: blade wear is within limits." for i in range(3)]
    assert all(sig == SIGNATURE for _, sig in texts)
    assert _hits(core, "Quartz") == 0
    assert _hits(core, "blade") == 3


def test_one_batch_learns_in_order_and_writes_each_sender_once(core: Core) -> None:
    """Filing reads a batch's senders at once and writes their rows at its end: three
    messages of one sender in one batch teach as if filed one by one (all three trimmed),
    a second sender in the batch learns apart, and each row holds its messages' pks."""
    other = "Ivo Dren <ivo@example.com>"
    deliver(core, _mail(0), _mail(0, other, "Ivo Dren\nPumps"), _mail(1), _mail(2))
    texts = _texts(core, "rosa@example.com")
    assert [v for v, _ in texts] == [f"Report {i}: blade wear is within limits." for i in range(3)]
    assert _texts(core, "ivo@example.com")[0][0].endswith("Ivo Dren\nPumps")
    with core.engine.connect() as conn:
        rows = {r.address: r for r in conn.execute(select(LearnedSignature.__table__))}
        pks = {r.from_addr: r.id for r in conn.execute(select(M.c.id, M.c.from_addr))}
    assert sorted(rows) == ["ivo@example.com", "rosa@example.com"]
    rosa = rows["rosa@example.com"]
    assert (len(rosa.tails), len(rosa.block)) == (3, 3)
    assert rows["ivo@example.com"].tails[0]["p"] == [pks["ivo@example.com"]]
    assert _hits(core, "Quartz") == 0


def test_another_sender_ending_alike_keeps_every_line(core: Core) -> None:
    """A block is learnt per address: someone else's mail ending with the same lines (a
    colleague quoting her card, say) is left whole until they themselves repeat it."""
    deliver(core, *(_mail(i) for i in range(4)))
    deliver(core, _mail(10, sender="Tom Arne <tom@example.com>"))
    [(visible, signature)] = _texts(core, "tom@example.com")
    assert visible.endswith("Building Quartz")
    assert signature == ""


def test_reprocess_all_trims_an_archive_filed_before_learning(core: Core) -> None:
    """An archive filed before the learnt block existed (texts whole, nothing learnt) is
    trimmed by `reprocess --all`; the raw bytes stay as they were."""
    deliver(core, *(_mail(i) for i in range(5)))
    raw = RawMessage.__table__
    filed = _texts(core, "rosa@example.com")
    with writer(core.engine).begin() as conn:
        conn.execute(text("DELETE FROM learned_signature"))
        for visible, signature in filed:
            conn.execute(
                update(M)
                .where(M.c.visible_text == visible)
                .values(visible_text=f"{visible}\n\n{signature}", signature="")
            )
        digests = [
            hashlib.sha256(r).hexdigest() for r in conn.execute(select(raw.c.data)).scalars()
        ]
    assert all("Platform Lead" in v for v, _ in _texts(core, "rosa@example.com"))
    moderation.reprocess(core, "all")
    texts = _texts(core, "rosa@example.com")
    assert len(texts) == 5
    assert all("Platform Lead" not in v and s == SIGNATURE for v, s in texts)
    with core.engine.connect() as conn:
        after = [hashlib.sha256(r).hexdigest() for r in conn.execute(select(raw.c.data)).scalars()]
        learned = conn.execute(select(LearnedSignature.__table__.c.block)).scalars().all()
    assert after == digests
    assert [len(block) for block in learned] == [3]


def test_a_withdrawn_message_stops_teaching(core: Core) -> None:
    """Withdrawing one of the three messages that taught the block takes its line hashes
    out: two are not enough, so the block is gone until a third live message ends alike."""
    from threads.withdraw import withdraw_message

    deliver(core, *(_mail(i) for i in range(3)))
    with core.engine.connect() as conn:
        first = conn.execute(select(M.c.id).order_by(M.c.id)).scalars().first()
    assert first is not None
    with writer(core.engine).begin() as conn:
        assert withdraw_message(conn, first, "rosa@example.com") is not None
    with core.engine.connect() as conn:
        row = conn.execute(select(LearnedSignature.__table__)).one()
    assert (len(row.tails), row.block) == (2, [])
    deliver(core, _mail(3))
    with core.engine.connect() as conn:
        row = conn.execute(select(LearnedSignature.__table__)).one()
    assert (len(row.tails), len(row.block)) == (3, 3)
    assert _texts(core, "rosa@example.com")[-1] == (
        "Report 3: blade wear is within limits.",
        SIGNATURE,
    )


@pytest.mark.corpus
def test_real_mail_loses_only_signature_lines() -> None:
    """A real list replayed as filing does: senders get learnt blocks, and no removal takes
    a quote, a patch trailer or a diff line. Floors are below what was measured
    (docs/benchmarks.md): 53 of 140 senders with three or more messages, 1,143 messages
    trimmed, no rule broken."""
    replay = Replay()
    for index, raw in enumerate(corpus_messages("ksummit-3k"), start=1):
        parsed = parse_message(raw)
        if parsed.from_ is not None and parsed.from_.address:
            replay.file(index, parsed.from_.address.lower(), parsed.visible_text)
    learnt = sum(1 for s in replay.senders.values() if s.block)
    assert learnt >= 40
    assert len(replay.removed) >= 900
    assert len(replay.broken()) / len(replay.removed) <= 0.005
    assert all(replay.texts[i].strip() for i in replay.removed)
