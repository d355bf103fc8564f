"""The command line's boundary: every error of the tree is one line on stderr and status 1.

Each class is raised from a command under the real `BridgeGroup`; then real
`bridge` subprocesses meet the errors operators meet: settings that do not
validate, a database that cannot be reached, a use case's UsageError.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bridge.cli.errors import BridgeGroup
from bridge.errors import Held
from tests.support.env import bridge_env
from tests.support.errors import SECRET, instance, tree_classes
from tests.support.net import free_port


def _group_raising(error: Exception) -> click.Group:
    @click.group(cls=BridgeGroup)
    def group() -> None:
        """A stand-in for `bridge`, answered by the same boundary."""

    @group.command()
    def boom() -> None:
        raise error

    return group


@pytest.mark.parametrize("cls", tree_classes(), ids=lambda c: c.__name__)
def test_each_error_of_the_tree_is_one_line_and_status_1(cls: type[Exception]) -> None:
    """Every class under the three roots: "Error: <its text>", exit 1, no traceback."""
    error = instance(cls, "it went wrong\n  on two lines")
    result = CliRunner().invoke(_group_raising(error), ["boom"])
    assert result.exit_code == 1, result.output
    text = "it went wrong on two lines"
    if isinstance(error, Held):
        text = "held: " + text
    if cls.__name__ == "BadArchive":
        text = "/srv: " + text
    assert result.output == f"Error: {text}\n"
    assert "Traceback" not in result.output


def test_a_bug_is_not_dressed_as_an_operator_error() -> None:
    """An error outside the tree is not answered here: it keeps its traceback for the report."""
    result = CliRunner().invoke(_group_raising(KeyError("missing")), ["boom"])
    assert result.exit_code == 1
    assert isinstance(result.exception, KeyError)
    assert "Error:" not in result.output


def _bridge(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        env=bridge_env(tmp_path / "d", **env),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )


def test_a_setting_that_does_not_validate_names_it_without_its_value(tmp_path: Path) -> None:
    """BRIDGE_SMTP_PORT=<not a number>: one line naming the variable, the value not echoed."""
    result = _bridge(tmp_path, "log", BRIDGE_SMTP_PORT=SECRET)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: BRIDGE_SMTP_PORT: ")
    assert len(result.stderr.splitlines()) == 1
    assert SECRET not in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    """Nothing listens at the URL's port: one line saying so, the password not shown."""
    url = f"postgresql+psycopg://bridge:{SECRET}@127.0.0.1:{free_port()}/bridge"
    result = _bridge(tmp_path, "log", BRIDGE_DATABASE_URL=url)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: the database cannot be used: ")
    assert len(result.stderr.splitlines()) == 1
    assert SECRET not in result.stderr


def test_a_usage_error_from_a_command_is_its_own_line(tmp_path: Path) -> None:
    """A use case's UsageError reaches the operator as it was worded, status 1."""
    result = _bridge(tmp_path, "route", "add", "nosuch", "--address", "team@bridge.example")
    assert result.returncode == 1
    assert result.stderr == "Error: no community 'nosuch'\n"
