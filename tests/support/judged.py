"""The judged search set: known-item queries and the message each must find.

tests/data/search_judged.json holds queries over the first CORPUS_MESSAGES
messages of the linux-usb corpus (exact words, inflected forms the message
does not contain, word starts) and fictional messages of its own (Chinese,
Japanese, Korean, Thai, full-width and accented text) with their queries.
Each query names the Message-ID it must find; a query succeeds at k when the
thread of that message is among the first k threads. Used by
tests/threads/test_search_quality.py and bench/search_quality.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from tests.support.messages import make_mail
from tests.support.paths import CORPORA, TESTS

JUDGED = TESTS / "data" / "search_judged.json"
CORPUS = "linux-usb-vger-106k"
CORPUS_MESSAGES = 5000
PAGE = 10


@dataclass(frozen=True, slots=True)
class Judged:
    query: str
    message_id: str
    kind: str  # exact, inflected, prefix, cjk, folding


def load() -> dict[str, Any]:
    return dict(json.loads(JUDGED.read_text(encoding="utf-8")))


def queries(data: dict[str, Any]) -> list[Judged]:
    return [Judged(q["query"], q["message_id"], q["kind"]) for q in data["queries"]]


def fictional_mail(data: dict[str, Any]) -> list[bytes]:
    """The set's own messages as mail, a day apart (all fictional)."""
    day = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    return [
        make_mail(
            m["subject"],
            sender=m["from"],
            msgid=m["message_id"],
            body=m["body"] + "\n",
            date=day + timedelta(days=i),
        )
        for i, m in enumerate(data["messages"])
    ]


def corpus_mail(limit: int = CORPUS_MESSAGES) -> Iterator[bytes]:
    """The first `limit` messages of the corpus (nothing when it is absent)."""
    from mail.archive import read_archive

    files = sorted((CORPORA / CORPUS).glob("*.mbox.xz")) if CORPORA.is_dir() else []
    if not files:
        return iter(())
    return (item.raw for item in islice(read_archive(files[0]), limit))


def import_corpus(core: Any, folder: Path, community: str = "eng") -> int:
    """Import the corpus's first CORPUS_MESSAGES into `community`, as `bridge import` does
    (list mail carries the list's address, which no route of a test store names)."""
    import mailbox

    from bridge.importer import import_paths

    path = folder / "judged.mbox"
    box = mailbox.mbox(str(path))
    n = 0
    for raw in corpus_mail():
        box.add(raw)
        n += 1
    box.close()
    if n:
        import_paths(core, community, [path], progress=False)
    path.unlink()
    return n


def deliver_all(core: Any, raws: Iterable[bytes], batch: int = 250) -> int:
    """Accept and file messages in batches, as an import does; how many were given."""
    from tests.support.factories import deliver

    n = 0
    it = iter(raws)
    while chunk := list(islice(it, batch)):
        deliver(core, *chunk, source="import")
        n += len(chunk)
    return n


def rank_of(conn: Connection, judged: Judged, search: Any) -> int | None:
    """The 1-based place of the judged message's thread in the results, or None."""
    thread = conn.execute(
        text("SELECT thread_id FROM message WHERE message_id = :m"), {"m": judged.message_id}
    ).scalar()
    if thread is None:
        return None
    found = search.run(conn, search.parse_query(judged.query), limit=PAGE)
    ids = [t.thread_id for t in found.threads]
    return ids.index(thread) + 1 if thread in ids else None


def scores(ranks: list[int | None], k: int = PAGE) -> tuple[float, float]:
    """success@k and mean reciprocal rank (0 for a miss)."""
    if not ranks:
        return 0.0, 0.0
    success = sum(1 for r in ranks if r is not None and r <= k) / len(ranks)
    mrr = sum(1 / r for r in ranks if r is not None) / len(ranks)
    return success, mrr
