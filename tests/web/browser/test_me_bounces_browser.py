"""A person whose mail bounces sees it on /me and turns it back on, clicked in a real Chromium."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from bridge.settings import load_settings
from tests.support.browser import READER, Server
from threads import outbound
from threads.db import make_engine, writer
from threads.models import MailAddress

pytestmark = pytest.mark.browser

SERVE_ROLES = ("web",)


def engine_of(server: Server) -> Any:
    url = server.env.get("BRIDGE_DATABASE_URL") or None
    return make_engine(load_settings(data=server.data, database_url=url).effective_database_url)


def test_reader_resumes_their_bouncing_mail(page: Any, server: Server) -> None:
    """After three hard bounces /me says so; the button resumes mail and the page confirms it."""
    engine = engine_of(server)
    try:
        with writer(engine).begin() as conn:
            for _ in range(3):
                outbound.record_bounce(
                    conn, READER, permanent=True, reason="hard bounce 5.1.1", limit=3
                )
        page.goto(server.url + "/me")
        section = page.get_by_role("region", name="Mail to you")
        assert "Mail to you is bouncing since" in section.inner_text()
        assert "hard bounce 5.1.1" in section.inner_text()
        page.get_by_role("button", name="My mailbox works again: send me mail").click()
        page.wait_for_url(re.compile(r"/me\?done=bounces$"))
        assert page.get_by_role("status").first.inner_text() == "Mail to you is sent again."
        assert page.get_by_role("region", name="Mail to you").count() == 0
        with engine.connect() as conn:
            row = conn.execute(
                select(MailAddress.__table__).where(MailAddress.__table__.c.address == READER)
            ).one()
        assert not row.disabled
        assert row.hard_bounces == 0
        assert page.errors == []
    finally:
        engine.dispose()
