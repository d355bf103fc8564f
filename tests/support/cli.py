"""Running `bridge` as a user would: a subprocess on a fresh store, text in and out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.env import bridge_env


class BridgeCli:
    """`cli(*args)` runs `bridge ARGS` in `cwd` with the store's environment `env`;
    `ok=True` (the default) asserts exit status 0, `ok=False` leaves it to the test."""

    def __init__(self, cwd: Path, **extra_env: str) -> None:
        self.cwd = cwd
        self.env = bridge_env(cwd / "d", **extra_env)

    def __call__(self, *args: str, ok: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "bridge", *args],
            env=self.env,
            capture_output=True,
            text=True,
            cwd=self.cwd,
            **kw,
        )
        if ok:
            assert result.returncode == 0, result.stderr
        return result
