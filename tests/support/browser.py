"""What the browser tests share: a `bridge serve --demo` process on loopback with a
signed-in reader's cookie, Chromium contexts that refuse requests leaving the
machine, screenshots for the README, and axe-core for accessibility checks.

The fixtures that start the server and Chromium are in tests/web/browser/conftest.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")


ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


ROOT = Path(__file__).resolve().parents[2]


READER = "reader@example.com"


LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@dataclass
class Server:
    url: str
    smtp_port: int
    data: Path
    env: dict[str, str]
    cookie: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str) -> bytes:
        req = urllib.request.Request(self.url + path)
        req.add_header("Cookie", f"{self.cookie['name']}={self.cookie['value']}")
        with urllib.request.urlopen(req, timeout=30) as r:
            return bytes(r.read())


def wait_for_server(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("bridge serve exited:\n" + log.read_text(errors="replace"))
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("bridge serve did not answer:\n" + log.read_text(errors="replace"))


def session_cookie(data: Path, env: dict[str, str], url: str) -> dict[str, Any]:
    """A session for READER, opened as web/auth.py does after the login link is followed."""
    from bridge import admin
    from bridge.core import open_core
    from bridge.settings import load_settings
    from threads.db import writer
    from web.auth import open_session
    from web.security import CookieNames, sign_session

    settings = load_settings(data=data, database_url=env.get("BRIDGE_DATABASE_URL") or None)
    core = open_core(settings)
    try:
        with writer(core.engine).begin() as conn:
            person_id, _ = admin.ensure_person(conn, READER, "Riley Reader")
            sid = open_session(conn, person_id, hours=2)
    finally:
        core.close()
    names = CookieNames(secure=False)
    return {
        "name": names.session,
        "value": sign_session(settings.secret_key, sid),
        "url": url,
        "httpOnly": True,
        "sameSite": "Lax",
    }


@dataclass
class Traffic:
    """Every request the page made, and the ones that tried to leave the machine."""

    seen: list[str] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)
    remote_types: list[str] = field(default_factory=list)


def new_context(chromium: Any, server: Server, **options: Any) -> tuple[Any, Traffic]:
    """A browser context signed in as the reader, refusing (and recording) non-loopback requests."""
    options.setdefault("viewport", {"width": 1280, "height": 900})
    context = chromium.new_context(**options)
    context.add_cookies([server.cookie])
    traffic = Traffic()

    def route(r: Any) -> None:
        traffic.seen.append(r.request.url)
        host = urlsplit(r.request.url).hostname or ""
        if r.request.url.startswith(("data:", "blob:", "about:")) or host in LOOPBACK:
            r.continue_()
        else:
            traffic.remote.append(r.request.url)
            traffic.remote_types.append(r.request.resource_type)
            r.abort()

    context.route("**/*", route)
    return context, traffic


@contextmanager
def axe_page(chromium: Any, server: Server, cache: Path) -> Iterator[tuple[Any, str]]:
    """(a signed-in page that axe may be injected into, axe's source); skips without axe."""
    source = axe_source(cache)
    if source is None:
        pytest.skip("axe-core could not be fetched from npm")
    # bypass_csp: our own CSP forbids the injected checker, as it should forbid any script.
    context, _ = new_context(chromium, server, bypass_csp=True)
    try:
        yield context.new_page(), source
    finally:
        context.close()


SCREENSHOTS = ROOT / "docs" / "screenshots"


def screenshot(page: Any, name: str, *, full_page: bool = False) -> None:
    """Save a screenshot of demo content for the README (docs/screenshots/NAME.png)."""
    if os.environ.get("BRIDGE_SCREENSHOTS", "1") == "0":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def axe_source(cache: Path) -> str | None:
    """axe-core's browser bundle, fetched from npm at test-setup time (cached, never committed)."""
    target = cache / "axe.min.js"
    if target.exists():
        return target.read_text()
    npm = shutil.which("npm")
    if npm is None:
        return None
    cache.mkdir(parents=True, exist_ok=True)
    # Unpacked in a folder of this process's own, then moved into place in one step:
    # test processes running side by side (pytest -n) may all fetch it at once.
    work = Path(tempfile.mkdtemp(dir=cache))
    try:
        packed = (
            subprocess.run(
                [npm, "pack", "axe-core@4", "--silent", "--pack-destination", str(work)],
                capture_output=True,
                text=True,
                timeout=180,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        subprocess.run(
            ["tar", "-xzf", str(work / packed), "-C", str(work), "package/axe.min.js"],
            check=True,
            timeout=60,
        )
        os.replace(work / "package" / "axe.min.js", target)
    except (subprocess.SubprocessError, OSError, IndexError):
        return None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target.read_text()


def serious_violations(page: Any, source: str) -> list[tuple[str, list[Any]]]:
    """axe-core (`source`, from axe_source) run on the open page: each serious or critical
    violation's rule and its first three places."""
    page.evaluate(source)
    result = page.evaluate(
        "async () => JSON.stringify(await axe.run(document, {resultTypes: ['violations']}))"
    )
    return [
        (v["id"], [n["target"] for n in v["nodes"]][:3])
        for v in json.loads(result)["violations"]
        if v["impact"] in ("serious", "critical")
    ]
