"""A consent nudge in a real Chromium: the starter follows the mailed link and clicks Open.

The server is `bridge serve --demo` (web, worker, SMTP and sender roles) with a
public URL, so the nudge's links point at it. A conversation is sent through
the real SMTP listener to a consent route; the nudge is read from the Maildir
outbox; the browser has no session: the signed link alone authorises the click.
"""

from __future__ import annotations

import mailbox
import re
import smtplib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from tests.support.browser import ROOT, Server, wait_for_server
from tests.support.env import bridge_env
from tests.support.net import free_port

pytestmark = pytest.mark.browser

ROUTE = "drills@lists.example.com"
ANA = "ana@example.com"
T = TypeVar("T")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, playwright_api: Any) -> Iterator[Server]:
    """The demo server with BRIDGE_PUBLIC_URL set to itself and a consent-routed community."""
    data = tmp_path_factory.mktemp("consent-browser") / "data"
    web_port, smtp_port = free_port(), free_port()
    url = f"http://127.0.0.1:{web_port}"
    env = bridge_env(
        data, BRIDGE_ORG_DOMAINS="example.com", BRIDGE_PUBLIC_URL=url, PYTHONPATH=str(ROOT)
    )
    cmd = [sys.executable, "-m", "bridge", "serve", "--demo", "--data", str(data)]
    cmd += ["--web-port", str(web_port), "--smtp-port", str(smtp_port)]
    for role in ("web", "worker", "smtp", "sender"):
        cmd += ["--role", role]
    log = (data.parent / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_server(url + "/login", proc, data.parent / "serve.log")
        _add_consent_route(data, env)
        yield Server(url, smtp_port, data, env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _open_core(data: Path, env: dict[str, str]) -> Any:
    from bridge.core import open_core
    from bridge.settings import load_settings

    return open_core(load_settings(data=data, database_url=env.get("BRIDGE_DATABASE_URL") or None))


def _add_consent_route(data: Path, env: dict[str, str]) -> None:
    from bridge import admin, route_admin
    from threads.db import writer

    core = _open_core(data, env)
    try:
        with writer(core.engine).begin() as conn:
            admin.add_community(conn, "drills", "Drills", addresses=[])
            route_admin.add_route(conn, "drills", "address", ROUTE, policy="consent")
    finally:
        core.close()


def _eventually(probe: Callable[[], T | None], what: str, seconds: float = 60) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (found := probe()) is not None:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _send_conversation(server: Server) -> None:
    msg = EmailMessage()
    msg["From"] = f"Ana Lima <{ANA}>"
    msg["To"] = "bob@example.com"
    msg["Cc"] = f"cal@example.com, {ROUTE}"
    msg["Subject"] = "Quarterly failover drill"
    msg["Message-ID"] = "<drill-browser@example.com>"
    msg.set_content("Hi both,\nthe failover drill is on Thursday at ten.\n")

    def accepted() -> bool | None:
        # The listener reloads its route table every few seconds: retry until it knows ROUTE.
        try:
            with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as smtp:
                smtp.send_message(msg, from_addr=ANA, to_addrs=[ROUTE])
        except smtplib.SMTPRecipientsRefused:
            return None
        return True

    _eventually(accepted, "the SMTP listener to take the consent route", 30)


def _nudge_link(server: Server) -> str:
    def find() -> str | None:
        box = mailbox.Maildir(server.data / "outbox", create=True)
        for item in box:
            mail = message_from_bytes(bytes(item), policy=policy.default)  # type: ignore[arg-type]
            if str(mail["Message-ID"]).startswith("<nudge."):
                text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
                return str(re.findall(re.escape(server.url) + r"/consent/[\w-]+", text)[0])
        return None

    return _eventually(find, "the nudge in the outbox")


def _filed(server: Server) -> int | None:
    from threads.models import Message

    core = _open_core(server.data, server.env)
    try:
        with core.engine.connect() as conn:
            return conn.execute(
                select(Message.thread_id).where(Message.message_id == "drill-browser@example.com")
            ).scalar()
    finally:
        core.close()


def test_starter_opens_the_conversation_from_the_nudge(chromium: Any, server: Server) -> None:
    """Mailed link → confirmation page (no login) → Open → published in the community."""
    _send_conversation(server)
    link = _nudge_link(server)
    assert _filed(server) is None  # nothing published before anyone says so
    context = chromium.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(link)
        assert page.get_by_role("heading", name="Share this conversation?").is_visible()
        main = page.locator("main").inner_text()
        assert "Quarterly failover drill" in main
        assert "3 people on it" in main
        assert "Drills" in main
        page.get_by_role("button", name="Open it to Drills").click()
        page.get_by_text("The conversation is open.").wait_for()
        assert page.get_by_role("button").filter(has_text="Open it").count() == 0
        thread_id = _eventually(lambda: _filed(server), "the worker to publish the thread")
        page.reload()
        assert page.get_by_role("link", name="read it in Drills").get_attribute("href") == (
            f"/t/{thread_id}"
        )
        assert errors == []
    finally:
        context.close()
