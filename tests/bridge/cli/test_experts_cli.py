"""`bridge experts` as a user runs it: the JSON contract, --as, --community, errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bridge.core import open_core
from bridge.settings import load_settings
from tests.support.cli import run_bridge
from tests.support.env import bridge_env
from tests.support.experts import BO, MIA, ORG, VIC, build_world


@pytest.fixture
def bridge(tmp_path: Path):
    data = tmp_path / "d"
    env = bridge_env(data, BRIDGE_ORG_DOMAINS=",".join(ORG))
    core = open_core(
        load_settings(
            data=data,
            database_url=env.get("BRIDGE_DATABASE_URL") or None,
            org_domains=ORG,
            verify_senders="off",
        )
    )
    build_world(core)
    core.close()

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = run_bridge(["experts", *args], env, cwd=tmp_path)
        if ok:
            assert result.returncode == 0, result.stderr
        return result

    return run


def test_json_lists_people_best_first_with_what_the_viewer_may_see(bridge) -> None:
    """The shell (a local admin) sees every address; --as an org reader hides Vic's and Mia."""
    everything = json.loads(bridge("zswap", "--json", "--limit", "20").stdout)
    assert everything["query"] == "zswap"
    people = everything["people"]
    assert people[0]["address"] == BO
    assert set(people[0]) == {"name", "address", "score", "threads", "last_active"}
    assert [p["score"] for p in people] == sorted((p["score"] for p in people), reverse=True)
    assert {VIC, MIA} <= {p.get("address") for p in people}
    reader = json.loads(bridge("zswap", "--json", "--limit", "20", "--as", "r@example.com").stdout)
    names = {p["name"] for p in reader["people"]}
    assert "Vic Vendor" in names
    assert "Mia Hidden" not in names
    assert all("address" not in p for p in reader["people"] if p["name"] == "Vic Vendor")


def test_community_narrows_and_an_unreadable_one_looks_missing(bridge) -> None:
    """--community secret: Mia for her; for an org reader the same error as a missing one."""
    mine = json.loads(bridge("zswap", "--json", "--community", "secret", "--as", MIA).stdout)
    assert [p["name"] for p in mine["people"]] == ["Mia Hidden"]
    denied = bridge("zswap", "--community", "secret", "--as", "r@example.com", ok=False)
    missing = bridge("zswap", "--community", "nope", ok=False)
    assert denied.returncode == missing.returncode != 0
    assert denied.stderr.strip() == "Error: no community 'secret'"
    assert "Traceback" not in denied.stderr


def test_the_table_is_readable(bridge) -> None:
    """Without --json: one numbered line per person, their address, the threads."""
    out = bridge("compressed swap cache").stdout
    assert out.startswith("also looked for: ")
    assert "  1 " in out
    assert f"Bo Berg <{BO}>" in out.splitlines()[1]
    assert "Nobody found" in bridge("zzzunknownword").stdout


def test_the_background_sample_is_kept_for_the_next_run(bridge, tmp_path: Path) -> None:
    """The first run stores the sample in the data directory's cache/, readable by its
    owner only; the next run, using it, answers the same."""

    def people() -> list[tuple[str, list[int]]]:
        # Scores move with the clock (recency); who is listed, in which order, does not.
        found = json.loads(bridge("zswap", "--json").stdout)["people"]
        return [(p["address"], p["threads"]) for p in found]

    first = people()
    (kept,) = (tmp_path / "d" / "cache").glob("experts-*.json")
    assert kept.stat().st_mode & 0o077 == 0
    assert json.loads(kept.read_text())["size"] > 0
    written = kept.stat().st_mtime_ns
    assert people() == first
    assert kept.stat().st_mtime_ns == written  # used, not built and written again
