"""Rebuilding the search index of an existing archive: complete, and resumable after a stop."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bridge.core import Core
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from tests.support.search_world import index_rows
from threads import search
from threads.search.reindex import reindex


class Stopped(Exception):
    """Stands for the process being stopped between two batches."""


@pytest.fixture
def core(tmp_path) -> Core:
    from bridge.core import open_core
    from tests.support.env import settings_for

    core = open_core(settings_for(tmp_path / "data"))
    create_community(core)
    deliver(
        core,
        *[
            make_mail(f"Upgrading node {i}", msgid=f"r{i}@example.com", body=f"Reboot {i}.\n")
            for i in range(7)
        ],
    )
    yield core
    core.close()


def found(core: Core, q: str) -> int:
    with core.engine.connect() as conn:
        return search.run(conn, search.parse_query(q)).total_threads


def test_a_stopped_rebuild_carries_on_where_it_was(core: Core) -> None:
    before = index_rows(core)
    with core.engine.begin() as conn:
        # As an index written by older analysis would be: words nobody searches.
        if conn.dialect.name == "sqlite":
            conn.execute(text("DELETE FROM message_fts"))
            conn.execute(
                text(
                    "INSERT INTO message_fts(rowid, subject, body, sender, subject_stems, "
                    "body_stems) SELECT id, 'stale', 'stale', '', '', '' FROM message"
                )
            )
        else:
            conn.execute(text("UPDATE message_fts SET tsv = to_tsvector('simple', 'stale')"))
    assert found(core, "upgrade") == 0
    seen: list[tuple[int, int]] = []

    def stop_after_two(done: int, total: int) -> None:
        seen.append((done, total))
        if len(seen) == 2:
            raise Stopped

    with pytest.raises(Stopped):
        reindex(core.engine, stop_after_two, batch=2)
    assert seen == [(2, 7), (4, 7)]
    assert found(core, "upgrade") == 4  # the batches written so far stay written
    resumed: list[tuple[int, int]] = []
    written = reindex(core.engine, lambda d, t: resumed.append((d, t)), batch=2)
    assert written == 3
    assert resumed == [(6, 7), (7, 7)]
    assert index_rows(core) == before
    assert found(core, "upgrade") == 7
    with core.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM message_fts_progress")).scalar_one() == 0


def test_restart_rebuilds_from_the_first_message(core: Core) -> None:
    with pytest.raises(Stopped):
        reindex(core.engine, lambda d, t: (_ for _ in ()).throw(Stopped), batch=3)
    assert reindex(core.engine, restart=True, batch=3) == 7
    assert found(core, "upgrading") == 7


def test_withdrawn_messages_stay_out_of_a_rebuilt_index(core: Core) -> None:
    from threads.search import unindex_message

    with core.engine.begin() as conn:
        unindex_message(conn, 1)
    assert reindex(core.engine) == 6
    assert found(core, "upgrade") == 6
