"""Login by magic link, sessions and CSRF, driven through the web app in-process."""

from __future__ import annotations

import ast
import mailbox
import re
from datetime import timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import update

from bridge import admin
from bridge.core import Core, open_core
from tests.support.csrf_checks import EXPIRED_PAGE, assert_token_rotated
from tests.support.env import settings_for
from tests.support.paths import ROOT
from threads.db import writer
from threads.models import LoginToken, utcnow
from web.app import create_app
from web.auth import safe_next

LINK = re.compile(r"https?://\S+/login/link/(\S+)")


@pytest.fixture
def core(tmp_path: Path):  # type: ignore[no-untyped-def]
    c = open_core(
        settings_for(
            tmp_path / "data", org_domains=["example.com"], public_url="https://bridge.example.com"
        )
    )
    yield c
    c.close()


def browser(core: Core) -> TestClient:
    """A fresh browser: its own cookie jar, an https base so Secure cookies are sent back."""
    return TestClient(create_app(core), base_url="https://testserver", raise_server_exceptions=True)


def csrf(client: TestClient, path: str = "/login") -> str:
    page = BeautifulSoup(client.get(path).text, "html.parser")
    return page.find("input", attrs={"name": "csrf_token"})["value"]


def outbox(core: Core) -> list[str]:
    box = mailbox.Maildir(core.settings.outbox_dir, create=True)
    out = []
    for message in box:
        parts = [p for p in message.walk() if p.get_content_type() == "text/plain"]
        out.append("".join(p.get_payload(decode=True).decode() for p in parts))
    return out


def ask_link(client: TestClient, email: str, next: str = "/") -> object:
    return client.post("/login", data={"email": email, "next": next, "csrf_token": csrf(client)})


def mailed_tokens(core: Core) -> list[str]:
    return [m for body in outbox(core) for m in LINK.findall(body)]


def log_in(core: Core, client: TestClient, email: str, next: str = "/") -> object:
    before = set(mailed_tokens(core))
    ask_link(client, email, next)
    (token,) = set(mailed_tokens(core)) - before  # a Maildir has no order
    return client.post(
        f"/login/link/{token}",
        data={"csrf_token": csrf(client, f"/login/link/{token}")},
        follow_redirects=False,
    )


def whoami(client: TestClient) -> str | None:
    response = client.get("/me", follow_redirects=False)
    if response.status_code != 200:
        return None
    return BeautifulSoup(response.text, "html.parser").h1.get_text(strip=True)


def test_login_round_trip_sets_a_hardened_session(core: Core) -> None:
    """Ask, receive the mailed link built from the public URL, confirm, be logged in."""
    client = browser(core)
    answer = ask_link(client, "Ana@Example.com", next="/c/eng")
    assert answer.status_code == 200
    (body,) = outbox(core)
    assert "https://bridge.example.com/login/link/" in body
    response = log_in(core, client, "ana@example.com", next="/c/eng")
    assert response.status_code == 303
    assert response.headers["location"] == "/c/eng"
    cookie = next(c for c in response.headers.get_list("set-cookie") if "bridge_session=" in c)
    assert cookie.startswith("__Host-bridge_session=")
    for attribute in ("HttpOnly", "SameSite=Lax", "Secure", "Path=/"):
        assert attribute in cookie
    assert whoami(client) == "ana@example.com"


def test_opening_the_link_does_not_log_in_or_use_it_up(core: Core) -> None:
    """GET (what mail scanners do) shows a button; the link still works afterwards."""
    client = browser(core)
    ask_link(client, "ana@example.com")
    token = mailed_tokens(core)[0]
    for _ in range(3):
        page = client.get(f"/login/link/{token}")
        assert page.status_code == 200
        assert BeautifulSoup(page.text, "html.parser").find("button")
    assert whoami(client) is None
    assert log_in_with(client, token).status_code == 303
    assert whoami(client) == "ana@example.com"


