"""`bridge serve`: run the SMTP listener, IMAP pollers, worker, sender and web app.

The command only reads its options; bridge/serve.py wires the roles together.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--data", type=click.Path(path_type=Path), help="Data directory (BRIDGE_DATA).")
@click.option("--smtp-port", type=int, help="SMTP listener port (BRIDGE_SMTP_PORT).")
@click.option("--web-port", type=int, help="Web port (BRIDGE_WEB_PORT).")
@click.option("--demo", is_flag=True, help="Seed demo communities and threads on an empty install.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(["web", "smtp", "imap", "worker", "sender"]),
    help="Run only these parts (repeat the option); default: all.",
)
def serve(
    data: Path | None,
    smtp_port: int | None,
    web_port: int | None,
    demo: bool,
    roles: tuple[str, ...],
) -> None:
    """Run the SMTP listener, the IMAP pollers, the pipeline worker and the web app."""
    from bridge.serve import ROLES, run
    from bridge.settings import load_settings

    settings = load_settings(data=data, smtp_port=smtp_port, web_port=web_port)
    # A taken port, say, is a UsageError: one line, no traceback (bridge/cli/errors.py).
    run(settings, roles=roles or ROLES, demo_content=demo)
