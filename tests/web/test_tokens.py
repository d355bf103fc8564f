"""Personal API tokens and feed tokens: what they open, what they never open, and revocation.

Tokens are made the way people make them (the `bridge token` commands,
tests/support/cli.py, the /me forms with their CSRF token) and used over the app's
real routes; the attacker cases come first in each test's assertions.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import text

from bridge import admin
from bridge import tokens as token_admin
from bridge.core import Core, open_core
from tests.support.cli import run_bridge
from tests.support.env import settings_for
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from tests.support.sessions import sign_in
from threads.db import writer
from web.app import create_app

MEMBER = "mia@partner.example"  # not in the org: reads memc only as its member


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    core = open_core(settings_for(tmp_path / "data", org_domains=["example.com"]))
    create_community(
        core,
        slug="memc",
        name="Members",
        visibility="members",
        addresses=["memc@lists.example.com"],
    )
    create_community(
        core, slug="pubc", name="Public", visibility="public", addresses=["pubc@lists.example.com"]
    )
    deliver(core, make_mail("Secret plan zqmem", to="memc@lists.example.com", msgid="m@x.example"))
    deliver(core, make_mail("Open notes zqpub", to="pubc@lists.example.com", msgid="p@x.example"))
    with writer(core.engine).begin() as conn:
        admin.set_member(conn, "memc", MEMBER, "member", actor="test")
        admin.set_member(conn, "pubc", MEMBER, "member", actor="test")
    app = create_app(core)
    try:
        yield {"core": core, "app": app, "data": tmp_path / "data"}
    finally:
        core.close()


def api_token(core: Core, email: str, name: str = "script") -> str:
    with writer(core.engine).begin() as conn:
        return token_admin.create(conn, email, name, actor="test")[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_api_token_reads_with_its_owners_rights(world: dict[str, Any]) -> None:
    """A member's token opens the members-only community on each API read; none opens without."""
    core, client = world["core"], TestClient(world["app"])
    token = api_token(core, MEMBER)
    anonymous = client.get("/api/communities/memc/threads")
    assert anonymous.status_code == 401
    assert "Bearer" in anonymous.json()["detail"]
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    slugs = [c["slug"] for c in client.get("/api/communities", headers=bearer(token)).json()]
    assert set(slugs) == {"memc", "pubc"}
    threads = client.get("/api/communities/memc/threads", headers=bearer(token)).json()
    assert [t["subject"] for t in threads["threads"]] == ["Secret plan zqmem"]
    found = client.get("/api/search?q=zqmem", headers=bearer(token)).json()
    assert found["total_threads"] == 1
    thread_id = threads["threads"][0]["id"]
    assert client.get(f"/api/threads/{thread_id}", headers=bearer(token)).status_code == 200
    # The same token on a page (not /api) opens nothing: pages take cookies only.
    assert "zqmem" not in client.get("/c/memc", headers=bearer(token)).text


def test_bearer_reply_needs_no_csrf_but_a_cookie_reply_still_does(world: dict[str, Any]) -> None:
    """A bearer POST is not forgeable cross-site, so it skips CSRF; a cookie POST does not."""
    core, app = world["core"], world["app"]
    token = api_token(core, MEMBER)
    client = TestClient(app)
    thread_id = client.get("/api/communities/memc/threads", headers=bearer(token)).json()[
        "threads"
    ][0]["id"]
    url = f"/api/threads/{thread_id}/replies"
    posted = client.post(url, json={"body": "Answer by script."}, headers=bearer(token))
    assert posted.status_code == 201, posted.text
    cookie_client = TestClient(app)
    sign_in(cookie_client, core, MEMBER)
    refused = cookie_client.post(url, json={"body": "Forged by another site."})
    assert refused.status_code == 403
    # A cookie and a bad bearer together: the bearer decides, and it opens nothing.
    mixed = cookie_client.post(url, json={"body": "x"}, headers=bearer("cbt_forged"))
    assert mixed.status_code == 401
    assert cookie_client.get("/api/communities", headers=bearer("cbt_forged")).status_code == 401


def test_token_list_revoke_and_disabled_owner(world: dict[str, Any]) -> None:
    """Revoked tokens and disabled owners' tokens stop at once, with a 401 saying why."""
    core, client = world["core"], TestClient(world["app"])
    token = api_token(core, MEMBER, "nightly")
    other = api_token(core, MEMBER, "backup")
    with core.engine.connect() as conn:
        rows = token_admin.listed(conn, MEMBER)
    assert [r.name for r in rows] == ["backup", "nightly"]
    with writer(core.engine).begin() as conn:
        token_admin.revoke(conn, rows[1].id, actor="test")
    assert client.get("/api/communities", headers=bearer(token)).status_code == 401
    assert client.get("/api/communities", headers=bearer(other)).status_code == 200
    with writer(core.engine).begin() as conn:
        admin.set_disabled(conn, MEMBER, True, actor="test")
    refused = client.get("/api/communities", headers=bearer(other))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]


