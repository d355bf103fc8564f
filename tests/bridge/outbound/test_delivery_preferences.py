"""Per-community delivery preference: every message, a daily digest, or web only."""

from __future__ import annotations

from sqlalchemy import select

from bridge.core import Core
from bridge.outbound.sender import Sender
from bridge.posting import post_reply
from tests.support import replies
from tests.support.replies import EDITOR, archived_thread, mail_to
from threads import outbound
from threads.db import writer
from threads.models import Community, Notification

# The reply set-up's fixtures (tests/support/replies.py) in place of the plain core.
core = replies.core


def test_digest_collects_a_days_messages_and_web_only_gets_none(core: Core) -> None:
    """Digest readers get one Auto-Submitted mail with both posts; web-only readers none."""
    thread_id = archived_thread(core)
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


def test_member_who_chose_every_message_gets_other_threads_too(core: Core) -> None:
    """A member's "every message" brings mail of threads they were never on; others' doesn't."""
    from bs4 import BeautifulSoup
    from fastapi.testclient import TestClient

    from bridge import admin
    from threads.access import viewer_for
    from web.app import create_app
    from web.viewer import current_viewer

    thread_id = archived_thread(core)
    with writer(core.engine).begin() as conn:
        admin.set_member(conn, "eng", "mia@example.com")
    with core.engine.connect() as conn:
        mia = viewer_for(conn, "mia@example.com", [])
    app = create_app(core)
    app.dependency_overrides[current_viewer] = lambda: mia
    client = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
    page = BeautifulSoup(client.get("/c/eng/mail").text, "html.parser")
    token = page.find("input", {"name": "csrf_token"})["value"]
    chosen = client.post(
        "/c/eng/mail", data={"mode": "each", "csrf_token": token}, follow_redirects=False
    )
    assert chosen.status_code == 303
    # An outsider with a mailed link chose "each" too, but is no member: no community mail.
    with writer(core.engine).begin() as conn:
        community_id = conn.execute(select(Community.id)).scalar_one()
        outbound.set_preference(conn, community_id, "outsider@example.net", "each")
    post_reply(core, EDITOR, thread_id, "News for everyone.\n", name="Lee")
    Sender(core.engine, core.settings).run_once()
    (copy,) = mail_to(core, "mia@example.com")
    assert copy.get_body(("plain",)).get_content().startswith("News for everyone.")
    assert mail_to(core, "outsider@example.net") == []
    # Not a member: the page is closed to them.
    app.dependency_overrides[current_viewer] = lambda: EDITOR
    assert client.get("/c/eng/mail").status_code == 403


def test_disabled_person_is_never_mailed(core: Core) -> None:
    """An admin disabled p0 (left the company): their copies are skipped, not queued."""
    from bridge import admin

    thread_id = archived_thread(core)
    with writer(core.engine).begin() as conn:
        admin.set_disabled(conn, "p0@example.com")
    post_reply(core, EDITOR, thread_id, "Still here?\n", name="Lee")
    Sender(core.engine, core.settings).run_once()
    assert mail_to(core, "p0@example.com") == []
    assert len(mail_to(core, "p1@example.com")) == 1
