"""The permission matrix: every route, walked as every kind of viewer, against every community.

The routes come from the app's own route table, so a route added later is
walked too; a route with no declared policy fails `test_every_route_declares_a_policy`
with a message saying where to declare it. For each route the policy says who
may use it, and the walk checks the status each viewer gets and, on every
answer, that no text of a community the viewer may not read appears in it
(search counts and snippets, feeds, exports and JSON included).

World: four communities, `orgc` (org), `memc` (members), `pubc` (public) and
`hidden` (members, nobody in it). Each holds one thread whose subject, body,
HTML part and attachment carry the community's marker word (`zqorgcmark`, …).
Viewers: anonymous, an outsider, an org reader, a member and a moderator of
orgc, memc and pubc (at a partner's domain, so not org readers), and an admin.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from bridge import admin
from bridge.core import open_core
from tests.support.env import settings_for
from tests.support.factories import deliver
from tests.support.routes import app_routes
from tests.support.sessions import sign_in
from threads.db import writer
from threads.models import Attachment, Message, Thread
from web.app import create_app

ORG = ["example.com"]
COMMUNITIES = {"orgc": "org", "memc": "members", "pubc": "public", "hidden": "members"}
POSTING = {"orgc": "org", "memc": "members", "pubc": "org", "hidden": "members"}
ROLES: dict[str, str | None] = {
    "anonymous": None,
    "outsider": "outsider@elsewhere.example",
    "org reader": "reader@example.com",
    "member": "member@partner.example",
    "moderator": "mod@partner.example",
    "admin": "root@partner.example",
}
# The policy, written out rather than computed by the code under test.
READS = {
    "anonymous": {"pubc"},
    "outsider": {"pubc"},
    "org reader": {"orgc", "pubc"},
    "member": {"orgc", "memc", "pubc"},
    "moderator": {"orgc", "memc", "pubc"},
    "admin": set(COMMUNITIES),
}
POSTS = {
    "anonymous": set(),
    "outsider": set(),
    "org reader": {"orgc", "pubc"},
    "member": {"orgc", "memc", "pubc"},
    "moderator": {"orgc", "memc", "pubc"},
    "admin": set(COMMUNITIES),
}
MODERATES = {"moderator": {"orgc", "memc", "pubc"}, "admin": set(COMMUNITIES)}
MEMBER_OF = {"member": {"orgc", "memc", "pubc"}, "moderator": {"orgc", "memc", "pubc"}}
AUTHOR = "author@example.com"
COMMON = "zebracrossing"  # in every message, so searches find all communities


def marker(slug: str) -> str:
    return f"zq{slug}mark"


@dataclass(frozen=True)
class Policy:
    """Who may use a route.

    kind:
      open      anyone gets `ok`; the content is filtered (no unreadable marker)
      read      per community: 200 for readers, 404 (like a missing one) for others
      post      per community: 404 if unreadable, success if may post, refused otherwise
      compose   per community: a posting form; 404 if unreadable, the form if may post,
                anonymous sent to /login (303), other readers 403
      act       per community: success for logged-in readers, else 404 / refused
      member    per community: its members and moderators; other readers 403, others 404
      moderate  per community: its moderators and admins; others 404
      staff     admins and moderators of any community; others 404
      admin     admins; others 404
      self      logged-in people; anonymous is sent to /login or refused
      token     authorised by a token in the address; a bogus one fails for everyone
      author    per community: the message's author and admins; other readers 403, others 404
    """

    kind: str
    query: str = ""
    form: dict[str, str] | None = None
    json: dict[str, str] | None = None
    shows_all: bool = False  # an `open` page listing every readable community's content
    ok: tuple[int, ...] = (200,)
    fill: dict[str, str] = field(default_factory=dict)


SEARCH = f"?q={COMMON}"
# Declare the policy of every route here: (METHOD, path as in the route table).
POLICY: dict[tuple[str, str], Policy] = {
    ("GET", "/openapi.json"): Policy("open"),
    ("GET", "/api/openapi.json"): Policy("open"),
    ("GET", "/static"): Policy("open", fill={"": "/style.css"}),
    ("GET", "/"): Policy("open", shows_all=True),
    ("GET", "/search"): Policy("open", query=SEARCH, shows_all=True),
    ("GET", "/p/{address:path}"): Policy("open", shows_all=True),
    # Who knows X: the author wrote the common word everywhere; the page names the threads
    # that earned it (subjects), the API their ids only.
    ("GET", "/experts"): Policy("open", query=SEARCH, shows_all=True),
    ("GET", "/api/experts"): Policy("open", query=SEARCH),
    ("POST", "/me/experts"): Policy("open", form={"listed": "1"}, ok=(303,)),
    ("GET", "/c/{slug}"): Policy("read"),
    ("GET", "/c/{slug}/feed.atom"): Policy("read"),
    ("GET", "/t/{thread_id}"): Policy("read"),
    ("GET", "/t/{thread_id}/feed.atom"): Policy("read"),
    ("GET", "/t/{thread_id}/thread.mbox"): Policy("read"),
    ("GET", "/a/{attachment_id}/{filename:path}"): Policy("read"),
    ("GET", "/m/{message_pk}/html"): Policy("read"),
    ("POST", "/t/{thread_id}/reply"): Policy("post", form={"body": "A reply from the matrix."}),
    # Starting a discussion: the form for those who may post, 403 for other readers.
    ("GET", "/c/{slug}/new"): Policy("compose"),
    ("POST", "/c/{slug}/new"): Policy(
        "post", form={"subject": "A new thread from the matrix", "body": "Started here."}
    ),
    ("POST", "/t/{thread_id}/mail"): Policy("act", form={"action": "watch"}),
    ("GET", "/api"): Policy("open"),
    ("GET", "/docs"): Policy("open"),
    # Operators: health and readiness are open; /metrics only to loopback or its token,
    # and the test client is neither (tests/web/test_ops.py reads it both ways).
    ("GET", "/healthz"): Policy("open"),
    ("GET", "/readyz"): Policy("open"),
    ("GET", "/metrics"): Policy("open", ok=(403,)),
    # A reader's own tokens (tests/web/test_tokens.py): making one shows it once; nobody
    # revokes a token that is not theirs (999999 is nobody's).
    ("POST", "/me/tokens"): Policy("self", form={"name": "matrix"}),
    ("POST", "/me/tokens/{token_id}/revoke"): Policy("token", fill={"token_id": "999999"}),
    ("POST", "/me/feed-token"): Policy("self", ok=(303,)),
    ("GET", "/api/communities"): Policy("open", shows_all=True),
    ("GET", "/api/communities/{slug}/threads"): Policy("read"),
    ("GET", "/api/threads/{thread_id}"): Policy("read"),
    ("GET", "/api/search"): Policy("open", query=SEARCH, shows_all=True),
    ("GET", "/api/people/{address:path}"): Policy("open", shows_all=True),
    ("POST", "/api/threads/{thread_id}/replies"): Policy(
        "post", json={"body": "A reply from the matrix, by API."}
    ),
    ("POST", "/api/communities/{slug}/discussions"): Policy(
        "post", json={"subject": "A thread from the matrix, by API", "body": "Started by API."}
    ),
    ("GET", "/c/{slug}/mail"): Policy("member"),
    ("POST", "/c/{slug}/mail"): Policy("member", form={"mode": "digest"}, ok=(303,)),
    ("POST", "/c/{slug}/read"): Policy("act", ok=(303,)),
    ("GET", "/unsubscribe/{token}"): Policy("token"),
    ("POST", "/unsubscribe/{token}"): Policy("token", form={"action": "mute"}),
    ("GET", "/login"): Policy("open"),
    ("POST", "/login"): Policy("open", form={"email": "someone@example.com"}),
    ("GET", "/login/link/{token}"): Policy("token"),
    ("POST", "/login/link/{token}"): Policy("token"),
    ("POST", "/logout"): Policy("open", ok=(303,)),
    # Anyone may choose the language of their own pages (a logged-in person's is kept on
    # their own row only: tests/web/test_language.py).
    ("POST", "/language"): Policy("open", form={"locale": "de", "next": "/"}, ok=(303,)),
    # Single sign-on is not configured here: both answer 404 (tests/web/test_oidc.py drives it).
    ("GET", "/login/oidc"): Policy("token"),
    ("GET", "/login/oidc/callback"): Policy("token"),
    ("GET", "/me"): Policy("self"),
    # Consent: a nudge's signed links; a participant's candidates. This world
    # has no candidates, so deciding one is 404 for everyone
    # (tests/bridge/pipeline/test_nudges.py has them).
    ("GET", "/consent/{token}"): Policy("token"),
    ("POST", "/consent/{token}"): Policy("token", form={"action": "open"}),
    ("GET", "/me/candidates"): Policy("self"),
    # Re-enabling mail acts on the viewer's own address only (nobody here has bounced).
    ("POST", "/me/bounces"): Policy("self", ok=(303,)),
    ("POST", "/me/candidates/{candidate_id}"): Policy(
        "token", form={"action": "open"}, fill={"candidate_id": "999999"}
    ),
    ("GET", "/admin"): Policy("staff"),
    ("GET", "/admin/held"): Policy("staff"),
    ("GET", "/admin/held/{raw_id}"): Policy("staff", ok=(404,)),
    ("POST", "/admin/held/{raw_id}"): Policy("staff", form={"decision": "discard"}, ok=(404,)),
    # An unknown review is answered on the held page ("no pending address"), staff only.
    ("POST", "/admin/copies/{review_id}"): Policy(
        "staff", form={"decision": "deny"}, ok=(303,), fill={"review_id": "999999"}
    ),
    ("GET", "/admin/c/{slug}"): Policy("moderate"),
    ("GET", "/c/{slug}/insights"): Policy("moderate"),
    ("GET", "/api/communities/{slug}/insights"): Policy("moderate"),
    ("POST", "/admin/c/{slug}/members"): Policy(
        "moderate", form={"email": "new@partner.example"}, ok=(303,)
    ),
    ("POST", "/admin/c/{slug}/settings"): Policy(
        "admin",
        form={"name": "Renamed", "visibility": "{visibility}", "posting": "{posting}"},
        ok=(303,),
    ),
    ("POST", "/admin/c/{slug}/routes"): Policy(
        "admin", form={"kind": "list_id", "value": "x.lists.example.com"}, ok=(303,)
    ),
    ("POST", "/admin/c/{slug}/folders"): Policy(
        "admin",
        form={"url": "imap://bot@127.0.0.1:1/INBOX", "secret": "ENG_IMAP_PASSWORD"},
        ok=(303,),
    ),
    ("POST", "/admin/c/{slug}/policy"): Policy(
        "admin", form={"target": "{slug}@lists.example.com", "policy": "consent"}, ok=(303,)
    ),
    ("POST", "/admin/communities"): Policy(
        "admin", form={"slug": "fresh", "name": "Fresh"}, ok=(303,)
    ),
    ("GET", "/admin/routes"): Policy("admin", query="?to=orgc@lists.example.com"),
    ("GET", "/admin/people"): Policy("admin"),
    ("POST", "/admin/people"): Policy(
        "admin", form={"email": "someone@example.com", "action": "enable"}, ok=(303,)
    ),
    ("GET", "/admin/log"): Policy("admin"),
    ("GET", "/admin/audit"): Policy("admin"),
    ("GET", "/admin/outbox"): Policy("admin"),
    ("GET", "/admin/outbox/{mail_id}"): Policy("admin", ok=(200, 404)),
    ("GET", "/admin/bounces"): Policy("admin"),
    ("POST", "/admin/bounces/enable"): Policy(
        "admin", form={"address": "someone@example.com"}, ok=(303,)
    ),
    # Withdrawing: nobody in this world wrote the messages but AUTHOR, so only the admin
    # may. The admin's web POST (walked first, admin last) withdraws each community's
    # message; the API POST after it then finds nothing left to withdraw (404).
    ("GET", "/m/{message_pk}/withdraw"): Policy("author"),
    ("POST", "/m/{message_pk}/withdraw"): Policy("author", ok=(303,)),
    ("POST", "/api/messages/{message_pk}/withdraw"): Policy("author", ok=(200, 404)),
}
DENIED = (403, 404)
PER_COMMUNITY = {"read", "post", "compose", "act", "moderate", "member"}
COMMUNITY_PARAM = re.compile(r"{(slug|thread_id|message_pk|attachment_id)}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("matrix") / "data"
    core = open_core(settings_for(data, org_domains=ORG, public_url="https://bridge.example.com"))
    ids: dict[str, dict[str, Any]] = {}
    for slug, visibility in COMMUNITIES.items():
        with writer(core.engine).begin() as conn:
            cid = admin.add_community(
                conn,
                slug,
                f"Community {marker(slug)}",
                visibility,
                addresses=[f"{slug}@lists.example.com"],
                posting=POSTING[slug],
            )
            admin.set_member(conn, slug, AUTHOR, "member")
            if slug != "hidden":
                admin.set_member(conn, slug, ROLES["member"] or "", "member")
                admin.set_member(conn, slug, ROLES["moderator"] or "", "moderator")
        deliver(core, _mail(slug))
        with core.engine.connect() as conn:
            thread = conn.execute(select(Thread.id).where(Thread.community_id == cid)).scalar_one()
            message = conn.execute(
                select(Message.id).where(
                    Message.community_id == cid, Message.placeholder.is_(False)
                )
            ).scalar_one()
            att = conn.execute(
                select(Attachment.id, Attachment.filename).where(Attachment.message_pk == message)
            ).one()
        ids[slug] = {
            "slug": slug,
            "visibility": visibility,
            "posting": POSTING[slug],
            "thread_id": str(thread),
            "message_pk": str(message),
            "attachment_id": str(att.id),
            "filename": att.filename,
        }
    with writer(core.engine).begin() as conn:
        admin.set_admin(conn, ROLES["admin"] or "")
    app = create_app(core)
    yield {"core": core, "app": app, "ids": ids}
    core.close()


def _mail(slug: str) -> bytes:
    m = EmailMessage()
    m["From"] = f"Author <{AUTHOR}>"
    m["To"] = f"{slug}@lists.example.com"
    m["Subject"] = f"Plans {marker(slug)}"
    m["Message-ID"] = f"<{slug}@example.com>"
    m["Date"] = "Mon, 02 Mar 2026 09:00:00 +0000"
    m.set_content(f"The {COMMON} plan, {marker(slug)} edition.\n")
    m.add_alternative(f"<p>The {COMMON} plan, <b>{marker(slug)}</b> edition.</p>", subtype="html")
    m.add_attachment(
        f"notes {marker(slug)}\n".encode(), maintype="text", subtype="plain", filename="notes.txt"
    )
    return bytes(m)


def client_for(world: dict[str, Any], role: str) -> TestClient:
    client = TestClient(world["app"], base_url="https://testserver", follow_redirects=False)
    if (email := ROLES[role]) is not None:
        sign_in(client, world["core"], email)
    return client


def csrf(client: TestClient) -> str:
    page = BeautifulSoup(client.get("/login").text, "html.parser")
    return str(page.find("input", attrs={"name": "csrf_token"})["value"])


PARAM = re.compile(r"{([a-z_]+)(?::path)?}")


def build_path(path: str, policy: Policy, target: dict[str, str] | None) -> str:
    if "" in policy.fill:
        return path + policy.fill[""]

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in policy.fill:
            return policy.fill[name]
        if name == "address":
            return AUTHOR
        if name in ("token",):
            return "bogus-token-0000"
        if name in ("mail_id", "raw_id"):
            return "999999"
        if target is None or name not in target:
            raise AssertionError(
                f"{path}: no way to fill {{{name}}}; add it to the route's Policy(fill=...)"
            )
        return target[name]

    return PARAM.sub(value, path) + policy.query


def expected(policy: Policy, role: str, slug: str | None) -> tuple[int, ...]:
    """The statuses the policy allows this viewer."""
    logged_in = ROLES[role] is not None
    kind = policy.kind
    if kind == "open":
        return policy.ok
    if kind == "token":
        return (400, 403, 404, 410)
    if kind == "self":
        return policy.ok if logged_in else (303, 401, 403, 404)
    if kind == "admin":
        return policy.ok if role == "admin" else DENIED
    if kind == "staff":
        return policy.ok if role in MODERATES else DENIED
    assert slug is not None
    readable = slug in READS[role]
    if kind == "read":
        return (200,) if readable else (404,)
    if kind == "moderate":
        return policy.ok if slug in MODERATES.get(role, set()) else DENIED
    if kind == "member":
        if not readable or not logged_in:
            return (404,)
        return policy.ok if slug in MEMBER_OF.get(role, set()) else DENIED
    if not readable:
        return (404,)
    if kind == "post":
        return (201, 303) if slug in POSTS[role] else (303, 400, 401, 403)
    if kind == "compose":
        return (200,) if slug in POSTS[role] else (303,) if not logged_in else (403,)
    if kind == "act":
        return (201, 303) if logged_in else (303, 401, 403, 404)
    if kind == "author":  # the message's author and admins; other readers 403
        return policy.ok if role == "admin" else (403,) if logged_in else (303, 403)
    raise AssertionError(f"unknown policy kind {kind}")


def test_every_route_declares_a_policy(world: dict[str, Any]) -> None:
    """A new route must say who may use it before it can ship."""
    missing = [f"{m} {p}" for m, p in app_routes(world["app"]) if (m, p) not in POLICY]
    assert not missing, (
        "These routes have no access policy: " + ", ".join(missing) + ". Declare each in "
        "POLICY in tests/web/test_permissions.py (kinds: open, read, post, compose, act, member, "
        "moderate, staff, admin, self, token) so the permission matrix walks it."
    )


@pytest.mark.parametrize("role", list(ROLES))
def test_permission_matrix(world: dict[str, Any], role: str) -> None:
    """Every declared route answers this viewer as the policy says, and leaks nothing."""
    problems: list[str] = []
    hidden_from_role = [marker(s) for s in COMMUNITIES if s not in READS[role]]
    shown_to_role = [marker(s) for s in COMMUNITIES if s in READS[role]]
    for method, path in app_routes(world["app"]):
        policy = POLICY.get((method, path))
        if policy is None:
            continue  # reported by test_every_route_declares_a_policy
        per_community = policy.kind in PER_COMMUNITY or COMMUNITY_PARAM.search(path)
        targets = list(COMMUNITIES) if per_community else [None]
        for slug in targets:
            target = world["ids"][slug] if slug else None
            url = build_path(path, policy, target)
            client = client_for(world, role)
            headers = {}
            if method != "GET":
                headers["X-CSRF-Token"] = csrf(client)
            form = policy.form
            if form is not None and target is not None:
                form = {k: v.format(**target) for k, v in form.items()}
            response = client.request(method, url, data=form, json=policy.json, headers=headers)
            allowed = expected(policy, role, slug)
            if ROLES[role] is None and url.startswith("/api/"):
                # The API tells an anonymous caller a login is needed (401) where a
                # logged-in one would get 404, for missing and private alike.
                allowed = tuple(401 if s == 404 else s for s in allowed)
            where = f"{role}: {method} {url}" + (f" ({slug})" if slug else "")
            if response.status_code not in allowed:
                problems.append(f"{where} -> {response.status_code}, policy allows {allowed}")
            if response.status_code == 303 and not logged_in_redirect_ok(response):
                problems.append(f"{where} -> redirects off-site: {response.headers['location']}")
            body = response.content.decode("utf-8", "replace")
            leaked = [m for m in hidden_from_role if m in body]
            if leaked:
                problems.append(f"{where} -> shows {leaked}, which {role} may not read")
            if policy.shows_all and response.status_code == 200:
                absent = [m for m in shown_to_role if m not in body]
                if absent:
                    problems.append(f"{where} -> misses {absent}, which {role} may read")
            if (
                policy.kind == "read"
                and response.status_code == 200
                and marker(slug or "") not in body
            ):
                problems.append(f"{where} -> 200 without the community's content")
    assert not problems, "\n".join(problems)


def logged_in_redirect_ok(response: Any) -> bool:
    location = response.headers.get("location", "")
    return location.startswith("/") and not location.startswith("//")


def test_matrix_sees_a_route_added_later(world: dict[str, Any]) -> None:
    """The walk reads the live route table: a new route shows up as undeclared."""
    app = create_app(world["core"])

    @app.get("/brand-new/{thing}")
    def brand_new(thing: str) -> dict[str, str]:
        return {"thing": thing}

    undeclared = [r for r in app_routes(app) if r not in POLICY]
    assert ("GET", "/brand-new/{thing}") in undeclared


def test_not_found_is_indistinguishable(world: dict[str, Any]) -> None:
    """A thread one may not read answers exactly like a thread that does not exist."""
    client = client_for(world, "org reader")
    hidden = client.get(f"/t/{world['ids']['memc']['thread_id']}")
    missing = client.get("/t/987654")
    assert hidden.status_code == missing.status_code == 404
    assert _main_text(hidden) == _main_text(missing)
    api_hidden = client.get(f"/api/threads/{world['ids']['memc']['thread_id']}")
    api_missing = client.get("/api/threads/987654")
    assert api_hidden.status_code == api_missing.status_code == 404
    assert api_hidden.json() == api_missing.json()


def _main_text(response: Any) -> str:
    return BeautifulSoup(response.text, "html.parser").main.get_text(" ", strip=True)


def test_policies_name_known_kinds() -> None:
    """POLICY may name routes not wired yet; it must never name a misspelt kind."""
    kinds = {"open", "read", "post", "act", "member", "moderate", "staff", "admin", "self", "token"}
    kinds |= {"author", "compose"}
    assert {p.kind for p in POLICY.values()} <= kinds


def test_copies_follow_the_same_matrix(tmp_path: Any) -> None:
    """Everyone of the matrix on a thread's Cc: a post is mailed only to those who may read it."""
    from bridge.posting import post_reply
    from threads.access import viewer_for
    from threads.models import Notification

    core = open_core(settings_for(tmp_path / "data", org_domains=ORG))
    try:
        everyone = ", ".join(a for a in ROLES.values() if a)
        for slug, visibility in COMMUNITIES.items():
            with writer(core.engine).begin() as conn:
                admin.add_community(
                    conn, slug, slug, visibility, addresses=[f"{slug}@lists.example.com"]
                )
                admin.set_member(conn, slug, AUTHOR, "member")
                if slug != "hidden":
                    admin.set_member(conn, slug, ROLES["member"] or "", "member")
                    admin.set_member(conn, slug, ROLES["moderator"] or "", "moderator")
        with writer(core.engine).begin() as conn:
            admin.set_admin(conn, ROLES["admin"] or "")
        for slug in COMMUNITIES:
            raw = _mail(slug).replace(b"To: ", f"Cc: {everyone}\nTo: ".encode(), 1)
            deliver(core, raw)
            with core.engine.connect() as conn:
                thread = conn.execute(
                    select(Message.thread_id).where(Message.message_id == f"{slug}@example.com")
                ).scalar_one()
                root = viewer_for(conn, ROLES["admin"] or "", ORG)
            pk = post_reply(core, root, thread, f"Noted {slug}.\n")
            with core.engine.connect() as conn:
                got = set(
                    conn.execute(
                        select(Notification.recipient).where(Notification.message_pk == pk)
                    ).scalars()
                )
            allowed = {ROLES[r] for r, slugs in READS.items() if slug in slugs and ROLES[r]}
            # The poster is not mailed their own post.
            assert got == (allowed | {AUTHOR}) - {ROLES["admin"]}, slug
    finally:
        core.close()
