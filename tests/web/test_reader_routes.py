"""Every GET route, walked as readers who may not see an outsider's address: it never shows.

World: org domain example.com; a public community; Veronica Vale, outside
the organisation (vera.v@partner.example), writes in over SMTP with her
address in every place mail puts one (her display name, the subject, the
text in any case, a quoted header, her signature, the HTML split by markup
and percent-encoded in mailto: links, an attachment's name); Ana answers her
with the address again. The route table is walked (app.routes): each path
parameter is filled from this world, and a route whose parameters cannot be
filled must be named in UNFILLED with the reason, so a new route fails here
until it is handled. A response must not hold the mailbox part "vera.v" in
any case, percent-encoded, HTML-escaped or split by tags, nor in a header.
A request that itself names her (a search, a person page, a filter) must
answer exactly as the same request naming an unknown address at her domain.
"""

from __future__ import annotations

import html
import re
import smtplib
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from itertools import product
from pathlib import Path
from urllib.parse import quote, unquote

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.routing import Mount, Route

from bridge import admin
from bridge.core import Core, open_core
from mail.tokens import unsubscribe_token
from tests.support.env import settings_for
from tests.support.factories import bridge_listener, create_community
from tests.support.paths import ROOT
from tests.support.sessions import sign_in
from threads.db import writer
from threads.models import Attachment, Message, RawMessage
from web.app import create_app

VERA = "vera.v@partner.example"
MAILBOX = "vera.v"
LIST = "pub@lists.example.com"
ANA = "ana@example.com"

# Routes whose path parameters this world cannot fill, and why that is safe.
UNFILLED = {
    "/consent/{token}": "a signed nudge link, mailed to the org starter of a conversation "
    "that is not published; it shows that conversation only to its own participants",
    "/login/link/{token}": "a one-time login link: asks to confirm, shows no archive content",
}


def _vera_mail() -> bytes:
    m = EmailMessage()
    m["From"] = f'"{VERA}" <{VERA}>'
    m["To"] = LIST
    m["Cc"] = f"Veronica Vale ({VERA}) <{VERA}>"
    m["Subject"] = f"Offer from {VERA}"
    m["Message-ID"] = "<offer-1@partner.example>"
    m["Date"] = "Mon, 02 Mar 2026 09:00:00 +0000"
    m.set_content(
        f"Write to {VERA.upper()} or mailto:vera%2Ev%40partner.example today.\n\n"
        f"> From: Veronica Vale <{VERA}>\n> Sent: Friday\n> The earlier offer.\n\n"
        f"-- \nVeronica Vale\n{VERA}\n"
    )
    m.add_alternative(
        "<p>Write to <b>vera.v</b>@partner.example, "
        '<a href="mailto:vera%2Ev%40partner.example">by mail</a> or '
        '<a href="mailto:%76era.v@partner.example">here</a>.</p>'
        f"<blockquote>From: Veronica Vale &lt;{VERA}&gt;</blockquote>",
        subtype="html",
    )
    m.add_attachment(
        b"%PDF-1.4 offer", maintype="application", subtype="pdf", filename=f"{VERA}.pdf"
    )
    return bytes(m)


def _ana_mail() -> bytes:
    m = EmailMessage()
    m["From"] = f"Ana Lima <{ANA}>"
    m["To"] = f"Veronica Vale <{VERA}>"
    m["Cc"] = LIST
    m["Subject"] = f"Re: Offer from {VERA}"
    m["Message-ID"] = "<ana-2@example.com>"
    m["In-Reply-To"] = "<offer-1@partner.example>"
    m["Date"] = "Mon, 02 Mar 2026 10:00:00 +0000"
    m.set_content(
        f"Thanks, Veronica: I will write to {VERA} tomorrow.\n\n"
        f"On Monday {VERA} wrote:\n> Write to {VERA.upper()} today.\n"
    )
    return bytes(m)


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    c = open_core(settings_for(tmp_path / "data", org_domains=["example.com"]))
    create_community(c, slug="pub", name="Public", visibility="public", addresses=[LIST])
    with writer(c.engine).begin() as conn:
        admin.set_member(conn, "pub", VERA, "member")  # so her mail is not held
    with bridge_listener(c, "bridge.example") as port, smtplib.SMTP("127.0.0.1", port) as smtp:
        for sender, data in ((VERA, _vera_mail()), (ANA, _ana_mail())):
            smtp.sendmail(sender, [LIST], data.replace(b"\n", b"\r\n"))
    with c.engine.connect() as conn:
        pending = conn.execute(select(RawMessage.id).order_by(RawMessage.id)).scalars().all()
    assert [o.state.value for o in c.pipeline.run(list(pending))] == ["done", "done"]
    yield c
    c.close()