def test_tokens_are_stored_hashed_and_audited(world: dict[str, Any]) -> None:
    """The database holds no token secret; creating and revoking are in the audit log."""
    core = world["core"]
    token = api_token(core, MEMBER, "reports")
    with writer(core.engine).begin() as conn:
        token_id = token_admin.listed(conn, MEMBER)[0].id
        token_admin.revoke(conn, token_id, actor="cli:ops")
    with core.engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM access_token")).scalars().all()
        actions = conn.execute(text("SELECT action, actor FROM audit_log")).all()
    assert token not in " ".join(stored)
    assert len(stored[0]) == 64
    assert ("token.create.api", "test") in [tuple(a) for a in actions]
    assert ("token.revoke.api", "cli:ops") in [tuple(a) for a in actions]
    sqlite = world["data"] / "bridge.sqlite3"
    if sqlite.exists():
        assert token.encode() not in sqlite.read_bytes()


def _feed_href(html: str) -> str:
    return BeautifulSoup(html, "html.parser").select_one("a.feed")["href"]


def test_feed_links_carry_a_feed_token_that_opens_only_feeds(world: dict[str, Any]) -> None:
    """A member's feed link works without a cookie; its token opens neither the API nor pages."""
    core, app = world["core"], world["app"]
    browser = TestClient(app)
    sign_in(browser, core, MEMBER)
    href = _feed_href(browser.get("/c/memc").text)
    assert re.fullmatch(r"/c/memc/feed\.atom\?token=cbf_[0-9a-f]{40}", href)
    feed_token = href.split("token=")[1]
    reader = TestClient(app)  # a feed reader: no cookies
    assert "zqmem" in reader.get(href).text
    assert reader.get("/c/memc/feed.atom").status_code == 404
    # Attacker: the feed token as an API token, or on the API's query string, or on a page.
    assert reader.get("/api/communities", headers=bearer(feed_token)).status_code == 401
    assert reader.get(f"/api/communities/memc/threads?token={feed_token}").status_code == 401
    assert "zqmem" not in reader.get(f"/c/memc?token={feed_token}").text
    # An API token on a feed URL opens nothing either.
    api = api_token(core, MEMBER)
    assert reader.get(f"/c/memc/feed.atom?token={api}").status_code == 403
    # The link is stable across pages (the same token), so feed readers keep working.
    assert _feed_href(browser.get("/c/memc").text) == href


def test_feed_token_follows_membership_and_revocation(world: dict[str, Any]) -> None:
    """Removed from a community: its feed stops at once; renewed on /me: old links stop."""
    core, app = world["core"], world["app"]
    browser = TestClient(app)
    sign_in(browser, core, MEMBER)
    href = _feed_href(browser.get("/c/memc").text)
    pub_href = _feed_href(browser.get("/c/pubc").text)
    reader = TestClient(app)
    assert reader.get(href).status_code == 200
    with writer(core.engine).begin() as conn:
        admin.set_member(conn, "memc", MEMBER, None, actor="test")
    assert reader.get(href).status_code == 404
    assert reader.get(pub_href).status_code == 200
    me = browser.get("/me").text
    csrf = BeautifulSoup(me, "html.parser").select_one("form[action='/me/feed-token'] input")
    renewed = browser.post(
        "/me/feed-token", data={"csrf_token": csrf["value"]}, follow_redirects=False
    )
    assert renewed.status_code == 303
    assert reader.get(pub_href).status_code == 403
    new_href = _feed_href(browser.get("/c/pubc").text)
    assert new_href != pub_href
    assert reader.get(new_href).status_code == 200
    with writer(core.engine).begin() as conn:
        admin.set_disabled(conn, MEMBER, True, actor="test")
    assert reader.get(new_href).status_code == 403  # a disabled person's links stop too


