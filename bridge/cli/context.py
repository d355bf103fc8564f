"""What every `bridge` command acts with: the core, the actor, the viewer.

`with_core` adds `--data DIR` (or BRIDGE_DATA) and opens the same core for
every command: settings, database (migrated on open) and pipeline; errors
are answered by the command line's boundary (bridge/cli/errors.py). `actor` is who
the audit log names, `viewer` whom `--as EMAIL` stands for.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bridge.errors import UsageError

if TYPE_CHECKING:  # the core, settings and models are imported when a command runs
    from bridge.core import Core

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


def viewer(core: Core, conn: Any, as_email: str | None) -> Any:
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
