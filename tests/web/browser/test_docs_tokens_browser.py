"""In a real Chromium: /docs renders the vendored Swagger UI under the CSP and calls the API
with a token made on /me; the feed link on a community page works without a cookie."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support.browser import Server

pytestmark = pytest.mark.browser

SERVE_ROLES = ("web",)


def test_docs_render_under_the_csp_and_try_a_call_with_a_token(page: Any, server: Server) -> None:
    """Make a token on /me, authorize /docs with it, run GET /api/communities from the page."""
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.goto(server.url + "/me")
    page.get_by_label("Name").fill("docs try-out")
    page.get_by_role("button", name="Create a token").click()
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("cbt_")
    page.context.clear_cookies()  # from here on, only the token says who this is
    page.goto(server.url + "/docs")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "Commons Bridge" in page.locator(".swagger-ui .info .title").inner_text()
    page.get_by_role("button", name=re.compile("Authorize")).first.click()
    page.locator(".modal-ux .auth-container input").first.fill(token)
    page.get_by_role("button", name="Apply credentials").click()
    page.locator(".modal-ux button.btn-done").click()
    operation = page.locator("#operations-api-api_communities_api_communities_get")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    body = operation.locator(".responses-wrapper .live-responses-table .microlight").first
    body.wait_for()
    assert '"slug": "engineering"' in body.inner_text()  # an org community: the token's rights
    assert violations == []
    assert page.errors == []
    # Nothing was asked of another site (new_context refuses and records such requests).
    assert page.traffic.remote == []


def test_feed_link_follows_without_a_cookie(page: Any, server: Server) -> None:
    """The Atom link a logged-in reader sees opens the org community's feed with no cookie."""
    page.goto(server.url + "/c/engineering")
    href = page.locator("a.feed").get_attribute("href")
    assert re.fullmatch(r"/c/engineering/feed\.atom\?token=cbf_[0-9a-f]{40}", href)
    with urllib.request.urlopen(server.url + href, timeout=30) as feed:  # no cookie
        assert b"<feed" in feed.read()
    bare = server.url + "/c/engineering/feed.atom"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bare, timeout=30)
    assert refused.value.code == 404
