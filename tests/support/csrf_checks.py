"""Checks shared by the login tests: the CSRF token of before a login dies with it.

Every route that logs someone in (magic link in tests/web/test_auth.py, single
sign-on in tests/web/test_oidc.py) calls `assert_token_rotated` right after its
login, with the token a page gave the browser before.
"""

from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

EXPIRED_PAGE = "This form has expired"


def form_token(client: TestClient, path: str) -> str:
    """The csrf_token a page's form carries for this browser."""
    page = BeautifulSoup(client.get(path).text, "html.parser")
    field = page.find("input", attrs={"name": "csrf_token"})
    assert field is not None, f"no form with a CSRF token on {path}"
    return str(field["value"])


def assert_token_rotated(client: TestClient, before: str) -> None:
    """`client` has just logged in: `before` is refused with the clear page, the new one works.

    Ends the session (a POST to /logout with the new token), then checks that
    `before` is still refused once the browser is anonymous again.
    """
    for sent in ({"data": {"csrf_token": before}}, {"headers": {"X-CSRF-Token": before}}):
        refused = client.post("/logout", follow_redirects=False, **sent)  # type: ignore[arg-type]
        assert refused.status_code == 403
        assert EXPIRED_PAGE in refused.text
        assert client.get("/me", follow_redirects=False).status_code == 200  # still logged in
    after = form_token(client, "/me")
    assert after != before
    done = client.post("/logout", data={"csrf_token": after}, follow_redirects=False)
    assert done.status_code == 303
    assert client.get("/me", follow_redirects=False).status_code == 303  # logged out
    form = {"email": "someone@example.com", "csrf_token": before}
    again = client.post("/login", data=form, follow_redirects=False)
    assert again.status_code == 403
    assert form_token(client, "/login") != before