def _world(core: Core) -> dict[str, list[str]]:
    """Values for each path parameter: the seeded rows, and for addresses hers too."""
    with core.engine.connect() as conn:
        vera_pk, thread_id = conn.execute(
            select(Message.id, Message.thread_id).where(Message.from_addr == VERA)
        ).one()
        ana_pk = conn.execute(select(Message.id).where(Message.from_addr == ANA)).scalar_one()
        attachment = conn.execute(select(Attachment.id)).scalar_one()
    token = unsubscribe_token(
        core.settings.secret_key, address=ANA, community_id=1, thread_id=thread_id
    )
    return {
        "slug": ["pub"],
        "thread_id": [str(thread_id)],
        "message_pk": [str(vera_pk), str(ana_pk)],
        "attachment_id": [str(attachment)],
        "filename": ["offer.pdf"],
        "address": [ANA, VERA, VERA.upper()],
        "token": [token],
        "raw_id": ["1"],
        "mail_id": ["1"],
    }


# Query strings tried on a route besides none: hers, in the forms a reader could type.
QUERIES = {
    "/search": [{"q": "vera"}, {"q": MAILBOX}, {"q": VERA}, {"q": VERA.upper()}, {"q": "offer"}],
    "/api/search": [{"q": "vera"}, {"q": MAILBOX}, {"q": VERA}, {"q": f"from:{VERA}"}],
    "/c/{slug}": [{"person": VERA}],
    "/api/communities/{slug}/threads": [{"person": VERA}],
    "/m/{message_pk}/html": [{"remote": "1"}],
    "/a/{attachment_id}/{filename:path}": [{"preview": "1"}],
}


def _get_routes(client: TestClient) -> list[str]:
    """The path of every GET route in the app's route table."""
    out = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            assert route.path == "/static", f"a mounted app is not walked: {route.path}"
            continue
        # FastAPI 0.165 lists an included router as one entry holding its routes.
        contexts = getattr(route, "effective_route_contexts", None)
        found = (
            [(c.path, c.original_route) for c in contexts()] if contexts else [(route.path, route)]
        )
        for path, original in found:
            assert isinstance(original, APIRoute | Route), original
            if "GET" in (original.methods or set()):
                out.append(path)
    assert len(out) == len(set(out)), out
    assert len(out) > 30, out
    assert set(UNFILLED) <= set(out), "UNFILLED names a route that no longer exists"
    return out


def _urls(path: str, world: dict[str, list[str]]) -> list[tuple[str, dict[str, str]]]:
    names = re.findall(r"{(\w+)(?::\w+)?}", path)
    if path in UNFILLED:
        return []
    missing = [n for n in names if n not in world]
    assert not missing, f"{path}: cannot fill {missing}; fill it or say why in UNFILLED"
    out = []
    for values in product(*(world[n] for n in names)):
        url = path
        for name, value in zip(names, values, strict=True):
            url = re.sub(r"{" + name + r"(?::\w+)?}", quote(value, safe="@"), url)
        for params in [{}, *QUERIES.get(path, [])]:
            out.append((url, params))
    return out


def _views(response: httpx.Response) -> list[str]:
    """The response as text in each form an address could hide in."""
    body = response.text
    views = [body, unquote(body), html.unescape(body), html.unescape(unquote(body))]
    views += [re.sub(r"<[^>]*>", "", v) for v in views]  # split by markup
    views.append(" ".join(f"{k}: {v}" for k, v in response.headers.items()))
    views.append(unquote(views[-1]))
    if response.headers.get("content-type", "").startswith("application/mbox"):
        for chunk in re.split(rb"\n(?=From )", response.content):
            for part in message_from_bytes(chunk, policy=policy.default).walk():
                if part.get_content_maintype() == "text" and isinstance(part, EmailMessage):
                    views.append(str(part.get_content()))
    return [v.lower() for v in views]


