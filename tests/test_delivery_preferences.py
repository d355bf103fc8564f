"""Per-community delivery preference: every message, a daily digest, or web only."""

from __future__ import annotations

from sqlalchemy import select

from bridge.core import Core
from bridge.posting import post_reply
from bridge.sender import Sender
from tests.test_reply_by_email import EDITOR, _thread, core, mail_to  # noqa: F401 (fixture)
from threads import outbound
from threads.db import writer
from threads.models import Community, Notification


def test_digest_collects_a_days_messages_and_web_only_gets_none(core: Core) -> None:  # noqa: F811
    """Digest readers get one Auto-Submitted mail with both posts; web-only readers none."""
    thread_id = _thread(core)
    with writer(core.engine).begin() as conn:
        community_id = conn.execute(select(Community.id)).scalar_one()
        outbound.set_preference(conn, community_id, "x@example.com", "digest")
        outbound.set_preference(conn, community_id, "y@example.com", "web")
    sender = Sender(core.engine, core.settings)
    post_reply(core, EDITOR, thread_id, "First update.\n", name="Local Admin")
    post_reply(core, EDITOR, thread_id, "Second update.\n", name="Local Admin")
    # Compose the posts only: the digest has not been made yet.
    assert sender.compose_notifications() == (6, 4)
    sender.deliver_due()
    assert mail_to(core, "x@example.com") == []
    assert len(mail_to(core, "p0@example.com")) == 2
    assert sender.compose_digests() == 1
    sender.deliver_due()
    (digest,) = mail_to(core, "x@example.com")
    assert digest["Auto-Submitted"] == "auto-generated"
    assert digest["Subject"] == "Engineering digest: 2 new messages"
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = digest.get_body(("plain",)).get_content()
    assert text.index("First update.") < text.index("Second update.")
    assert mail_to(core, "y@example.com") == []
    # One digest a day: nothing new goes out until a day has passed.
    post_reply(core, EDITOR, thread_id, "Third update.\n", name="Local Admin")
    sender.run_once()
    assert len(mail_to(core, "x@example.com")) == 1
    with core.engine.connect() as conn:
        states = dict(
            conn.execute(
                select(Notification.recipient, Notification.state).order_by(Notification.id)
            ).all()
        )
    assert (states["x@example.com"], states["y@example.com"]) == ("digest", "web-only")
