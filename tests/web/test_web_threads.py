"""BRIDGE_WEB_THREADS: how many requests one web process works on at once; the rest wait."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest

from bridge.core import open_core
from tests.support.env import settings_for
from web.app import create_app


@pytest.mark.parametrize("threads", [1, 2])
async def test_requests_beyond_the_limit_wait_their_turn(tmp_path: Path, threads: int) -> None:
    core = open_core(settings_for(tmp_path, web_threads=threads))
    app = create_app(core)
    lock = threading.Lock()
    inside = [0, 0]  # now, most ever

    # A page that takes a while, as a slow query would; it counts who is inside.
    @app.get("/slow")
    def slow() -> dict[str, bool]:
        with lock:
            inside[0] += 1
            inside[1] = max(inside[1], inside[0])
        time.sleep(0.2)
        with lock:
            inside[0] -= 1
        return {"ok": True}

    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
        ):
            replies = await asyncio.gather(*(client.get("/slow") for _ in range(5)))
    finally:
        core.close()
    assert [r.status_code for r in replies] == [200] * 5  # every one answered
    assert inside[1] == threads
