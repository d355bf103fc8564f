"""Hostile HTML mail rendered in Chromium: no script runs and nothing is fetched from outside.

Each file in tests/web/browser/hostile/ is mailed over SMTP to the running bridge,
then its thread is opened with the HTML view expanded (the sandboxed frame)
and the HTML document is also opened on its own. Every request the browser
makes is intercepted: one to any host but loopback is recorded and refused.
The payloads would set `window.top.__pwned`, change the title, open a dialog,
navigate, or request `/__pwned/…`; none of that may happen.
"""

from __future__ import annotations

import json
import smtplib
import time
from email.message import EmailMessage
from typing import Any

import pytest
from bs4 import BeautifulSoup

from tests.support.browser import Server, new_context
from tests.support.paths import HOSTILE_HTML

pytestmark = pytest.mark.browser

CORPUS = sorted(HOSTILE_HTML.glob("*.html"))
SAFE_SCHEMES = ("http://", "https://", "mailto:")


@pytest.fixture(scope="module")
def hostile_threads(server: Server) -> dict[str, int]:
    """Mail every hostile file to the bridge; name -> thread id once all are filed."""
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as smtp:
        for n, path in enumerate(CORPUS):
            m = EmailMessage()
            m["From"] = "Mallory Example <mallory@example.com>"
            m["To"] = "engineering@lists.example.com"
            m["Subject"] = f"Hostile {path.stem}"
            m["Message-ID"] = f"<hostile-{n}@example.com>"
            m.set_content("Plain text version of a hostile message.\n")
            m.add_alternative(path.read_text(), subtype="html")
            smtp.send_message(m)
    deadline = time.monotonic() + 120
    while True:
        found = json.loads(server.get("/api/search?q=from%3Amallory%40example.com"))
        threads = {r["subject"].removeprefix("Hostile "): r["thread_id"] for r in found["results"]}
        if len(threads) == len(CORPUS) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert sorted(threads) == [p.stem for p in CORPUS]
    return threads


@pytest.mark.parametrize("name", [p.stem for p in CORPUS])
def test_hostile_html_runs_nothing_and_fetches_nothing(
    chromium: Any, server: Server, hostile_threads: dict[str, int], name: str
) -> None:
    """In the thread page's sandboxed frame and on its own, the mail's HTML is inert."""
    context, traffic = new_context(chromium, server)
    dialogs: list[str] = []
    try:
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        thread_url = f"{server.url}/t/{hostile_threads[name]}"
        page.goto(thread_url)
        title = page.title()
        view = page.locator("details.html-view")
        assert view.count() == 1
        view.locator("summary").click()
        frame_el = view.locator("iframe")
        frame = frame_el.content_frame
        frame.locator("body").wait_for(state="attached")
        page.wait_for_load_state("networkidle")
        # Whatever is left to click in the frame is a plain link, never script.
        doc = BeautifulSoup(server.get(f"/m/{_message_pk(frame_el)}/html"), "html.parser")
        for a in doc.find_all("a", href=True):
            href = a["href"].strip()
            assert href.startswith(SAFE_SCHEMES) or "://" not in href, href
            assert not href.lower().startswith(("javascript:", "data:", "vbscript:")), href
        for link in frame.locator("a:not([href^='http'])").all():
            link.click(no_wait_after=True)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__pwned") is None
        assert page.title() == title
        assert page.url == thread_url

        alone = context.new_page()
        alone.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        response = alone.goto(f"{server.url}/m/{_message_pk(frame_el)}/html")
        assert response is not None
        assert "sandbox" in response.headers["content-security-policy"]
        alone.wait_for_load_state("networkidle")
        assert alone.url.endswith("/html")
        assert "pwned" not in alone.title()

        assert dialogs == []
        assert traffic.remote == []
        assert not [u for u in traffic.seen if "__pwned" in u]
    finally:
        context.close()


def _message_pk(frame_el: Any) -> str:
    src = frame_el.get_attribute("src")
    return str(src).split("/")[2]


def test_remote_images_load_only_when_the_reader_asks(
    chromium: Any, server: Server, hostile_threads: dict[str, int]
) -> None:
    """Trackers stay unloaded until "Load remote images"; even then only images are fetched."""
    context, traffic = new_context(chromium, server)
    try:
        page = context.new_page()
        page.goto(f"{server.url}/t/{hostile_threads['08-remote-trackers']}")
        view = page.locator("details.html-view")
        view.locator("summary").click()
        view.locator("iframe").content_frame.locator("body").wait_for(state="attached")
        page.wait_for_load_state("networkidle")
        assert traffic.remote == []
        with page.expect_event("requestfailed"):
            view.get_by_role("link", name="Load remote images").click()
        page.wait_for_load_state("networkidle")
        assert traffic.remote
        assert set(traffic.remote_types) == {"image"}
        assert all("tracker.example.net" in u for u in traffic.remote)
    finally:
        context.close()
