"""The judged search set (tests/data/search_judged.json) is found, on either backend.

Every fictional CJK, Thai, full-width and accented query finds its message on
the first page; over the linux-usb corpus, exact, inflected and prefix
known-item queries find theirs at least as often as FLOORS says (the figures
measured when the set was made, less a margin; bench/search_quality.py prints
them). Without the corpus only the fictional part runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.core import Core
from tests.support import judged
from tests.support.factories import create_community
from threads import search

# success@10 measured on the set (bench/search_quality.py), rounded down with margin.
FLOORS = {"exact": 0.95, "inflected": 0.95, "prefix": 0.95}


def _store(data: Path, with_corpus: bool) -> Core:
    from bridge.core import open_core
    from tests.support.env import settings_for

    core = open_core(settings_for(data))
    create_community(core)
    if with_corpus:
        if not any(judged.corpus_mail(1)):
            pytest.skip("corpus linux-usb not available (../shared/corpora)")
        judged.import_corpus(core, data)
    judged.deliver_all(core, judged.fictional_mail(judged.load()))
    return core


@pytest.fixture(scope="module")
def fictional(tmp_path_factory) -> Iterator[Core]:
    core = _store(tmp_path_factory.mktemp("judged") / "data", with_corpus=False)
    yield core
    core.close()


@pytest.mark.parametrize(
    "q", [q for q in judged.queries(judged.load()) if q.kind in ("cjk", "folding")], ids=str
)
def test_every_fictional_query_finds_its_message_first(fictional: Core, q: judged.Judged) -> None:
    with fictional.engine.connect() as conn:
        assert judged.rank_of(conn, q, search) == 1


@pytest.mark.corpus
def test_known_items_of_the_corpus_are_found(tmp_path: Path) -> None:
    core = _store(tmp_path / "data", with_corpus=True)
    try:
        ranks: dict[str, list[int | None]] = {k: [] for k in FLOORS}
        with core.engine.connect() as conn:
            for q in judged.queries(judged.load()):
                if q.kind in ranks:
                    ranks[q.kind].append(judged.rank_of(conn, q, search))
        for kind, floor in FLOORS.items():
            success, _ = judged.scores(ranks[kind])
            assert success >= floor, (kind, ranks[kind])
    finally:
        core.close()
