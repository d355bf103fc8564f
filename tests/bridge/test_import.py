"""Archive import: mbox, Maildir and .eml folders, resumable, with an honest summary."""

from __future__ import annotations

import json
import mailbox
from itertools import combinations
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bridge.core import Core
from bridge.importer import import_paths
from tests.support.cli import run_bridge
from tests.support.env import bridge_env
from tests.support.factories import create_community
from tests.support.messages import CORPORA, conversation, make_mail
from threads import queries
from threads.models import Message, RawMessage


def write_mbox(path: Path, raws: list[bytes]) -> Path:
    box = mailbox.mbox(str(path))
    for raw in raws:
        box.add(raw)
    box.flush()
    box.close()
    return path


def test_mbox_import_threads_and_summarises(core: Core, tmp_path: Path) -> None:
    """An mbox with one conversation imports as one thread of three."""
    create_community(core)
    mbox = write_mbox(tmp_path / "a.mbox", conversation(3))
    summary = import_paths(core, "eng", [mbox], progress=False)
    assert summary.line() == "imported 3, duplicates 0, held 0, failed 0"
    with core.engine.connect() as conn:
        (thread,) = queries.export_threads(conn, 1)
    assert [m["parent"] for m in thread["messages"]] == [None, "c0@example.com", "c1@example.com"]


def test_body_lines_starting_with_from_survive_mbox(core: Core, tmp_path: Path) -> None:
    """mbox escaping of 'From ' lines is undone: the text reads as the sender wrote it."""
    create_community(core)
    body = "Hi,\n\nFrom the notes:\n>From the start\n"
    mbox = write_mbox(tmp_path / "f.mbox", [make_mail(msgid="from@example.com", body=body)])
    import_paths(core, "eng", [mbox], progress=False)
    with core.engine.connect() as conn:
        text = conn.execute(select(Message.visible_text)).scalar_one()
    assert "From the notes:" in text
    assert ">From the start" in text or "From the start" in text


def test_reimport_is_resumable_and_imports_nothing_twice(core: Core, tmp_path: Path) -> None:
    """Running the same import again reports everything as duplicates."""
    create_community(core)
    mbox = write_mbox(tmp_path / "a.mbox", conversation(4))
    import_paths(core, "eng", [mbox], progress=False)
    again = import_paths(core, "eng", [mbox], progress=False)
    assert again.line() == "imported 0, duplicates 4, held 0, failed 0"


def test_interrupted_import_finishes_pending_messages(core: Core, tmp_path: Path) -> None:
    """Messages accepted but not processed before a crash are processed on the next run."""
    from mail.envelope import Envelope

    create_community(core)
    raws = conversation(2)
    core.inbox.accept(raws[0], Envelope(source="import", community_hint="eng"))  # then "crash"
    mbox = write_mbox(tmp_path / "a.mbox", raws)
    summary = import_paths(core, "eng", [mbox], progress=False)
    assert summary.line() == "imported 2, duplicates 0, held 0, failed 0"


def test_maildir_and_eml_folder(core: Core, tmp_path: Path) -> None:
    """Maildir (cur/new, never tmp) and a folder of .eml files import alike."""
    create_community(core)
    md = mailbox.Maildir(str(tmp_path / "md"))
    for raw in conversation(2, "md"):
        md.add(raw)
    (tmp_path / "md" / "tmp" / "half-written").write_bytes(b"Subject: partial\n")
    eml = tmp_path / "eml"
    eml.mkdir()
    for i, raw in enumerate(conversation(2, "eml")):
        (eml / f"{i}.eml").write_bytes(raw)
    summary = import_paths(core, "eng", [tmp_path / "md", eml], progress=False)
    assert summary.imported == 4


def test_unknown_community_is_a_clear_error(core: Core, tmp_path: Path) -> None:
    """Importing into a community that does not exist says so instead of failing later."""
    from bridge.errors import UsageError

    with pytest.raises(UsageError, match="no community 'nope'"):
        import_paths(core, "nope", [tmp_path], progress=False)


def test_cli_import_exit_status_and_summary(tmp_path: Path) -> None:
    """`bridge import` prints the one-line summary and exits 0 when nothing failed."""
    env = bridge_env(tmp_path / "d")
    run = lambda *a: run_bridge(a, env)  # noqa: E731
    assert run("community", "add", "eng", "--name", "Engineering").returncode == 0
    mbox = write_mbox(tmp_path / "a.mbox", conversation(2))
    result = run("import", "--community", "eng", str(mbox))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported 2, duplicates 0, held 0, failed 0"


def pairs(groups: list[set[str]]) -> set[frozenset[str]]:
    return {frozenset(p) for g in groups for p in combinations(sorted(g), 2)}


@pytest.mark.corpus
@pytest.mark.slow
def test_ksummit_import_agrees_with_reference_threading(core: Core, tmp_path: Path) -> None:
    """Importing the real ksummit corpus threads as References/In-Reply-To do (F1 >= 0.99)."""
    from tests.support.reference import reference_threads

    source = sorted((CORPORA / "ksummit-3k").glob("*.mbox.xz")) if CORPORA.is_dir() else []
    if not source:
        pytest.skip("corpus ksummit-3k not available (../shared/corpora)")
    create_community(core)
    summary = import_paths(core, "eng", source, progress=False)
    assert summary.failed == 0
    with core.engine.connect() as conn:
        ours = [{m["message_id"] for m in t["messages"]} for t in queries.export_threads(conn, 1)]
        stored = conn.execute(select(func.count()).select_from(RawMessage)).scalar_one()
    assert stored == summary.imported + summary.duplicates + summary.held
    ref = reference_threads(source[0])
    ours_pairs, ref_pairs = pairs(ours), pairs(ref)
    both = len(ours_pairs & ref_pairs)
    precision, recall = both / len(ours_pairs), both / len(ref_pairs)
    f1 = 2 * precision * recall / (precision + recall)
    print(json.dumps({"precision": precision, "recall": recall, "f1": f1}))
    assert f1 >= 0.99
