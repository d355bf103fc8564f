"""A real `bridge serve --demo` on loopback and a real headless Chromium driving it.

Chromium is Debian's package (`/usr/bin/chromium`, installed by
.ci/debian-packages), driven by Playwright for Python; Playwright's own
browser downloads are never used. Every test here skips cleanly when either
is missing. The server runs the web, worker, SMTP and sender roles as one
process on free ports, seeded with the fictional demo organisation; the test
reader gets a session the way web/auth.py opens one after a login link.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import (
    ARGS,
    CHROMIUM,
    ROOT,
    Server,
    new_context,
    session_cookie,
    wait_for_server,
)
from tests.support.env import bridge_env
from tests.support.net import free_port


@pytest.fixture(scope="session")
def playwright_api() -> Any:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)")
    return pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, playwright_api: Any
) -> Iterator[Server]:
    """`bridge serve --demo` on free loopback ports, with a signed-in reader's cookie.

    One per test module, so the hostile mail of one module never shows up in the
    screenshots another takes.
    """
    data = tmp_path_factory.mktemp("browser") / "data"
    web_port, smtp_port = free_port(), free_port()
    env = bridge_env(data, BRIDGE_ORG_DOMAINS="example.com", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "bridge", "serve", "--demo", "--data", str(data)]
    cmd += ["--web-port", str(web_port), "--smtp-port", str(smtp_port)]
    for role in getattr(request.module, "SERVE_ROLES", ("web", "worker", "smtp", "sender")):
        cmd += ["--role", role]
    log = (data.parent / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{web_port}"
    try:
        wait_for_server(url + "/login", proc, data.parent / "serve.log")
        srv = Server(url, smtp_port, data, env)
        srv.cookie = session_cookie(data, env, url)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# Per module, not per session: while Playwright's sync API is open it keeps an
# event loop running in the main thread, and the asyncio tests that follow the
# browser tests could not start theirs.
@pytest.fixture(scope="module")
def chromium(playwright_api: Any) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, server: Server) -> Iterator[Any]:
    context, traffic = new_context(chromium, server)
    page = context.new_page()
    page.traffic = traffic
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    yield page
    context.close()
