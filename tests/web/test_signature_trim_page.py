"""A sender's undelimited signature, learnt from their own mail, is trimmed on the thread page.

World: one thread of three messages from a fictional sender who signs every
message with the same three lines and no "-- " separator, and one reply from
someone else whose last line happens to repeat hers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from bridge.core import Core
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from threads.access import Viewer
from web.app import create_app
from web.viewer import current_viewer

READER = Viewer(email="reader@example.com", org=True)
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SIGNATURE = "Nadia Quill\nStaff Engineer | Example Widgets\n+1 555 0100 ext. 42"
TEXTS = [
    "The cache warms in four minutes now.",
    "I measured it twice; the numbers hold.",
    "Shipping it on Thursday unless someone objects.",
]


def _mail(i: int, body: str, sender: str = "Nadia Quill <nadia@example.com>") -> bytes:
    return make_mail(
        ("Re: " if i else "") + "Cache warm-up",
        sender=sender,
        msgid=f"sig{i}@example.com",
        in_reply_to=f"sig{i - 1}@example.com" if i else None,
        references=" ".join(f"<sig{j}@example.com>" for j in range(i)) or None,
        date=BASE + timedelta(minutes=i),
        body=body,
    )


@pytest.fixture(autouse=True)
def _community(core: Core) -> None:
    """Every test files into one org community (`core` is tests/support/fixtures.py's)."""
    create_community(core)


def _page(core: Core) -> BeautifulSoup:
    app = create_app(core)
    app.dependency_overrides[current_viewer] = lambda: READER
    client = TestClient(app)
    with core.engine.connect() as conn:
        from sqlalchemy import text

        thread = conn.execute(text("SELECT id FROM thread ORDER BY id LIMIT 1")).scalar_one()
    page = client.get(f"/t/{thread}?all=1")
    assert page.status_code == 200
    return BeautifulSoup(page.text, "html.parser")


def test_repeated_signature_leaves_every_body_and_waits_behind_show_signature(
    core: Core,
) -> None:
    """Each of the three messages shows its text without the signature lines, which are
    behind each message's "Show signature"; one message at a time, as mail arrives."""
    for i, text in enumerate(TEXTS):
        deliver(core, _mail(i, f"Hi all,\n\n{text}\n\n{SIGNATURE}\n"))
    # A reply from someone else: its text stays whole, even a line hers also ends with.
    deliver(core, _mail(3, "Thanks Nadia, fine by me.\n\nNadia Quill\n", "Omar <omar@example.com>"))
    soup = _page(core)
    messages = soup.select("li.message article")
    assert len(messages) == 4
    for article, text in zip(messages, TEXTS, strict=False):
        body = article.select_one(".body.blocks").get_text("\n")
        assert text in body
        assert "Staff Engineer" not in body
        signature = article.select_one("details.signature .body")
        assert signature is not None
        assert "Staff Engineer | Example Widgets" in signature.get_text()
    last = messages[3].get_text("\n")
    assert "Thanks Nadia, fine by me." in last
    assert "Nadia Quill" in last
    assert messages[3].select_one("details.signature") is None


def test_two_messages_alike_are_not_enough(core: Core) -> None:
    """Two messages ending alike may be chance: nothing is trimmed until a third."""
    for i, text in enumerate(TEXTS[:2]):
        deliver(core, _mail(i, f"Hi all,\n\n{text}\n\n{SIGNATURE}\n"))
    soup = _page(core)
    for article in soup.select("li.message article"):
        assert "Staff Engineer" in article.select_one(".body.blocks").get_text()
        assert article.select_one("details.signature") is None
