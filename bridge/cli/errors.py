"""The command line's boundary: an error becomes one line on stderr and exit status 1.

Every `bridge` command runs inside `BridgeGroup.invoke`, the one place that
turns the error tree (bridge/errors.py, mail/errors.py, threads/errors.py),
settings that do not validate, and a database that cannot be reached into
click's "Error: ..." line. Anything else is a bug and keeps its traceback.
Commands raise these errors and never print or exit for them themselves.
"""

from __future__ import annotations

from typing import Any

import click

from bridge.errors import BridgeError, Held
from mail.errors import MailError
from threads.errors import ThreadsError


def answered() -> tuple[type[BaseException], ...]:
    """What this boundary answers (the exit status is click's for ClickException, 1).
    pydantic and SQLAlchemy are imported when an error is being answered, not at start:
    `bridge --help` must not load them."""
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError

    return (BridgeError, MailError, ThreadsError, ValidationError, OperationalError)


def one_line(error: BaseException) -> str:
    """What the operator reads after "Error: ": never a traceback, never a setting's value."""
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError

    if isinstance(error, ValidationError):
        # pydantic's own text repeats the input, which may be a password.
        return "; ".join(
            f"BRIDGE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        )
    if isinstance(error, OperationalError):
        reason = str(error.orig or error).strip().splitlines()[0]
        return f"the database cannot be used: {reason}"
    text = " ".join(str(error).split()) or type(error).__name__
    return f"held: {text}" if isinstance(error, Held) else text


class BridgeGroup(click.Group):
    """The `bridge` group: every subcommand's errors are answered here."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own: --help, usage errors, Ctrl-C
        except Exception as error:
            if not isinstance(error, answered()):
                raise
            raise click.ClickException(one_line(error)) from error
