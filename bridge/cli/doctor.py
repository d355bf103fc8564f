"""`bridge doctor`: one line per check (ok / warn / fail / skipped) and what to fix.

Exits 1 when any check fails, 0 otherwise (warnings included), so a deploy
script can run it before `bridge serve`. Settings that do not validate are a
failure of their own, reported field by field without echoing the values
(one might be a password).
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--data", type=click.Path(path_type=Path), help="Data directory (BRIDGE_DATA).")
@click.option("--offline", is_flag=True, help="Skip the relay and DNS checks.")
def doctor(data: Path | None, offline: bool) -> None:
    """Check settings, ports, data directory, database, relay, DKIM key and DNS records."""
    from pydantic import ValidationError

    from bridge.doctor import Finding, diagnose
    from bridge.settings import load_settings

    try:
        settings = load_settings(data=data)
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            click.echo(Finding("settings", "fail", f"{where}: {error['msg']}").line())
        raise SystemExit(1) from None
    except OSError as exc:
        click.echo(Finding("data directory", "fail", f"{exc.filename}: {exc.strerror}").line())
        raise SystemExit(1) from None
    failed = False
    for finding in diagnose(settings, online=not offline):
        click.echo(finding.line())
        failed = failed or finding.status == "fail"
    if failed:
        raise SystemExit(1)
