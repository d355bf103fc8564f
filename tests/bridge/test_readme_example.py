"""The README's own example, as written: `bridge serve --demo`, then its SMTP snippet
(no Date, no Message-ID); the message heads its community, dated when it arrived, and
a reply on the web keeps the thread's title. The README's community does not clash."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge.core import open_core
from bridge.demo import COMMUNITIES
from bridge.posting import post_reply
from bridge.settings import load_settings
from tests.support.env import bridge_env
from tests.support.net import free_port, wait_for
from tests.support.paths import ROOT
from threads import queries
from threads.access import viewer_for
from threads.models import Community, as_utc, utcnow

README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_smtp_snippet(port: int) -> str:
    """The Python the README pipes into `python -`, pointed at the test's SMTP port."""
    match = re.search(r"python - <<'PY'\n(.*?)\nPY\n", README, re.S)
    assert match, "the README's SMTP example moved"
    assert '"127.0.0.1", 8025' in match[1]
    return match[1].replace('"127.0.0.1", 8025', f'"127.0.0.1", {port}')


def test_readme_community_does_not_clash_with_the_demo() -> None:
    """`bridge community add` in the README names a slug, name and address the demo lacks."""
    match = re.search(r"bridge community add (\S+) --name (\S+) --address (\S+)", README)
    assert match
    slug, name, address = match.groups()
    for demo_slug, demo_name, _, demo_address, _ in COMMUNITIES:
        assert slug != demo_slug
        assert name.lower() not in demo_name.lower()
        assert address != demo_address


@pytest.mark.slow
def test_readme_message_heads_its_community_and_keeps_its_title(tmp_path: Path) -> None:
    """The snippet's message leads Engineering with its arrival time; a web reply keeps "Hello"."""
    env = {**os.environ, **bridge_env(tmp_path / "d")}
    smtp, web = free_port(), free_port()
    ports = ["--smtp-port", str(smtp), "--web-port", str(web)]
    serve = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve", "--demo", *ports],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    settings = load_settings(
        data=tmp_path / "d", database_url=env.get("BRIDGE_DATABASE_URL") or None
    )
    try:
        wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{web}/login").status == 200, 120)
        sent_at = utcnow()
        subprocess.run(
            [sys.executable, "-"], input=readme_smtp_snippet(smtp), text=True, check=True
        )
        core = open_core(settings)
        try:
            with core.engine.connect() as conn:
                cid = conn.execute(
                    select(Community.id).where(Community.slug == "engineering")
                ).scalar_one()

            def first_thread():
                with core.engine.connect() as conn:
                    page, _, _ = queries.threads_page(conn, cid)
                return page[0] if page and page[0].subject == "Hello" else None

            hello = wait_for(first_thread)
            assert sent_at - timedelta(seconds=1) <= as_utc(hello.last_activity_at) <= utcnow()
            with core.engine.connect() as conn:
                admin = viewer_for(conn, "admin@example.com", settings.org_domains)
            post_reply(core, admin, hello.id, "Welcome aboard!", name="Demo Admin")
            with core.engine.connect() as conn:
                page, _, _ = queries.threads_page(conn, cid)
            assert (page[0].id, page[0].subject, page[0].message_count) == (hello.id, "Hello", 2)
        finally:
            core.close()
    finally:
        serve.terminate()
        serve.wait(timeout=30)
