"""What every `bridge` command acts with: the core, the actor, the viewer.

`with_core` adds `--data DIR` (or BRIDGE_DATA) and opens the same core for
every command: settings, database (migrated on open) and pipeline; errors
are answered by the command line's boundary (bridge/cli/errors.py). `actor` is who
the audit log names, `viewer` whom `--as EMAIL` stands for.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bridge.errors import UsageError

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


def with_store(func: F) -> F:
    """Like `with_core`, for commands that only read: settings and the database (migrated
    on open), without the pipeline, whose imports were most of a one-question command's
    start (`bridge experts`)."""

    @click.option("--data", type=click.Path(path_type=Path), help="Data directory (BRIDGE_DATA).")
    @functools.wraps(func)
    def wrapper(data: Path | None, **kw: Any) -> Any:
        from bridge.settings import load_settings
        from threads.db import make_engine, migrate

        settings = load_settings(data=data)
        engine = make_engine(settings.effective_database_url)
        try:
            migrate(engine)
            return func(Store(settings, engine), **kw)
        finally:
            engine.dispose()

    return wrapper


def viewer(core: Core | Store, conn: Any, as_email: str | None) -> Any:
    """The viewer a command acts for: `--as EMAIL`, or the shell's local admin."""
    from threads.access import LOCAL_ADMIN, viewer_for
    from threads.people import try_normalize

    if as_email is None:
        return LOCAL_ADMIN
    if try_normalize(as_email) is None:
        raise UsageError(f"--as '{as_email}' is not an e-mail address")
    return viewer_for(conn, as_email, core.settings.org_domains)


def actor() -> str:
    """Who the audit log names for a shell command: the operating-system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
