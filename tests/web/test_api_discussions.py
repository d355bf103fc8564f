"""Starting a discussion by JSON: POST /api/communities/{slug}/discussions.

World: `orgc` (org readers read; members post), `memc` (members only) and
`hidden` (members, nobody in it). Ana is a member of orgc and memc; Carl is an
organisation reader with no membership (he may read orgc, not post in it).
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bridge import admin
from bridge import tokens as token_admin
from bridge.core import Core, open_core
from tests.support.env import settings_for
from tests.support.sessions import sign_in
from threads.db import writer
from threads.models import Message, RawMessage, Thread
from web.app import create_app

ANA, CARL = "ana@example.com", "carl@example.com"
NEW = {"subject": "Planning the offsite", "body": "Dates, anyone?\n"}


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    c = open_core(settings_for(tmp_path / "data", org_domains=["example.com"]))
    with writer(c.engine).begin() as conn:
        for slug, visibility in (("orgc", "org"), ("memc", "members"), ("hidden", "members")):
            admin.add_community(
                conn,
                slug,
                slug.title(),
                visibility,
                addresses=[f"{slug}@lists.example.com"],
                posting="members",
            )
        admin.set_member(conn, "orgc", ANA, "member")
        admin.set_member(conn, "memc", ANA, "member")
    yield c
    c.close()


def token(core: Core, address: str) -> dict[str, str]:
    with writer(core.engine).begin() as conn:
        return {"Authorization": f"Bearer {token_admin.create(conn, address, 'api', actor='t')[1]}"}


def threads(core: Core) -> int:
    with core.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Thread)).scalar_one())


def test_a_member_s_token_starts_a_discussion(core: Core) -> None:
    """201 with the thread id and its URL; the thread is filed like any other."""
    client = TestClient(create_app(core))
    answer = client.post("/api/communities/orgc/discussions", json=NEW, headers=token(core, ANA))
    assert answer.status_code == 201, answer.text
    out = answer.json()
    assert out["url"] == f"/t/{out['thread_id']}#m{out['message_id']}"
    with core.engine.connect() as conn:
        row = conn.execute(select(Message).where(Message.id == out["message_id"])).one()
    assert row.thread_id == out["thread_id"]
    assert row.from_addr == ANA
    assert row.subject == NEW["subject"]
    page = client.get(f"/api/threads/{out['thread_id']}", headers=token(core, ANA))
    assert page.json()["messages"][0]["visible_text"].strip() == "Dates, anyone?"


@pytest.mark.parametrize(
    ("who", "slug", "status"),
    [
        (None, "orgc", 403),  # no token and no session: the CSRF check's refusal
        (CARL, "orgc", 403),  # may read, may not post
        (CARL, "memc", 404),  # may not read: like a community that does not exist
        (ANA, "hidden", 404),  # another community than hers
        (ANA, "nosuch", 404),
    ],
)
def test_who_may_not_start_one_gets_a_clear_no_and_nothing_is_filed(
    core: Core, who: str | None, slug: str, status: int
) -> None:
    client = TestClient(create_app(core))
    headers = token(core, who) if who else {}
    answer = client.post(f"/api/communities/{slug}/discussions", json=NEW, headers=headers)
    assert answer.status_code == status, answer.text
    assert "detail" in answer.json()
    assert threads(core) == 0


def test_a_bad_token_is_401_not_anonymous(core: Core) -> None:
    client = TestClient(create_app(core))
    bad = {"Authorization": "Bearer cbt_not-a-real-token"}
    answer = client.post("/api/communities/orgc/discussions", json=NEW, headers=bad)
    assert answer.status_code == 401
    assert threads(core) == 0


def test_a_session_needs_the_csrf_token_a_bearer_does_not(core: Core) -> None:
    """With a session cookie the API is a browser's: a POST without the CSRF token is
    refused (a page elsewhere cannot start threads in someone's name)."""
    client = TestClient(create_app(core), base_url="https://testserver")
    sign_in(client, core, ANA)
    forged = client.post("/api/communities/orgc/discussions", json=NEW)
    assert forged.status_code == 403
    assert threads(core) == 0
    me = client.get("/me")
    csrf = me.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    done = client.post(
        "/api/communities/orgc/discussions", json=NEW, headers={"X-CSRF-Token": csrf}
    )
    assert done.status_code == 201, done.text
    assert threads(core) == 1


@pytest.mark.parametrize(
    "subject",
    [
        "Offsite\r\nBcc: victim@elsewhere.example",
        "Offsite\nX-Commons-Bridge-Loop: bridge.example",
        "Offsite\r\n\r\nInjected body",
    ],
)
def test_a_hostile_subject_stays_one_line(core: Core, subject: str) -> None:
    """CR/LF in the subject cannot add a header or end the header block."""
    client = TestClient(create_app(core))
    answer = client.post(
        "/api/communities/orgc/discussions",
        json={"subject": subject, "body": "Real body\n"},
        headers=token(core, ANA),
    )
    assert answer.status_code == 201, answer.text
    with core.engine.connect() as conn:
        raw = conn.execute(select(RawMessage.data).where(RawMessage.source == "web")).scalar_one()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None
    assert parsed["X-Commons-Bridge-Loop"] is None
    assert "\n" not in str(parsed["Subject"])
    assert parsed.get_body(("plain",)).get_content().strip() == "Real body"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"subject": "", "body": "x"}, 400),
        ({"subject": "x", "body": ""}, 400),
        ({"subject": "   ", "body": "x"}, 400),  # blank once made one line (PostRefused)
        ({"subject": "x" * 201, "body": "x"}, 400),
        ({"body": "x"}, 400),
    ],
)
def test_bad_input_is_refused_with_a_reason(
    core: Core, payload: dict[str, str], status: int
) -> None:
    client = TestClient(create_app(core))
    answer = client.post(
        "/api/communities/orgc/discussions", json=payload, headers=token(core, ANA)
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"]
    assert threads(core) == 0


def test_the_api_index_and_the_schema_list_it(core: Core) -> None:
    client = TestClient(create_app(core))
    assert "POST /api/communities/{slug}/discussions" in client.get("/api").json()["endpoints"]
    schema = client.get("/api/openapi.json").json()
    operation = schema["paths"]["/api/communities/{slug}/discussions"]["post"]
    assert {"201", "400", "403"} <= set(operation["responses"])
