"""The admin outbox and bounces pages: what was sent and why not, for admins only."""

from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from bridge.core import Core
from tests.support import replies
from tests.support.replies import web_reply_mailed
from threads import outbound
from threads.access import ANONYMOUS, LOCAL_ADMIN, Viewer
from threads.db import writer
from threads.models import MailAddress
from web.app import create_app
from web.viewer import current_viewer

# The reply set-up's fixtures (tests/support/replies.py) in place of the plain core.
core = replies.core


def client_as(core: Core, viewer: Viewer) -> TestClient:
    app = create_app(core)
    app.dependency_overrides[current_viewer] = lambda: viewer
    return TestClient(app, base_url="https://testserver", raise_server_exceptions=False)


def test_admin_sees_sent_mail_and_its_headers(core: Core) -> None:
    """The outbox lists each copy with its state; one message shows its header and text."""
    web_reply_mailed(core)
    client = client_as(core, LOCAL_ADMIN)
    page = BeautifulSoup(client.get("/admin/outbox?state=sent").text, "html.parser")
    rows = page.select("table.outbox tbody tr")
    assert len(rows) == 5
    assert "x@example.com" in page.get_text()
    first = rows[0].find("a")["href"]
    detail = client.get(first)
    assert detail.status_code == 200
    assert "List-Unsubscribe-Post" in detail.text
    assert "Agreed, ship it on Monday." in detail.text


def test_bounced_addresses_show_why_and_can_be_sent_to_again(core: Core) -> None:
    """A stopped address is listed with the last reason; an admin re-enables it."""
    with writer(core.engine).begin() as conn:
        for _ in range(3):
            outbound.record_bounce(
                conn, "gone@example.com", permanent=True, reason="hard bounce 5.1.1", limit=3
            )
    client = client_as(core, LOCAL_ADMIN)
    page = client.get("/admin/bounces")
    soup = BeautifulSoup(page.text, "html.parser")
    assert "gone@example.com" in soup.get_text()
    assert "hard bounce 5.1.1" in soup.get_text()
    token = soup.find("input", {"name": "csrf_token"})["value"]
    done = client.post(
        "/admin/bounces/enable",
        data={"address": "gone@example.com", "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with core.engine.connect() as conn:
        (state,) = conn.execute(select(MailAddress)).all()
    assert (state.disabled, state.hard_bounces) == (False, 0)


def test_not_for_anyone_else(core: Core) -> None:
    """Anonymous and ordinary people get 404, as for a page that does not exist."""
    web_reply_mailed(core)
    for viewer in (ANONYMOUS, Viewer(email="ana@example.com", person_id=1)):
        client = client_as(core, viewer)
        for path in ("/admin/outbox", "/admin/outbox/1", "/admin/bounces"):
            assert client.get(path).status_code == 404


def test_cli_lists_outbox_and_bounces(core: Core) -> None:
    """`bridge outbox --json` and `--bounces` show the same as the pages; --enable resumes."""
    import json

    from click.testing import CliRunner

    from bridge.cli import main

    web_reply_mailed(core)
    with writer(core.engine).begin() as conn:
        outbound.record_bounce(conn, "x@example.com", permanent=True, reason="hard 5.1.1", limit=1)
    env = {"BRIDGE_DATABASE_URL": core.settings.database_url}
    data = ["--data", str(core.settings.data)]
    runner = CliRunner()
    sent = runner.invoke(main, ["outbox", "--state", "sent", "--json", *data], env=env)
    assert sent.exit_code == 0, sent.output
    items = [json.loads(line) for line in sent.output.splitlines()]
    assert len(items) == 5
    assert {i["state"] for i in items} == {"sent"}
    bounced = runner.invoke(main, ["outbox", "--bounces", "--json", *data], env=env)
    (item,) = [json.loads(line) for line in bounced.output.splitlines()]
    assert (item["address"], item["disabled"], item["last_reason"]) == (
        "x@example.com",
        True,
        "hard 5.1.1",
    )
    again = runner.invoke(main, ["outbox", "--enable", "x@example.com", *data], env=env)
    assert "mail resumes" in again.output
