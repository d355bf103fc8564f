"""The identity commands as a user runs them: grant, members, audit, and `--as EMAIL`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import BridgeCli, run_bridge
from tests.support.env import bridge_env
from tests.support.messages import conversation


@pytest.fixture
def bridge(tmp_path: Path) -> BridgeCli:
    return BridgeCli(tmp_path, BRIDGE_ORG_DOMAINS="example.com")


def test_search_and_export_as_a_person(bridge, tmp_path: Path) -> None:
    """`--as` sees what that address may read; an unreadable community looks missing."""
    mbox = tmp_path / "a.mbox"
    mbox.write_bytes(
        b"".join(b"From x Mon Mar  2 09:00:00 2026\n" + m + b"\n" for m in conversation(2))
    )
    bridge("community", "add", "hr", "--name", "HR", "--visibility", "members")
    bridge("import", "--community", "hr", str(mbox))
    bridge("member", "add", "hr", "Dana@Partner.example")

    def hits(*who: str) -> int:
        out = bridge("search", "rollout", "--json", *who).stdout
        return len(json.loads(out)["results"])

    total = hits()  # the shell is the local admin
    assert total >= 1
    assert hits("--as", "dana@partner.example") == total
    assert hits("--as", "colleague@example.com") == 0
    refused = bridge(
        "export", "threads", "--community", "hr", "--as", "colleague@example.com", ok=False
    )
    assert refused.returncode != 0
    assert "no community 'hr'" in refused.stderr
    exported = bridge(
        "export", "threads", "--community", "hr", "--json", "--as", "dana@partner.example"
    )
    assert len(json.loads(exported.stdout)["threads"]) == 1
    bridge("community", "edit", "hr", "--visibility", "org")
    assert hits("--as", "colleague@example.com") == total
    assert "not an e-mail address" in bridge("search", "x", "--as", "nobody", ok=False).stderr


def test_grant_members_disable_and_audit(bridge) -> None:
    """Admin commands print what they did and each lands in the audit log."""
    bridge("community", "add", "eng", "--name", "Engineering")
    assert bridge("admin", "grant", "Boss@Example.com").stdout.strip() == "admin boss@example.com"
    assert (
        "moderator ana@example.com in eng"
        in bridge("member", "add", "eng", "ana@example.com", "--moderator").stdout
    )
    bridge("person", "disable", "ana@example.com")
    bridge("member", "remove", "eng", "ana@example.com")
    assert "no community" in bridge("member", "add", "nope", "a@example.com", ok=False).stderr
    lines = [json.loads(x) for x in bridge("audit", "--json").stdout.splitlines()]
    assert [x["action"] for x in lines] == [
        "member.remove",
        "person.disable",
        "member.set",
        "admin.grant",
        "community.create",
    ]
    assert all(x["actor"].startswith("cli") for x in lines)
    assert lines[1]["after"] == {"is_admin": False, "disabled": True}


def test_held_mail_from_the_shell(tmp_path: Path) -> None:
    """`bridge held list/approve/reject/discard` are the web's moderation, from the shell."""
    from bridge.core import open_core
    from bridge.settings import load_settings
    from tests.support.factories import create_community, deliver
    from tests.support.messages import make_mail

    env = bridge_env(tmp_path / "d", BRIDGE_ORG_DOMAINS="example.com")
    core = open_core(
        load_settings(
            data=tmp_path / "d",
            database_url=env.get("BRIDGE_DATABASE_URL") or None,
            org_domains=["example.com"],
        )
    )
    try:
        create_community(core, posting="members")
        outcomes = deliver(
            core,
            *(
                make_mail(f"Outside {n}", sender="eve@outside.example", msgid=f"o{n}@x.example")
                for n in range(3)
            ),
        )
    finally:
        core.close()
    ids = [str(o.raw_id) for o in outcomes]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_bridge(args, env)

    listed = [json.loads(line) for line in run("held", "list", "--json").stdout.splitlines()]
    assert sorted(str(h["id"]) for h in listed) == sorted(ids)
    assert all(h["communities"] == ["eng"] for h in listed)
    assert run("held", "approve", ids[0]).stdout.strip() == f"message {ids[0]}: done"
    assert "rejected" in run("held", "reject", ids[1], "--reason", "Members only.").stdout
    assert "discarded" in run("held", "discard", ids[2]).stdout
    assert run("held", "list", "--json").stdout.strip() == ""
    assert "not held" in run("held", "approve", ids[0]).stderr
    actions = [json.loads(x)["action"] for x in run("audit", "--json").stdout.splitlines()]
    assert actions[:3] == ["held.discard", "held.reject", "held.approve"]
