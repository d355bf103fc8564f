"""`bridge reprocess --reindex`, run as an admin would (tests/support/cli.py)."""

from __future__ import annotations

import json
import mailbox
import subprocess
from pathlib import Path

from tests.support.cli import run_bridge
from tests.support.env import bridge_env
from tests.support.messages import conversation


def test_reindex_rebuilds_with_progress_and_search_finds_inflected_words(tmp_path: Path) -> None:
    env = bridge_env(tmp_path / "d")

    def bridge(*args: str) -> subprocess.CompletedProcess[str]:
        return run_bridge(args, env, cwd=tmp_path)

    assert (
        bridge(
            "community", "add", "eng", "--name", "Eng", "--address", "eng@lists.example.com"
        ).returncode
        == 0
    )
    box = mailbox.mbox(str(tmp_path / "a.mbox"))
    for raw in conversation(3):
        box.add(raw)
    box.close()
    assert bridge("import", "--community", "eng", str(tmp_path / "a.mbox")).returncode == 0
    done = bridge("reprocess", "--reindex")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "search index rebuilt: 3 messages written"
    assert "reindexed 3 of 3 messages" in done.stderr
    found = bridge("search", "rollouts", "--json")
    (hit,) = json.loads(found.stdout)["results"]
    assert "the rollout" in hit["snippet"]
    typo = bridge("search", "rolout")
    assert typo.stdout == ""
    assert typo.stderr.splitlines() == ["no messages match 'rolout'", "did you mean: rollout"]
    again = bridge("reprocess", "--reindex", "--restart")
    assert again.stdout.strip() == "search index rebuilt: 3 messages written"
    wrong = bridge("reprocess", "--restart")
    assert wrong.returncode != 0
    assert "--restart goes with --reindex" in wrong.stderr
    assert "Traceback" not in wrong.stderr
