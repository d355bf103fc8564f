"""The CLI contracts admins and scripts rely on, run as a user would (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import BridgeCli
from tests.support.env import bridge_env
from tests.support.messages import conversation, make_mail
from tests.support.paths import MAIL_SAMPLES

DATA = MAIL_SAMPLES


@pytest.fixture
def bridge(tmp_path: Path) -> BridgeCli:
    return BridgeCli(tmp_path)


def test_parse_json_contract(bridge, tmp_path: Path) -> None:
    """`bridge parse --json` prints one object per file with the documented keys."""
    a = tmp_path / "a.eml"
    a.write_bytes(conversation(2)[1])
    b = tmp_path / "b.eml"
    b.write_bytes(make_mail(msgid="b@example.com", headers={"Auto-Submitted": "auto-replied"}))
    lines = bridge("parse", str(a), str(b), "--json").stdout.splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["file"] == str(a)
    assert first["message_id"] == "c1@example.com"
    assert first["in_reply_to"] == "c0@example.com"
    assert first["references"] == ["c0@example.com"]
    assert first["from"] == {"name": "Person 1", "address": "p1@example.com"}
    assert first["date"].startswith("2026-03-02T10:00:00")
    for key in (
        "to",
        "cc",
        "text",
        "visible_text",
        "quoted_text",
        "signature",
        "attachments",
        "defects",
        "subject",
    ):
        assert key in first
    assert (first["auto_reply"], second["auto_reply"]) == (False, True)


def test_community_route_import_export_search_log(bridge, tmp_path: Path) -> None:
    """The admin's path: create, route, import, then export, search and read the log."""
    import mailbox

    bridge("community", "add", "eng", "--name", "Engineering", "--address", "eng@lists.example.com")
    bridge("route", "add", "eng", "--list-id", "eng.lists.example.com")
    dup = bridge("community", "add", "eng", "--name", "Again", ok=False)
    assert dup.returncode != 0
    assert "already exists" in dup.stderr
    box = mailbox.mbox(str(tmp_path / "a.mbox"))
    for raw in conversation(3):
        box.add(raw)
    box.close()
    bridge("import", "--community", "eng", str(tmp_path / "a.mbox"))
    export = json.loads(bridge("export", "threads", "--community", "eng", "--json").stdout)
    (thread,) = export["threads"]
    assert thread["subject"] == "Rollout plan"
    assert [m["message_id"] for m in thread["messages"]] == [f"c{i}@example.com" for i in range(3)]
    assert set(thread["messages"][0]) == {"message_id", "parent", "from", "date"}
    found = json.loads(bridge("search", '"number 2"', "--json").stdout)["results"]
    assert [r["thread_id"] for r in found] == [thread["id"]]
    log = [json.loads(line) for line in bridge("log", "--json").stdout.splitlines()]
    assert {r["state"] for r in log} == {"done"}
    assert len(log) == 3
    assert bridge("log", "--since", "yesterday-ish", ok=False).returncode != 0


def test_route_needs_exactly_one_target(bridge) -> None:
    """`route add` without --address or --list-id explains itself."""
    bridge("community", "add", "eng", "--name", "Engineering")
    result = bridge("route", "add", "eng", ok=False)
    assert result.returncode != 0
    assert "exactly one" in result.stderr


def test_search_input_is_never_engine_syntax(bridge) -> None:
    """Operators and stray quotes are words, not FTS5 syntax errors."""
    bridge("community", "add", "eng", "--name", "Engineering")
    for q in ['"unbalanced', "NEAR(a b)", "a AND OR", "*", "col:umn", "'; DROP TABLE x"]:
        assert json.loads(bridge("search", q, "--json").stdout)["results"] == []


def test_serve_refuses_a_network_facing_web_host(tmp_path: Path) -> None:
    """Beyond loopback the web app needs BRIDGE_PUBLIC_URL: login links are built from it."""
    all_interfaces = "0.0.0.0"  # noqa: S104  (the configuration being refused)
    env = {
        **bridge_env(tmp_path / "d"),
        "BRIDGE_WEB_HOST": all_interfaces,
        "PATH": "/usr/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "serve"], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "set BRIDGE_PUBLIC_URL" in result.stderr


def test_parse_json_reports_bounces(bridge, tmp_path: Path) -> None:
    """`bridge parse --json` gives "bounce": null, or the recipients with status and permanence."""
    plain = tmp_path / "plain.eml"
    plain.write_bytes(make_mail())
    dsn = DATA / "0034-bounce-dsn-permanent.eml"
    delayed = DATA / "0035-bounce-dsn-delayed.eml"
    lines = bridge("parse", str(plain), str(dsn), str(delayed), "--json").stdout.splitlines()
    ordinary, failed, late = (json.loads(line) for line in lines)
    assert ordinary["bounce"] is None
    assert failed["bounce"] == {
        "recipients": [
            {"address": "carla@example.org", "status": "5.1.1", "permanent": True},
            {"address": "dan@example.org", "status": "5.2.2", "permanent": True},
        ]
    }
    assert late["bounce"] == {
        "recipients": [{"address": "fred@example.org", "status": "4.4.1", "permanent": False}]
    }
    assert late["auto_reply"] is True