def _as_unknown(text: str) -> str:
    return re.sub("vera", "zeta", text, flags=re.I)


def _stable(response: httpx.Response) -> tuple[int, str]:
    """Status and body without what differs between two requests (CSRF tokens, feed time)."""
    body = re.sub(r'(name="csrf_token" value=")[^"]*', r"\1", response.text)
    body = re.sub(r"<updated>[^<]*</updated>", "", body, count=1)
    return response.status_code, body


def _walk(client: TestClient, world: dict[str, list[str]]) -> int:
    walked = 0
    for path in _get_routes(client):
        for url, params in _urls(path, world):
            response = client.get(url, params=params)
            walked += 1
            where = f"{url} {params}"
            assert response.status_code < 500, where
            asked = url + " " + " ".join(params.values())
            if "vera" in asked.lower():
                # It names her: it must answer as for an unknown address at her domain.
                unknown = client.get(_as_unknown(url), params=_as_unknown_params(params))
                status, body = _stable(response)
                assert (status, _as_unknown(body)) == _stable(unknown), where
                continue
            for view in _views(response):
                assert MAILBOX not in view, f"{where}: {_around(view)}"
    return walked


def _as_unknown_params(params: dict[str, str]) -> dict[str, str]:
    return {k: _as_unknown(v) for k, v in params.items()}


def _around(view: str) -> str:
    at = view.find(MAILBOX)
    return view[max(0, at - 80) : at + 80]


def test_anonymous_reader_of_a_public_community_sees_her_address_nowhere(core: Core) -> None:
    """Every GET route, filled from the world, read by someone not logged in."""
    client = TestClient(create_app(core), follow_redirects=False)
    assert _walk(client, _world(core)) > 40


def test_org_reader_sees_her_address_nowhere(core: Core) -> None:
    """Every GET route read by Ana, a colleague who answered her (and may withdraw that)."""
    client = TestClient(create_app(core), follow_redirects=False)
    sign_in(client, core, ANA)
    assert _walk(client, _world(core)) > 40
    assert "Veronica Vale" in client.get(f"/t/{_world(core)['thread_id'][0]}").text


def test_an_admin_still_sees_her_address(core: Core) -> None:
    """Admins answer for the archive: the thread shows her address."""
    client = TestClient(create_app(core), follow_redirects=False)
    sign_in(client, core, "boss@example.com", is_admin=True)
    page = client.get(f"/t/{_world(core)['thread_id'][0]}").text
    assert VERA in page


# Modules whose every route is for admins (they see every address).
ADMIN_ONLY = {"admin.py", "outbox.py"}
ARCHIVE_TABLES = {"Message", "Attachment", "RawMessage", "ConsentMessage"}


def test_web_reads_the_archive_only_through_the_reader_archive() -> None:
    """No module of web/ but web/archive.py runs a read query or names a message table."""
    import ast

    web = ROOT / "web"
    found = []
    for path in sorted(web.glob("*.py")):
        if path.name in ADMIN_ONLY | {"archive.py"}:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            # Of the search package, only the query language (it parses text) is not a read.
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            if module in ("threads.queries", "threads.search") or (
                module.startswith("threads.search.") and module != "threads.search.language"
            ):
                found.append(f"{path.name}:{node.lineno} imports {module}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                query = not node.func.attr[:1].isupper()  # queries.ThreadFilters is a value
                if isinstance(owner, ast.Name) and owner.id in ("queries", "search") and query:
                    found.append(f"{path.name}:{node.lineno} calls {owner.id}.{node.func.attr}")
            if isinstance(node, ast.ImportFrom) and node.module == "threads.models":
                tables = {a.name for a in node.names} & ARCHIVE_TABLES
                found += [f"{path.name}:{node.lineno} imports {t}" for t in sorted(tables)]
            owner = node.value if isinstance(node, ast.Attribute) else None
            if isinstance(owner, ast.Name) and (owner.id, node.attr) == ("Thread", "subject"):  # type: ignore[union-attr]
                found.append(f"{path.name}:{node.lineno} reads Thread.subject")
    assert found == []
