"""`bridge --help` and every subcommand's help start without the heavy libraries:
what a command needs is imported when it runs (the times: bench/cli_startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from bridge.cli.logs import RAW_STATES
from threads.models import RawState

HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "aiosmtpd",
    "pydantic",
    "jinja2",
    "bridge.core",
    "threads.models",
)

# Every command path's --help, in one interpreter, then the modules it loaded.
PROBE = """
import json, sys
import click
from bridge.cli import main

def paths(group, prefix):
    for name, command in group.commands.items():
        yield [*prefix, name]
        if isinstance(command, click.Group):
            yield from paths(command, [*prefix, name])

seen = [[]] + list(paths(main, []))
for path in seen:
    try:
        main([*path, "--help"], standalone_mode=False)
    except SystemExit:
        pass
print(json.dumps({"paths": seen, "modules": sorted(sys.modules)}))
"""


def test_help_of_every_command_imports_no_heavy_module() -> None:
    """None of the web, database or SMTP libraries is imported to show any help."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    report = json.loads(result.stdout.splitlines()[-1])
    assert len(report["paths"]) > 30  # the probe really walked the command tree
    loaded = {m for m in report["modules"] for h in HEAVY if m == h or m.startswith(h + ".")}
    assert loaded == set()


def test_version() -> None:
    """`bridge --version` prints the installed package's version."""
    from importlib.metadata import version

    out = subprocess.run(
        [sys.executable, "-m", "bridge", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out == f"bridge, version {version('commons-bridge')}\n"


def test_log_states_are_the_pipeline_states() -> None:
    """`bridge log --state` offers exactly the raw message states (spelled out for speed)."""
    assert set(RAW_STATES) == {s.value for s in RawState}
