"""The parse processes' analysis is what filing would have written itself.

Search analysis and learnt-signature tails are worked out beside the parse
(bridge/pipeline/derived.py) and used while the filed text is the parsed one.
Real mail is imported through the pipeline with its parse children; then every
indexed message is indexed again from its stored text in this process
(threads/search/reindex.py), and the index must not change by a byte.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bridge.core import Core
from bridge.importer import import_paths
from bridge.pipeline.derived import derive
from mail.parse import parse_message
from tests.support.factories import create_community, make_letter
from tests.support.messages import corpus_messages, make_mail
from tests.support.search_world import index_rows
from threads.search.reindex import rewrite_batch


def test_real_mail_is_indexed_as_filing_would_index_it(core: Core, tmp_path: Path) -> None:
    mails = tmp_path / "mail"
    mails.mkdir()
    for n, raw in enumerate(corpus_messages("ksummit-3k", 400)):
        (mails / f"{n:04}.eml").write_bytes(raw)
    create_community(core)
    import_paths(core, "eng", [mails], progress=False)
    filed = index_rows(core)
    assert len(filed) > 300
    with core.engine.begin() as conn:
        _, written = rewrite_batch(conn, 0, n=10_000)
    assert written == len(filed)
    assert index_rows(core) == filed


def test_a_changed_text_is_analysed_again() -> None:
    """What the parse process made of a text is not used for another text (a learnt
    signature trimmed it, say)."""
    parsed = parse_message(
        make_mail("Budget", sender="Ana Lind <ana@example.com>", body="Pumps and valves.\n")
    )
    derived = derive(parsed)
    letter = make_letter(
        subject=parsed.subject,
        from_name="Ana Lind",
        from_addr="ana@example.com",
        visible_text=parsed.visible_text,
    )
    entry = derived.entry_for(7, letter)
    assert entry is not None
    assert entry.message_pk == 7
    assert entry.analysed is not None
    assert "pumps" in entry.analysed.body
    assert derived.tail_for(letter) is derived.tail
    trimmed = replace(letter, visible_text="Pumps.")
    assert derived.entry_for(7, trimmed) is None
    assert derived.tail_for(trimmed) is None
    assert derived.entry_for(7, replace(letter, subject="Other")) is None
