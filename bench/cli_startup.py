"""Start-up time of the `bridge` command: `--version`, `--help` and every subcommand's help.

Runs each as a fresh process (the installed console script beside this
Python) `--rounds` times and prints the median and the slowest wall time in
milliseconds, beside a bare `python -c pass` for the interpreter's own share and, for
reference, importing the core as every command did before its imports were
made lazy.
CPU time of the children is printed too: it is what other load on a shared
machine disturbs least. `.venv/bin/python bench/cli_startup.py --rounds 7`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import click

from bridge.cli import main


def command_paths() -> list[list[str]]:
    """Every command and group under `bridge`, as argument lists."""
    out: list[list[str]] = []

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name, command in sorted(group.commands.items()):
            out.append([*prefix, name])
            if isinstance(command, click.Group):
                walk(command, [*prefix, name])

    walk(main, [])
    return out


def timed(argv: list[str], rounds: int) -> tuple[float, float, float]:
    """Median and slowest wall time, and median child CPU time, in milliseconds."""
    walls, cpus = [], []
    for _ in range(rounds):
        before = os.times()
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        walls.append((time.perf_counter() - start) * 1000)
        after = os.times()
        used = (after.children_user - before.children_user) + (
            after.children_system - before.children_system
        )
        cpus.append(used * 1000)
    return statistics.median(walls), max(walls), statistics.median(cpus)


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    script = Path(sys.executable).with_name("bridge")
    runs = [("python -c pass", [sys.executable, "-c", "pass"])]
    # What every command imported at start before the CLI imported lazily.
    eager = "import bridge.cli, bridge.core, bridge.settings"
    runs.append(("(reference) import bridge.core", [sys.executable, "-c", eager]))
    runs.append(("bridge --version", [str(script), "--version"]))
    runs.append(("bridge --help", [str(script), "--help"]))
    runs += [(f"bridge {' '.join(p)} --help", [str(script), *p, "--help"]) for p in command_paths()]
    print(f"{'command':<40} {'median ms':>10} {'max ms':>8} {'CPU ms':>8}")
    medians = []
    for label, argv in runs:
        median, slowest, cpu = timed(argv, args.rounds)
        if label.startswith("bridge"):
            medians.append(median)
        print(f"{label:<40} {median:>10.0f} {slowest:>8.0f} {cpu:>8.0f}")
    print(
        f"{len(medians)} bridge commands: median of medians {statistics.median(medians):.0f} ms, "
        f"slowest median {max(medians):.0f} ms"
    )


if __name__ == "__main__":
    main_()
