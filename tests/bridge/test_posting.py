"""A web reply goes through the pipeline into the thread and is owed to the e-mail participants."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge import admin
from bridge.core import Core
from bridge.errors import PostRefused
from bridge.posting import post_reply
from tests.support.replies import archived_thread
from threads.access import ANONYMOUS, LOCAL_ADMIN
from threads.db import writer
from threads.models import Message, Notification, RawMessage


def _thread(core: Core) -> int:
    with writer(core.engine).begin() as conn:
        admin.add_community(conn, "eng", "Engineering", addresses=["eng@lists.example.com"])
    return archived_thread(core, source="smtp")


def test_web_reply_is_filed_in_the_thread_and_owed_to_participants(core: Core) -> None:
    thread_id = _thread(core)
    pk = post_reply(
        core, LOCAL_ADMIN, thread_id, "Agreed, ship it on Monday.\n", name="Local Admin"
    )
    with core.engine.connect() as conn:
        row = conn.execute(select(Message).where(Message.id == pk)).one()
        owed = set(
            conn.execute(
                select(Notification.recipient).where(Notification.message_pk == pk)
            ).scalars()
        )
        source = conn.execute(
            select(RawMessage.source).where(RawMessage.id == row.raw_id)
        ).scalar_one()
    assert row.thread_id == thread_id
    assert row.visible_text == "Agreed, ship it on Monday."
    assert row.chain[-1] == "c2@example.com"
    assert source == "web"
    assert owed == {
        "p0@example.com",
        "p1@example.com",
        "p2@example.com",
        "x@example.com",
        "y@example.com",
    }


@pytest.mark.parametrize("body", ["", "   \n"])
def test_empty_reply_is_refused(core: Core, body: str) -> None:
    thread_id = _thread(core)
    with pytest.raises(PostRefused, match="empty"):
        post_reply(core, LOCAL_ADMIN, thread_id, body)


def test_anonymous_and_unknown_threads_are_refused_alike(core: Core) -> None:
    thread_id = _thread(core)
    with pytest.raises(PostRefused, match="no thread"):
        post_reply(core, ANONYMOUS, thread_id, "hello")
    with pytest.raises(PostRefused, match="no thread"):
        post_reply(core, LOCAL_ADMIN, thread_id + 1000, "hello")


def test_a_reply_a_worker_filed_first_is_reported_as_posted(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a pipeline worker in the same process, the worker may file the reply first."""
    thread_id = _thread(core)
    real_run = core.pipeline.run

    def worker_first(ids, **kw):  # type: ignore[no-untyped-def]
        real_run(ids)  # the worker, woken by the accept, runs it...
        return real_run(ids, **kw)  # ...so post_reply's own run finds nothing pending

    monkeypatch.setattr(core.pipeline, "run", worker_first)
    pk = post_reply(core, LOCAL_ADMIN, thread_id, "Filed by the worker.\n")
    with core.engine.connect() as conn:
        assert conn.execute(select(Message.visible_text).where(Message.id == pk)).scalar_one() == (
            "Filed by the worker."
        )