def log_in_with(client: TestClient, token: str) -> object:
    return client.post(
        f"/login/link/{token}",
        data={"csrf_token": csrf(client, "/login")},
        follow_redirects=False,
    )


def test_a_link_works_once(core: Core) -> None:
    """The second use of a link is refused, even in the same browser."""
    client = browser(core)
    ask_link(client, "ana@example.com")
    token = mailed_tokens(core)[0]
    assert log_in_with(client, token).status_code == 303
    client.post("/logout", data={"csrf_token": csrf(client, "/me")})
    assert whoami(client) is None
    again = log_in_with(client, token)
    assert again.status_code == 410
    assert whoami(client) is None


def test_an_expired_link_is_refused(core: Core) -> None:
    """After BRIDGE_LOGIN_LINK_MINUTES the link no longer logs in."""
    client = browser(core)
    ask_link(client, "ana@example.com")
    token = mailed_tokens(core)[0]
    with writer(core.engine).begin() as conn:
        conn.execute(
            update(LoginToken.__table__).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert client.get(f"/login/link/{token}").status_code == 410
    assert log_in_with(client, token).status_code == 410
    assert whoami(client) is None


def test_a_link_only_works_in_the_browser_that_asked(core: Core) -> None:
    """Another browser (a forwarded or intercepted link) cannot log in with it."""
    asking, other = browser(core), browser(core)
    ask_link(asking, "ana@example.com")
    token = mailed_tokens(core)[0]
    refused = log_in_with(other, token)
    assert refused.status_code == 403
    assert "another browser" in refused.text
    assert whoami(other) is None
    # The refusal did not use the link up for its rightful browser.
    assert log_in_with(asking, token).status_code == 303
    assert whoami(asking) == "ana@example.com"


def test_the_answer_never_reveals_whether_an_address_is_known(core: Core) -> None:
    """Known, unknown, outside and disabled addresses get the same page; only some get mail."""
    (slug,) = _community(core)
    with writer(core.engine).begin() as conn:
        admin.set_member(conn, slug, "partner@outside.example")
        admin.set_disabled(conn, "gone@example.com")
    pages = {}
    for email in (
        "ana@example.com",  # org address, never seen
        "partner@outside.example",  # a member from outside
        "nobody@outside.example",  # unknown outsider: no mail
        "gone@example.com",  # disabled: no mail
    ):
        response = ask_link(browser(core), email)
        assert response.status_code == 200
        pages[email] = _normalised_page(response.text, email)
    assert len(set(pages.values())) == 1
    recipients = sorted(m["To"] for m in mailbox.Maildir(core.settings.outbox_dir, create=True))
    assert recipients == ["ana@example.com", "partner@outside.example"]


def _community(core: Core) -> tuple[str]:
    with writer(core.engine).begin() as conn:
        admin.add_community(conn, "eng", "Engineering")
    return ("eng",)


def _normalised_page(html: str, email: str) -> str:
    text = BeautifulSoup(html, "html.parser").main.get_text(" ", strip=True)
    return text.replace(email, "EMAIL")


def test_requests_are_rate_limited_per_address_and_per_client(core: Core) -> None:
    """Past the limit an address gets no more mail (same page); a client gets a 429."""
    client = browser(core)
    for _ in range(8):
        assert ask_link(client, "ana@example.com").status_code == 200
    assert len(outbox(core)) == 5
    statuses = [ask_link(client, f"p{i}@example.com").status_code for i in range(14)]
    assert statuses[:12] == [200] * 12
    assert statuses[12:] == [429, 429]
    assert len(outbox(core)) == 17


def test_login_rotates_the_session_and_logout_ends_it(core: Core) -> None:
    """A session id planted before login is not the one after; logout deletes it server-side."""
    client = browser(core)
    log_in(core, client, "ana@example.com")
    first = _session_cookie(client)
    log_in(core, client, "bob@example.com")
    second = _session_cookie(client)
    assert first != second
    assert whoami(client) == "bob@example.com"
    # The old session is gone from the server, not just replaced in this browser.
    stale = browser(core)
    stale.cookies.set("__Host-bridge_session", first)
    assert whoami(stale) is None
    thief = browser(core)
    thief.cookies.set("__Host-bridge_session", second)
    assert whoami(thief) == "bob@example.com"
    response = client.post(
        "/logout", data={"csrf_token": csrf(client, "/me")}, follow_redirects=False
    )
    assert response.status_code == 303
    assert whoami(client) is None
    assert whoami(thief) is None  # the copied cookie died with the session


def _session_cookie(client: TestClient) -> str:
    return str(client.cookies.get("__Host-bridge_session"))


def test_forged_session_cookie_is_ignored(core: Core) -> None:
    """A cookie we did not sign is anonymous, not an error."""
    client = browser(core)
    client.cookies.set("__Host-bridge_session", "abc.def")
    assert whoami(client) is None
    assert client.get("/").status_code == 200


def test_disabling_a_person_ends_their_sessions(core: Core) -> None:
    """An admin disabling someone logs them out everywhere and stops new links."""
    client = browser(core)
    log_in(core, client, "ana@example.com")
    assert whoami(client) == "ana@example.com"
    with writer(core.engine).begin() as conn:
        admin.set_disabled(conn, "ana@example.com")
    assert whoami(client) is None
    before = len(outbox(core))
    ask_link(browser(core), "ana@example.com")
    assert len(outbox(core)) == before


def test_state_changing_requests_need_the_csrf_token(core: Core) -> None:
    """POST without the token, with a wrong one, or one from another browser: 403."""
    client = browser(core)
    log_in(core, client, "ana@example.com")
    good = csrf(client, "/me")
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.post("/logout", data={"csrf_token": "x" * 40}).status_code == 403
    other = browser(core)
    other_token = csrf(other)
    assert client.post("/logout", data={"csrf_token": other_token}).status_code == 403
    assert whoami(client) == "ana@example.com"
    for method in ("put", "patch", "delete"):
        assert client.request(method, "/anything").status_code == 403
    # The header works too (for scripts), and the token changed with the login.
    assert good != other_token
    response = client.post("/logout", headers={"X-CSRF-Token": good}, follow_redirects=False)
    assert response.status_code == 303


def test_login_form_itself_needs_the_token(core: Core) -> None:
    """A cross-site form cannot make a browser ask for links (login CSRF)."""
    client = browser(core)
    response = client.post("/login", data={"email": "ana@example.com"})
    assert response.status_code == 403
    assert outbox(core) == []


def test_security_headers(core: Core) -> None:
    """CSP without inline script or framing, nosniff, referrer policy, no caching when logged in."""
    client = browser(core)
    response = client.get("/login")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    log_in(core, client, "ana@example.com")
    page = client.get("/me")
    assert page.headers["cache-control"] == "private, no-store"
    assert page.headers["referrer-policy"] in ("same-origin", "no-referrer")


def test_login_by_link_retires_the_token_of_before(core: Core) -> None:
    """After a magic-link login the pre-login CSRF token gets 403; the new one works."""
    client = browser(core)
    before = csrf(client, "/login")
    assert log_in(core, client, "ana@example.com").status_code == 303
    assert whoami(client) == "ana@example.com"
    assert_token_rotated(client, before)


def test_logging_in_over_a_session_retires_its_token(core: Core) -> None:
    """A second login in the same browser (as someone else) rotates the token again."""
    client = browser(core)
    log_in(core, client, "ana@example.com")
    before = csrf(client, "/me")
    log_in(core, client, "bea@example.com")
    assert whoami(client) == "bea@example.com"
    assert_token_rotated(client, before)


def test_a_token_with_odd_characters_is_refused_not_a_crash(core: Core) -> None:
    """A token that is not ASCII is a wrong token: 403 with the clear page."""
    client = browser(core)
    log_in(core, client, "ana@example.com")
    response = client.post("/logout", data={"csrf_token": "é" * 40}, follow_redirects=False)
    assert response.status_code == 403
    assert EXPIRED_PAGE in response.text
    assert whoami(client) == "ana@example.com"


# Each is logged in through by a test: the magic link here, single sign-on in test_oidc.py.
LOGIN_ROUTES = {"web.auth.login_confirm", "web.oidc.callback"}


def test_every_route_that_logs_in_is_walked() -> None:
    """Only the login routes the tests walk open a session; a new one must join them."""
    root = ROOT
    callers = set()
    for package in ("web", "bridge"):
        for path in sorted((root / package).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                    isinstance(call, ast.Call)
                    and getattr(call.func, "id", getattr(call.func, "attr", "")) == "start_session"
                    for call in ast.walk(node)
                ):
                    callers.add(f"{module}.{node.name}")
    assert callers == LOGIN_ROUTES


def test_strict_transport_security_over_https_only(core: Core, tmp_path: Path) -> None:
    """With an https public URL every answer (page, 404, 403, static file, 500) carries
    HSTS for a year with subdomains; with http none does."""

    def answers(c: Core) -> list[object]:
        app = create_app(c)

        @app.get("/broken-on-purpose")
        def broken() -> None:
            raise RuntimeError("a fault the test provokes")

        client = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
        responses = [
            client.get("/login"),
            client.get("/no-such-page"),
            client.post("/logout"),
            client.get("/static/style.css"),
            client.get("/broken-on-purpose"),
        ]
        assert [r.status_code for r in responses] == [200, 404, 403, 200, 500]
        return responses

    for response in answers(core):
        assert response.headers["strict-transport-security"] == (
            "max-age=31536000; includeSubDomains"
        )
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    plain = open_core(settings_for(tmp_path / "plain", public_url="http://bridge.example.com"))
    try:
        for response in answers(plain):
            assert "strict-transport-security" not in response.headers
    finally:
        plain.close()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/c/eng?page=2", "/c/eng?page=2"),
        ("/", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("", "/"),
        ("c/eng", "/"),
    ],
)
def test_next_never_leaves_the_site(given: str, expected: str) -> None:
    """Only local paths survive as the place to go after login."""
    assert safe_next(given) == expected


