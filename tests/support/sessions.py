"""Log a test's web client in without the mail round trip (tests/web/test_auth.py covers that)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from bridge import admin
from bridge.core import Core
from threads.db import writer
from web.auth import open_session
from web.security import sign_session


def sign_in(client: TestClient, core: Core, email: str, *, is_admin: bool = False) -> None:
    """Give `client` a session as `email` (created if new; made an admin if asked)."""
    with writer(core.engine).begin() as conn:
        person_id, _ = admin.ensure_person(conn, email)
        sid = open_session(conn, person_id, hours=1)
    if is_admin:
        with writer(core.engine).begin() as conn:
            admin.set_admin(conn, email, actor="test")
    app = client.app
    names = app.state.cookies  # type: ignore[attr-defined]
    client.cookies.set(names.session, sign_session(core.settings.secret_key, sid))
