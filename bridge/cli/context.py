"""What every `bridge` command acts with: the core, the actor, the viewer.

`with_core` adds `--data DIR` (or BRIDGE_DATA) and opens the same core for
every command: settings, database (migrated on open) and pipeline; errors
are answered by the command line's boundary (bridge/cli/errors.py). `actor` is who
the audit log names, `viewer` whom `--as EMAIL` stands for.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # the core, settings and models are imported when a command runs
    from sqlalchemy import Engine

    from bridge.core import Core
    from bridge.settings import Settings

F = Callable[..., Any]


def with_core(func: F) -> F:
    """Adds --data, builds the settings and the core, and closes the core after."""

    @click.option("--data", type=click.Path(path_type=Path), help="Data directory (BRIDGE_DATA).")
    @functools.wraps(func)
    def wrapper(data: Path | None, **kw: Any) -> Any:
        from bridge.core import open_core
        from bridge.settings import load_settings

        core = open_core(load_settings(data=data))
        try:
            return func(core, **kw)
        finally:
            core.close()

    return wrapper


@dataclass(frozen=True, slots=True)
class Store:
    """What a command that only reads the archive needs of the core."""

    settings: Settings
    engine: Engine


@contextlib.contextmanager
def open_store(data: Path | None) -> Iterator[Store]:
    """The settings and the migrated database of `--data DIR` (None: as configured)."""
    from bridge.settings import load_settings
    from threads.db import make_engine, migrate

    settings = load_settings(data=data)
    engine = make_engine(settings.effective_database_url)
    try:
        migrate(engine)
        yield Store(settings, engine)
    finally:
        engine.dispose()


def viewer(core: Core | Store, conn: Any, as_email: str | None) -> Any:
    """The viewer a command acts for: `--as EMAIL`, or the shell's local admin."""
    from bridge.expert_answers import viewer_as

    return viewer_as(conn, as_email, core.settings.org_domains)


def actor() -> str:
    """Who the audit log names for a shell command: the operating-system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
