"""Unsubscribe and mute from a mailed link, without logging in: the page and RFC 8058 one-click."""

from __future__ import annotations

from email.message import EmailMessage

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from bridge.core import Core
from bridge.outbound.sender import Sender
from bridge.posting import post_reply
from tests.support import replies
from tests.support.replies import EDITOR, mail_to, web_reply_mailed
from threads.models import DeliveryPreference, ThreadSubscription
from web.app import create_app

# The reply set-up's fixtures (tests/support/replies.py) in place of the plain core.
core = replies.core


def links(msg: EmailMessage) -> tuple[str, str]:
    """(https link, mailto link) of List-Unsubscribe."""
    values = [v.strip(" <>") for v in str(msg["List-Unsubscribe"]).split(",")]
    https = next(v for v in values if v.startswith("https://"))
    mailto = next(v for v in values if v.startswith("mailto:"))
    return https, mailto


def path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def anonymous(core: Core) -> TestClient:
    return TestClient(
        create_app(core), base_url="https://testserver", raise_server_exceptions=False
    )


def test_one_click_post_stops_community_mail_without_a_session(core: Core) -> None:
    """RFC 8058: POST List-Unsubscribe=One-Click to the link; no cookie, no CSRF token."""
    thread_id, _ = web_reply_mailed(core)
    (mine,) = mail_to(core, "x@example.com")
    https, mailto = links(mine)
    assert mailto.endswith("?subject=unsubscribe")
    response = anonymous(core).post(path(https), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    with core.engine.connect() as conn:
        (pref,) = conn.execute(select(DeliveryPreference)).all()
    assert (pref.address, pref.mode) == ("x@example.com", "web")
    post_reply(core, EDITOR, thread_id, "Another update.\n", name="Local Admin")
    Sender(core.engine, core.settings).run_once()
    assert len(mail_to(core, "x@example.com")) == 1
    assert len(mail_to(core, "y@example.com")) == 2


def test_page_offers_choices_and_get_changes_nothing(core: Core) -> None:
    """Following the link shows the address and options; only the button mutes."""
    thread_id, _ = web_reply_mailed(core)
    (mine,) = mail_to(core, "y@example.com")
    https, _ = links(mine)
    client = anonymous(core)
    page = client.get(path(https) + "?do=mute")
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    assert "y@example.com" in soup.get_text()
    buttons = {b["value"] for b in soup.select("form button[name=action]")}
    assert buttons == {"mute", "web", "digest"}
    with core.engine.connect() as conn:
        assert conn.execute(select(ThreadSubscription)).all() == []
    done = client.post(path(https), data={"action": "mute", "csrf_token": ""})
    assert done.status_code == 200
    assert "no more mail about this thread" in done.text
    with core.engine.connect() as conn:
        (choice,) = conn.execute(select(ThreadSubscription)).all()
    assert (choice.thread_id, choice.address, choice.state) == (thread_id, "y@example.com", "muted")
    assert "Unmute this thread" in done.text


def test_forged_or_damaged_links_are_not_found(core: Core) -> None:
    """A token that does not verify gets 404, for GET and for POST."""
    web_reply_mailed(core)
    (mine,) = mail_to(core, "y@example.com")
    https, _ = links(mine)
    bad = path(https)[:-3] + ("AAA" if not path(https).endswith("AAA") else "BBB")
    client = anonymous(core)
    assert client.get(bad).status_code == 404
    assert client.post(bad, data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert client.get("/unsubscribe/not-a-token").status_code == 404


def test_signed_in_reader_watches_a_thread_and_gets_its_mail(core: Core) -> None:
    """A reader never on cc watches from the web; the next reply is mailed to them too."""
    from threads.access import Viewer
    from web.viewer import current_viewer

    thread_id, _ = web_reply_mailed(core)
    (mine,) = mail_to(core, "y@example.com")
    https, _ = links(mine)
    app = create_app(core)
    reader = Viewer(email="reader@example.com", person_id=99, is_admin=True)
    app.dependency_overrides[current_viewer] = lambda: reader
    client = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
    page = BeautifulSoup(client.get(path(https)).text, "html.parser")
    token = page.find("input", {"name": "csrf_token"})["value"]
    done = client.post(
        f"/t/{thread_id}/mail",
        data={"action": "watch", "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert (
        client.post(
            f"/t/{thread_id + 99}/mail", data={"action": "watch", "csrf_token": token}
        ).status_code
        == 404
    )
    post_reply(core, EDITOR, thread_id, "Watchers welcome.\n", name="Local Admin")
    Sender(core.engine, core.settings).run_once()
    (copy,) = mail_to(core, "reader@example.com")
    assert copy.get_body(("plain",)).get_content().startswith("Watchers welcome.")