def test_me_page_makes_shows_once_and_revokes_tokens(world: dict[str, Any]) -> None:
    """/me creates a token shown once; its owner revokes it; another person cannot."""
    core, app = world["core"], world["app"]
    browser = TestClient(app)
    sign_in(browser, core, MEMBER)

    def csrf() -> str:
        page = BeautifulSoup(browser.get("/me").text, "html.parser")
        return page.select_one("form[action='/me/tokens'] input[name=csrf_token]")["value"]

    made = browser.post("/me/tokens", data={"csrf_token": csrf(), "name": "My  script"})
    assert made.status_code == 200
    secret = BeautifulSoup(made.text, "html.parser").select_one("#new-token").text
    assert secret.startswith("cbt_")
    assert TestClient(app).get("/api/communities", headers=bearer(secret)).status_code == 200
    me = browser.get("/me").text
    assert secret not in me  # shown once
    assert "My script" in me
    row = BeautifulSoup(me, "html.parser").select_one("tr[data-token]")
    token_id = row["data-token"]
    intruder = TestClient(app)
    sign_in(intruder, core, "eve@example.com")
    eve_csrf = BeautifulSoup(intruder.get("/me").text, "html.parser").select_one(
        "form[action='/me/tokens'] input[name=csrf_token]"
    )["value"]
    stolen = intruder.post(f"/me/tokens/{token_id}/revoke", data={"csrf_token": eve_csrf})
    assert stolen.status_code == 404
    assert TestClient(app).get("/api/communities", headers=bearer(secret)).status_code == 200
    gone = browser.post(
        f"/me/tokens/{token_id}/revoke", data={"csrf_token": csrf()}, follow_redirects=False
    )
    assert gone.status_code == 303
    assert TestClient(app).get("/api/communities", headers=bearer(secret)).status_code == 401
    nameless = browser.post(
        "/me/tokens", data={"csrf_token": csrf(), "name": "  "}, follow_redirects=False
    )
    assert nameless.headers["location"].startswith("/me?token_error=name")


def test_api_index_and_login_needed(world: dict[str, Any]) -> None:
    """/api says what it offers and how to authenticate; anonymous misses are 401, not 404."""
    core, client = world["core"], TestClient(world["app"])
    index = client.get("/api").json()
    assert index["docs"] == "/docs"
    assert index["viewer"] == "anonymous"
    assert "GET /api/search?q=" in index["endpoints"]
    assert client.get("/api", headers=bearer(api_token(core, MEMBER))).json()["viewer"] == MEMBER
    # Public stays open; private and missing answer alike (no existence is confirmed).
    assert client.get("/api/communities/pubc/threads").status_code == 200
    private = client.get("/api/communities/memc/threads")
    missing = client.get("/api/communities/nope/threads")
    assert (private.status_code, private.json()) == (missing.status_code, missing.json())
    assert private.status_code == 401
    # A logged-in reader who may not read it gets the ordinary 404.
    outsider = TestClient(world["app"])
    sign_in(outsider, core, "out@elsewhere.example")
    assert outsider.get("/api/communities/memc/threads").status_code == 404
    assert client.get("/api/no-such-call").status_code == 404


def test_token_cli_create_list_revoke(world: dict[str, Any], tmp_path: Path) -> None:
    """`bridge token create|list|revoke` as an admin runs them; errors are one line."""
    core = world["core"]
    env = {"BRIDGE_DATA": str(world["data"]), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    env["BRIDGE_DATABASE_URL"] = core.settings.database_url
    env = {k: v for k, v in env.items() if v}

    def bridge(*args: str) -> subprocess.CompletedProcess[str]:
        return run_bridge(["token", *args], env)

    made = bridge("create", MEMBER, "--name", "ci job")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert re.fullmatch(r"cbt_[A-Za-z0-9_-]{43}", secret)
    client = TestClient(world["app"])
    assert client.get("/api/communities", headers=bearer(secret)).status_code == 200
    listed = bridge("list", MEMBER)
    assert "ci job" in listed.stdout
    assert secret not in listed.stdout
    token_id = listed.stdout.split("\t")[0]
    assert bridge("revoke", token_id).returncode == 0
    assert client.get("/api/communities", headers=bearer(secret)).status_code == 401
    missing = bridge("revoke", "999999")
    assert missing.returncode != 0
    assert missing.stderr.strip().count("\n") == 0
    assert "Traceback" not in missing.stderr
    nameless = bridge("create", MEMBER, "--name", " ")
    assert nameless.returncode != 0
    assert "name" in nameless.stderr


def test_a_bearer_header_does_not_lift_csrf_off_cookie_forms(world: dict[str, Any]) -> None:
    """Pages and forms still need the CSRF token, whatever Authorization header comes along."""
    core, app = world["core"], world["app"]
    token = api_token(core, MEMBER)
    browser = TestClient(app)
    sign_in(browser, core, MEMBER)
    thread_id = browser.get("/api/communities/memc/threads").json()["threads"][0]["id"]
    forged = browser.post(
        f"/t/{thread_id}/reply",
        data={"body": "forged"},
        headers=bearer(token),
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert browser.post("/logout", headers=bearer(token)).status_code == 403
    # An API token in the query string is no credential either.
    assert TestClient(app).get(f"/api/communities/memc/threads?token={token}").status_code == 401
