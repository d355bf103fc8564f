"""Admin and moderation pages do what the CLI does, and audit it."""

from __future__ import annotations

import mailbox
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from bridge import admin, route_admin
from bridge.core import Core, open_core
from tests.support.env import settings_for
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from tests.support.sessions import sign_in
from threads.access import viewer_for
from threads.db import writer
from threads.models import ImapFolder
from web.app import create_app


@pytest.fixture
def core(tmp_path: Path):  # type: ignore[no-untyped-def]
    c = open_core(settings_for(tmp_path / "data", org_domains=["example.com"]))
    yield c
    c.close()


def as_(core: Core, email: str, *, is_admin: bool = False) -> TestClient:
    client = TestClient(create_app(core), follow_redirects=False)
    sign_in(client, core, email, is_admin=is_admin)
    return client


def post(client: TestClient, path: str, **form: str) -> Any:
    page = BeautifulSoup(client.get("/me").text, "html.parser")
    token = page.find("input", attrs={"name": "csrf_token"})["value"]
    return client.post(path, data={**form, "csrf_token": token})


def note(response: Any) -> str:
    return response.headers["location"]


def test_admin_creates_and_edits_a_community(core: Core) -> None:
    """Create, change visibility and posting, archive: each lands in the audit log."""
    boss = as_(core, "boss@example.com", is_admin=True)
    assert post(boss, "/admin/communities", slug="hr", name="HR").status_code == 303
    response = post(
        boss,
        "/admin/c/hr/settings",
        name="People team",
        visibility="members",
        posting="members",
        archived="true",
    )
    assert response.status_code == 303
    page = BeautifulSoup(boss.get("/admin/c/hr").text, "html.parser")
    assert page.h1.get_text() == "People team"
    with core.engine.connect() as conn:
        actions = [(r.actor, r.action) for r in admin.audit_log(conn)]
    assert actions[:2] == [
        ("boss@example.com", "community.archive"),
        ("boss@example.com", "community.create"),
    ]
    audit = boss.get("/admin/audit").text
    assert "community.archive" in audit


def test_route_test_box_answers_where_mail_would_go(core: Core) -> None:
    """The test box runs the pipeline's routing on a made-up message."""
    create_community(core)
    boss = as_(core, "boss@example.com", is_admin=True)
    post(boss, "/admin/c/eng/routes", kind="list_id", value="eng.lists.example.com")
    by_list = boss.get("/admin/routes", params={"list_id": "eng.lists.example.com"})
    assert "Filed in: eng" in by_list.text
    by_address = boss.get("/admin/routes", params={"to": "ENG@lists.example.com"})
    assert "Filed in: eng" in by_address.text
    nowhere = boss.get("/admin/routes", params={"to": "nobody@lists.example.com"})
    assert "Held: no route" in nowhere.text


def test_moderator_manages_members_but_not_settings(core: Core) -> None:
    """A moderator adds members to their community; settings and other communities are closed."""
    create_community(core, visibility="members")
    create_community(core, slug="ops", name="Ops", addresses=["ops@lists.example.com"])
    with writer(core.engine).begin() as conn:
        admin.set_member(conn, "eng", "mod@partner.example", "moderator")
    mod = as_(core, "mod@partner.example")
    assert post(mod, "/admin/c/eng/members", email="new@partner.example").status_code == 303
    with core.engine.connect() as conn:
        assert viewer_for(conn, "new@partner.example", []).person_id is not None
        (row,) = [m for m in admin.members(conn, 1) if m.email == "new@partner.example"]
    assert row.role == "member"
    refused = post(mod, "/admin/c/eng/settings", name="X", visibility="public", posting="anyone")
    assert refused.status_code == 404
    assert post(mod, "/admin/c/ops/members", email="x@partner.example").status_code == 404
    assert mod.get("/admin/c/ops").status_code == 404


def test_admin_disables_a_person_from_the_web(core: Core) -> None:
    """Disabling ends the person's session at once."""
    victim = as_(core, "ana@example.com")
    assert victim.get("/me").status_code == 200
    boss = as_(core, "boss@example.com", is_admin=True)
    assert post(boss, "/admin/people", email="Ana@Example.com", action="disable").status_code == 303
    assert victim.get("/me").status_code == 303  # sent to the login page
    assert "ana@example.com" in boss.get("/admin/people").text


