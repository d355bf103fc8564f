"""A thread is titled by its first message's subject without reply or forward prefixes,
and mail without a Date is dated when it arrived, so it opens its thread."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bridge.core import Core
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from threads import queries
from threads.models import Message, Thread, as_utc, utcnow
from threads.threading import thread_title


@pytest.mark.parametrize(
    ("subject", "title"),
    [
        ("Re: Hello", "Hello"),
        ("RE: Hello", "Hello"),
        ("AW: Re: Hello", "Hello"),
        ("SV: Hello", "Hello"),
        ("Fwd: Hello", "Hello"),
        ("Antw: Hello", "Hello"),
        ("Ré: Hello", "Hello"),
        ("Re[2]: [eng] Re:  Hello   world", "Hello world"),
        ("[PATCH v2 1/3] Re: fix", "[PATCH v2 1/3] Re: fix"),  # a posting's tag stays
        ("Hello", "Hello"),
        ("Re:", "Re:"),  # nothing but a prefix: kept rather than no title
        ("", ""),
    ],
)
def test_thread_title(subject: str, title: str) -> None:
    """Prefixes in the languages clients use, and list tags, leave the title."""
    assert thread_title(subject) == title


def _thread(core: Core) -> Thread:
    with core.engine.connect() as conn:
        return conn.execute(select(Thread).where(Thread.message_count > 0)).one()


def test_reply_arriving_first_does_not_title_the_thread_re(core: Core) -> None:
    """A reply filed before what it answers names the thread by the cleaned subject."""
    create_community(core)
    parent = make_mail(msgid="p@example.com", subject="Budget")
    reply = make_mail(msgid="r@example.com", subject="AW: Budget", in_reply_to="p@example.com")
    deliver(core, reply)
    assert _thread(core).subject == "Budget"
    deliver(core, parent)
    assert _thread(core).subject == "Budget"


def test_mail_without_date_is_dated_when_it_arrived(core: Core) -> None:
    """No Date header: the message takes its arrival time, opens its thread and leads the list;
    a dated reply after it keeps the thread's title."""
    cid = create_community(core)
    deliver(core, make_mail(msgid="old@example.com", subject="Older news"))
    before = utcnow()
    raw = (
        b"From: ana@example.com\r\nTo: eng@lists.example.com\r\nSubject: Hello\r\n"
        b"Content-Type: text/plain\r\n\r\nFirst post by e-mail.\r\n"
    )
    deliver(core, raw)
    after = utcnow()
    with core.engine.connect() as conn:
        date = conn.execute(select(Message.date).where(Message.subject == "Hello")).scalar_one()
        assert before - timedelta(seconds=1) <= as_utc(date) <= after
        page, _, _ = queries.threads_page(conn, cid)
        hello = page[0]
        assert hello.subject == "Hello"
        message_id = conn.execute(
            select(Message.message_id).where(Message.subject == "Hello")
        ).scalar_one()
    reply = make_mail(
        msgid="re@example.com", subject="Re: Hello", in_reply_to=message_id, date=utcnow()
    )
    deliver(core, reply)
    with core.engine.connect() as conn:
        page, _, _ = queries.threads_page(conn, cid)
    assert (page[0].id, page[0].subject, page[0].message_count) == (hello.id, "Hello", 2)
