"""`bridge backup FILE` and `bridge restore FILE --data DIR` (bridge/backup.py says what is kept).

`backup` reads the running bridge's store (safe while it serves) and writes
one archive; `restore` unpacks one into a new, empty data directory and its
database (BRIDGE_DATABASE_URL, empty, for a PostgreSQL backup). Both print
one line; errors are one line and a non-zero status.
"""

from __future__ import annotations

from pathlib import Path

import click

# The heavy modules (database, settings) are imported inside the commands, so that
# `bridge --help` does not pay for them.


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", type=click.Path(path_type=Path), help="Data directory (BRIDGE_DATA).")
def backup(file: Path, data: Path | None) -> None:
    """Write a consistent backup of the database, attachments and keys to FILE (.tar or .tar.gz)."""
    from bridge import backup as backups
    from bridge.errors import UsageError
    from bridge.settings import load_settings

    settings = load_settings(data=data)
    if not file.parent.is_dir():
        raise click.ClickException(f"{file.parent} is not a directory")
    try:
        done = backups.backup(settings, file)
    except UsageError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"backup {done['path']}: {done['database']} database at revision {done['revision']}, "
        f"{done['files']} files"
    )


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--data", required=True, type=click.Path(path_type=Path), help="New, empty data directory."
)
def restore(file: Path, data: Path) -> None:
    """Restore backup FILE into the empty data directory DATA (and BRIDGE_DATABASE_URL)."""
    from pydantic import ValidationError

    from bridge import backup as backups
    from bridge.errors import UsageError
    from bridge.settings import Settings

    try:
        # Not load_settings: it would write a fresh secret key into DATA before the restore.
        settings = Settings(data=data)
        done = backups.restore(file, settings)
    except (UsageError, ValidationError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from exc
    click.echo(
        f"restored {file} into {done['data']}: {done['database']} database at revision "
        f"{done['revision']}, {done['files']} files; start the bridge on it to bring the "
        "schema up to date"
    )
