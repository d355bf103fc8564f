"""The `bridge` command: the product's interface for admins and scripts (README, docs/admin.md).

One module per command group, each adding standalone click commands that
this package gathers under `main` (the console script `bridge.cli:main`).
Every command that needs the archive takes `--data DIR` (or BRIDGE_DATA) and
opens the same core (bridge/cli/context.py). Output meant for scripts is JSON
with `--json`; errors are one line on stderr and status 1 (bridge/cli/errors.py).
"""

from __future__ import annotations

import click

from bridge import __version__
from bridge.cli import (
    archive,
    backup,
    communities,
    dkim,
    doctor,
    experts,
    held,
    logs,
    outbox,
    people,
    routes,
    serve,
    tokens,
    withdrawn,
)
from bridge.cli.errors import BridgeGroup


@click.group(cls=BridgeGroup)
@click.version_option(__version__, prog_name="bridge")
def main() -> None:
    """Commons Bridge: e-mail threads as open, searchable community discussions."""


for command in (
    serve.serve,
    archive.import_,
    archive.parse,
    archive.export,
    archive.search,
    experts.experts,
    communities.community,
    routes.route,
    people.admin_,
    people.member,
    people.person,
    held.held,
    held.reprocess,
    logs.log_,
    logs.audit,
    outbox.outbox,
    withdrawn.withdrawn,
    dkim.dkim,
    doctor.doctor,
    tokens.token,
    backup.backup,
    backup.restore,
):
    main.add_command(command)

__all__ = ["main"]
