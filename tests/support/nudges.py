"""Consent nudges as their recipient meets them: read from the Maildir outbox,
their two links found in the text, and followed in the web app as a person
clicks (GET the page, then POST its button with the page's CSRF token)."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from bridge.core import Core
from bridge.outbound.sender import Sender
from tests.support import replies
from web.app import create_app

PUBLIC = "https://bridge.example.com"


LINK = re.compile(re.escape(PUBLIC) + r"/consent/[A-Za-z0-9_-]+")


def outbox(core: Core) -> list[EmailMessage]:
    """What the sender delivered into the Maildir outbox, after delivering what is due."""
    Sender(core.engine, core.settings).deliver_due()
    return replies.outbox(core)


def nudges_in(core: Core) -> list[EmailMessage]:
    return [m for m in outbox(core) if str(m["Message-ID"]).startswith("<nudge.")]


def plain(msg: EmailMessage) -> str:
    return str(msg.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def links_of(msg: EmailMessage) -> tuple[str, str]:
    """(open, keep private) links, in the order the nudge gives them."""
    found = LINK.findall(plain(msg))
    assert len(found) == 2, plain(msg)
    return found[0], found[1]


def client_for(core: Core) -> TestClient:
    return TestClient(create_app(core), base_url=PUBLIC, follow_redirects=False)


def form_token(page: str) -> str:
    soup = BeautifulSoup(page, "html.parser")
    return str(soup.find("input", attrs={"name": "csrf_token"})["value"])  # type: ignore[index]


def click(client: TestClient, link: str, action: str) -> Any:
    """What a person does: follow the mailed link, then press the page's button."""
    page = client.get(link)
    assert page.status_code == 200, page.text
    return client.post(link, data={"action": action, "csrf_token": form_token(page.text)})