def test_moderator_decides_held_mail_of_their_community_only(core: Core) -> None:
    """Moderators see and decide held mail routed to their communities; rejection mails a reason."""
    create_community(core, posting="members")
    create_community(
        core, slug="ops", name="Ops", addresses=["ops@lists.example.com"], posting="members"
    )
    with writer(core.engine).begin() as conn:
        admin.set_member(conn, "eng", "mod@partner.example", "moderator")
    (mine,) = deliver(
        core, make_mail("Hello eng", sender="eve@outside.example", msgid="a@x.example")
    )
    (theirs,) = deliver(
        core,
        make_mail(
            "Hello ops",
            sender="eve@outside.example",
            to="ops@lists.example.com",
            msgid="b@x.example",
        ),
    )
    mod = as_(core, "mod@partner.example")
    page = mod.get("/admin/held").text
    assert "Hello eng" in page
    assert "Hello ops" not in page
    one = mod.get(f"/admin/held/{mine.raw_id}")
    assert one.status_code == 200
    assert "please see the plan" in one.text
    assert mod.get(f"/admin/held/{theirs.raw_id}").status_code == 404
    assert post(mod, f"/admin/held/{theirs.raw_id}", decision="approve").status_code == 404
    done = post(mod, f"/admin/held/{mine.raw_id}", decision="reject", reason="Members only, sorry.")
    assert done.status_code == 303
    (notice,) = list(mailbox.Maildir(core.settings.outbox_dir, create=True))
    assert notice["To"] == "eve@outside.example"
    boss = as_(core, "boss@example.com", is_admin=True)
    assert post(boss, f"/admin/held/{theirs.raw_id}", decision="approve").status_code == 303
    log = boss.get("/admin/log").text
    assert "rejected by a moderator: Members only, sorry." in log
    assert boss.get("/admin/log", params={"state": "done"}).text.count("Hello ops") == 1


def test_community_page_lists_polled_folders_without_secrets(core: Core) -> None:
    """IMAP folders routed to a community are shown; only the secret's name is stored anyway."""
    create_community(core)
    with writer(core.engine).begin() as conn:
        route_admin.add_imap_route(
            conn, "eng", "imaps://team@imap.example.com/INBOX", password_env="TEAM_IMAP_PASSWORD"
        )
    page = as_(core, "boss@example.com", is_admin=True).get("/admin/c/eng").text
    assert "imaps://team@imap.example.com" in page
    assert "TEAM_IMAP_PASSWORD" not in page


def test_admin_adds_a_polled_folder_from_the_web(core: Core) -> None:
    """The same as `bridge route add --imap`: the URL normalised, the secret only named."""
    create_community(core)
    client = as_(core, "boss@example.com", is_admin=True)
    form = {"url": "IMAPS://Team@IMAP.example.com/INBOX", "secret": "TEAM_IMAP_PASSWORD"}
    done = post(client, "/admin/c/eng/folders", **form, kept_in="env", after="flag")
    assert done.status_code == 303
    page = client.get(done.headers["location"]).text
    assert "imaps://team@imap.example.com" in page.lower()
    assert "flag" in page
    with core.engine.connect() as conn:
        row = conn.execute(select(ImapFolder)).one()
    assert (row.password_env, row.secret_file, row.after_action) == (
        "TEAM_IMAP_PASSWORD",
        "",
        "flag",
    )
    refused = post(client, "/admin/c/eng/folders", **{**form, "secret": "not a name!"})
    assert "not an environment variable name" in client.get(refused.headers["location"]).text


def test_me_page_lists_roles_and_leads_moderators_to_their_pages(core: Core) -> None:
    """A moderator finds the way to their community's admin page from /me."""
    create_community(core)
    with writer(core.engine).begin() as conn:
        admin.set_member(conn, "eng", "mod@partner.example", "moderator")
    page = as_(core, "mod@partner.example").get("/me").text
    assert "Engineering" in page
    assert 'href="/admin/c/eng"' in page
    assert 'href="/admin"' in page
    plain = as_(core, "reader@example.com").get("/me").text
    assert 'href="/admin"' not in plain


def test_confidential_holds_are_hidden_from_moderators(core: Core) -> None:
    """A moderator never sees a confidential message's subject; an admin does."""
    create_community(core)
    with writer(core.engine).begin() as conn:
        admin.set_member(conn, "eng", "mod@partner.example", "moderator")
    (held,) = deliver(core, make_mail("[confidential] Layoffs plan", msgid="c@x.example"))
    assert held.reason.startswith("confidential")
    assert "Layoffs" not in as_(core, "mod@partner.example").get("/admin/held").text
    assert (
        post(
            as_(core, "mod@partner.example"), f"/admin/held/{held.raw_id}", decision="discard"
        ).status_code
        == 404
    )
    assert "Layoffs" in as_(core, "boss@example.com", is_admin=True).get("/admin/held").text
