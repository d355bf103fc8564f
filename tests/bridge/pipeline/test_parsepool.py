"""Parsing in child processes: a per-message time limit, crashes contained, order kept."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bridge.core import Core
from bridge.pipeline.parsepool import Failed, ParsePool, Prepared, TimedOut
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from tests.support.parse_stubs import slow_or_crashing
from threads.models import RawState


@pytest.fixture
def pool() -> Iterator[ParsePool]:
    p = ParsePool(workers=2, timeout=3.0, work=slow_or_crashing)
    yield p
    p.close()


def test_results_come_back_in_order(pool: ParsePool) -> None:
    """Many messages over two children: each result belongs to its own message."""
    raws = [make_mail(f"Subject {i}", msgid=f"m{i}@example.com") for i in range(25)]
    results = pool.run(raws)
    assert all(isinstance(r, Prepared) for r in results)
    assert [r.parsed.subject for r in results] == [f"Subject {i}" for i in range(25)]  # type: ignore[union-attr]


def test_a_slow_message_times_out_and_the_rest_go_on(pool: ParsePool) -> None:
    """The child parsing past the deadline is killed; the other messages are parsed."""
    raws = [make_mail("one"), make_mail("SLEEP two"), make_mail("three"), make_mail("four")]
    started = time.monotonic()
    results = pool.run(raws)
    assert time.monotonic() - started < 20
    assert isinstance(results[1], TimedOut)
    assert [r.parsed.subject for r in results if isinstance(r, Prepared)] == [
        "one",
        "three",
        "four",
    ]
    # The replacement child works.
    (again,) = pool.run([make_mail("five")])
    assert isinstance(again, Prepared)


def test_a_crashing_child_fails_its_message_only(pool: ParsePool) -> None:
    """A child that dies fails the message it held, and is replaced."""
    results = pool.run([make_mail("a"), make_mail("CRASH b"), make_mail("c")])
    assert isinstance(results[1], Failed)
    assert "died" in results[1].reason
    assert isinstance(results[0], Prepared)
    assert isinstance(results[2], Prepared)


def test_inline_pool_parses_in_process() -> None:
    """workers=0 parses in the caller, without children."""
    (result,) = ParsePool(workers=0, timeout=1).run([make_mail("inline")])
    assert isinstance(result, Prepared)
    assert result.parsed.subject == "inline"


def test_pipeline_holds_a_message_over_the_time_limit(core: Core) -> None:
    """In the pipeline, a parse that times out is held with a readable reason."""
    core.pipeline._parser.close()
    core.pipeline._parser = ParsePool(workers=1, timeout=2.0, work=slow_or_crashing)
    create_community(core)
    slow, fine = deliver(
        core, make_mail("SLEEP", msgid="slow@example.com"), make_mail(msgid="ok@example.com")
    )
    assert slow.state == RawState.held
    assert "parse time limit" in slow.reason
    assert fine.state == RawState.done


def test_pipeline_holds_a_message_over_a_parse_cap(core: Core) -> None:
    """A message whose header section is over the cap is held, not published half-read."""
    create_community(core)
    raw = make_mail(msgid="big@example.com").replace(
        b"Subject:", b"X-Junk: " + b"a" * 80 + (b"\n " + b"a" * 76) * 14000 + b"\nSubject:", 1
    )
    (outcome,) = deliver(core, raw)
    assert outcome.state == RawState.held
    assert "header section larger than 1 MB" in outcome.reason


def test_a_timeout_and_a_crash_inside_chunks_lose_no_other_message(pool: ParsePool) -> None:
    """Messages queued behind a stuck or dead one in its chunk are parsed by a fresh child."""
    subjects = [f"m{i}" for i in range(40)]
    subjects[5], subjects[22] = "CRASH m5", "SLEEP m22"
    results = pool.run([make_mail(s) for s in subjects])
    assert isinstance(results[5], Failed)
    assert isinstance(results[22], TimedOut)
    others = [(i, r) for i, r in enumerate(results) if i not in (5, 22)]
    assert all(isinstance(r, Prepared) and r.parsed.subject == f"m{i}" for i, r in others)


def test_import_overlapping_batches_counts_every_message_once(
    core: Core, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch n+1 is parsed while batch n is filed: copies across batches are duplicates."""
    import mailbox

    from bridge import importer
    from mail.envelope import Envelope

    monkeypatch.setattr(importer, "BATCH", 2)
    create_community(core)
    mails = {k: make_mail(f"Subject {k}", msgid=f"{k}@example.com") for k in "ABCDE"}
    box = mailbox.mbox(str(tmp_path / "a.mbox"))
    for key in "ABCADBEE":
        box.add(mails[key])
    box.flush()
    box.close()
    # E was accepted by an earlier run that then stopped: this run finishes it.
    core.inbox.accept(mails["E"], Envelope(source="import", community_hint="eng"))
    summary = importer.import_paths(core, "eng", [tmp_path / "a.mbox"], progress=False)
    assert summary.line() == "imported 5, duplicates 3, held 0, failed 0"


def test_overlapping_batches_of_large_mail_do_not_deadlock(pool: ParsePool) -> None:
    """start(n+1) before collect(n) with results larger than a socket buffer completes."""
    import threading

    body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n" * 400  # ~23 KB
    first = [make_mail(f"a{i}", body=body) for i in range(30)]
    second = [make_mail(f"b{i}", body=body) for i in range(30)]
    outcome: list[list[str]] = []

    def overlapped() -> None:
        batch_one = pool.start(first)
        batch_two = pool.start(second)
        for batch in (batch_one, batch_two):
            outcome.append([r.parsed.subject for r in pool.collect(batch)])  # type: ignore[union-attr]

    runner = threading.Thread(target=overlapped, daemon=True)
    runner.start()
    runner.join(120)
    assert not runner.is_alive(), "start/collect of overlapping batches deadlocked"
    assert outcome == [[f"a{i}" for i in range(30)], [f"b{i}" for i in range(30)]]