def test_next_survives_the_round_trip_but_not_an_outside_target(core: Core) -> None:
    """A `next` pointing elsewhere is replaced by / before it is stored."""
    client = browser(core)
    response = log_in(core, client, "ana@example.com", next="//evil.example/")
    assert response.headers["location"] == "/"


def test_host_header_does_not_shape_the_link(core: Core) -> None:
    """A forged Host header never reaches the mailed link."""
    client = browser(core)
    token = csrf(client)
    client.post(
        "/login",
        data={"email": "ana@example.com", "csrf_token": token},
        headers={"Host": "evil.example"},
    )
    (body,) = outbox(core)
    assert "evil.example" not in body
    assert "https://bridge.example.com/login/link/" in body


def test_demo_prints_the_link(core: Core, capsys: pytest.CaptureFixture[str]) -> None:
    """With --demo the link is also printed where the person running it can see it."""
    app = create_app(core)
    app.state.print_login_links = True
    client = TestClient(app, base_url="https://testserver")
    page = BeautifulSoup(client.get("/login").text, "html.parser")
    token = page.find("input", attrs={"name": "csrf_token"})["value"]
    client.post("/login", data={"email": "ana@example.com", "csrf_token": token})
    assert "https://bridge.example.com/login/link/" in capsys.readouterr().out


def test_api_writes_need_the_token_too(core: Core) -> None:
    """A JSON POST without X-CSRF-Token is refused with a JSON answer."""
    client = browser(core)
    log_in(core, client, "ana@example.com")
    response = client.post("/api/threads/1/replies", json={"body": "hi"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
