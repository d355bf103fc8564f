"""`bridge withdrawn`: withdrawn messages from the shell, and their raw copies' retention.

`bridge withdrawn purge` runs the sweep the worker runs on its own
(threads/withdraw.py): raw bytes of messages withdrawn more than
BRIDGE_WITHDRAWN_RAW_DAYS ago are erased, their sha256 kept.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from bridge.cli.context import with_core

if TYPE_CHECKING:  # imported lazily: `bridge --help` stays fast
    from bridge.core import Core


@click.group("withdrawn")
def withdrawn() -> None:
    """Messages their authors withdrew."""


@withdrawn.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_core
def withdrawn_list(core: Core, as_json: bool) -> None:
    """Withdrawn messages, newest first, and whether their raw bytes are still kept."""
    from sqlalchemy import select

    from threads.models import Message, RawMessage, as_utc

    m, r = Message.__table__, RawMessage.__table__
    with core.engine.connect() as conn:
        rows = conn.execute(
            select(m.c.id, m.c.withdrawn_at, m.c.from_addr, r.c.id.label("raw"), r.c.size)
            .add_columns((r.c.data != b"").label("kept"))
            .outerjoin(r, r.c.id == m.c.raw_id)
            .where(m.c.withdrawn_at.is_not(None))
            .order_by(m.c.withdrawn_at.desc())
        ).all()
    for row in rows:
        item = {
            "message": row.id,
            "withdrawn_at": as_utc(row.withdrawn_at).isoformat(),
            "author": row.from_addr,
            "raw": row.raw,
            "raw_kept": bool(row.kept),
        }
        if as_json:
            click.echo(json.dumps(item))
        else:
            kept = "raw kept" if item["raw_kept"] else "raw erased"
            click.echo(f"{row.id}\t{item['withdrawn_at']}\t{row.from_addr}\t{kept}")


@withdrawn.command("purge")
@click.option(
    "--days",
    type=click.IntRange(min=0),
    help="Erase raw copies withdrawn more than this many days ago "
    "(default BRIDGE_WITHDRAWN_RAW_DAYS; 0 erases all now).",
)
@with_core
def withdrawn_purge(core: Core, days: int | None) -> None:
    """Erase the raw bytes of withdrawn messages past their retention (sha256 kept)."""
    from threads.withdraw import sweep

    keep = core.settings.withdrawn_raw_days if days is None else days
    click.echo(f"erased {sweep(core.engine, keep)} raw message(s)")
