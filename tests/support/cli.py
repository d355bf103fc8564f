"""Running `bridge` as a user would, on a fresh store, text in and out.

`run_bridge` runs the real command tree (`bridge.cli.main`, the same click
group and error boundary the console script enters) inside the test process,
with the environment, working directory and standard input the command would
have as a subprocess. It answers a `subprocess.CompletedProcess`, so a test
reads `returncode`, `stdout` and `stderr` either way. A subprocess costs about
two seconds of interpreter start and imports per command on the suite's
2-core machines; in-process a command costs what it does. Tests whose point
is the process itself (start-up imports, `bridge serve`, signals, a terminal,
two processes on one store) start `python -m bridge` with `subprocess`.
"""

from __future__ import annotations

import os
import subprocess
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support.env import bridge_env


@contextmanager
def _as_a_child(env: Mapping[str, str], cwd: Path | None) -> Iterator[None]:
    """The process environment replaced by `env` and the working directory by `cwd`,
    as `subprocess.run(env=..., cwd=...)` gives a child; both restored after."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    try:
        if cwd is not None:
            os.chdir(cwd)
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_bridge(
    args: list[str] | tuple[str, ...],
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`bridge ARGS` in this process: its exit status, standard output and error.

    An exception the command's boundary does not answer is a bug; as from the
    console script, its traceback is on stderr and the status is 1.
    """
    from click.testing import CliRunner

    from bridge.cli import main

    with _as_a_child(env, cwd):
        result = CliRunner().invoke(main, list(args), input=input, prog_name="bridge")
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(
        ["bridge", *args], result.exit_code, stdout=result.stdout, stderr=stderr
    )


class BridgeCli:
    """`cli(*args)` runs `bridge ARGS` in `cwd` with the store's environment `env`
    (in this process: `run_bridge`); `ok=True` (the default) asserts exit status 0,
    `ok=False` leaves it to the test."""

    def __init__(self, cwd: Path, **extra_env: str) -> None:
        self.cwd = cwd
        self.env = bridge_env(cwd / "d", **extra_env)

    def __call__(
        self, *args: str, ok: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = run_bridge(args, self.env, cwd=self.cwd, input=input)
        if ok:
            assert result.returncode == 0, result.stderr
        return result
