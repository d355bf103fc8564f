"""The managers' page in a real Chromium: charts visible, nothing remote, axe-core content.

The demo seeds a few weeks of invented candidates and reads (bridge/demo.py);
the test reader is made a moderator of Engineering first. The screenshot
(docs/screenshots/insights.png) shows demo data only.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import (
    READER,
    Server,
    axe_source,
    new_context,
    screenshot,
    serious_violations,
)
from tests.support.paths import BROWSER_CACHE

pytestmark = pytest.mark.browser
SERVE_ROLES = ("web",)  # the demo is filed before serving; no mail moves here
PAGE = "/c/engineering/insights"


@pytest.fixture(scope="module")
def moderator(server: Server) -> Server:
    """The signed-in reader becomes a moderator of Engineering (the page is theirs then)."""
    from bridge import admin
    from bridge.core import open_core
    from bridge.settings import load_settings
    from threads.db import writer

    settings = load_settings(
        data=server.data, database_url=server.env.get("BRIDGE_DATABASE_URL") or None
    )
    core = open_core(settings)
    try:
        with writer(core.engine).begin() as conn:
            admin.set_member(conn, "engineering", READER, "moderator", actor="test")
    finally:
        core.close()
    return server


def test_charts_show_for_a_moderator(page: Any, moderator: Server) -> None:
    """Both charts are drawn and visible, with their tables; no script error, nothing remote."""
    page.goto(moderator.url + PAGE)
    assert page.get_by_role("heading", level=1).inner_text().startswith("Is it working?")
    charts = page.locator("svg.chart")
    assert charts.count() == 2
    assert charts.first.is_visible()
    assert page.locator("svg.chart rect.bar").count() > 0
    assert page.locator("svg.chart polyline.line").count() == 2
    # The bars are coloured by the stylesheet (no inline fills), so the class took effect.
    fill = page.evaluate("getComputedStyle(document.querySelector('rect.bar.s1')).fill")
    assert fill not in ("", "none", "rgb(0, 0, 0)")
    assert page.get_by_role("table").count() == 2
    screenshot(page, "insights")
    assert page.traffic.remote == []
    assert page.errors == []


def test_the_period_selector(page: Any, moderator: Server) -> None:
    """The 90-day link redraws by day; the chosen period is marked as current."""
    page.goto(moderator.url + PAGE)
    page.get_by_role("link", name="90 days, by day").click()
    page.wait_for_url(moderator.url + PAGE + "?days=90")
    assert page.locator('.period [aria-current="page"]').inner_text() == "90 days, by day"
    assert page.locator("#consent tbody tr").count() == 90


def test_no_serious_accessibility_violations(chromium: Any, moderator: Server) -> None:
    """axe-core (fetched from npm at setup, not committed) finds nothing serious or critical."""
    source = axe_source(BROWSER_CACHE)
    if source is None:
        pytest.skip("axe-core could not be fetched from npm")
    for scheme in ("light", "dark"):
        context, _ = new_context(chromium, moderator, bypass_csp=True, color_scheme=scheme)
        try:
            page = context.new_page()
            page.goto(moderator.url + PAGE)
            assert serious_violations(page, source) == [], scheme
        finally:
            context.close()
