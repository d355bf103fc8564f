"""`bridge outbox`: outgoing mail and bounced addresses from the shell (the admin pages' twin)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from bridge.cli.context import with_core

if TYPE_CHECKING:  # imported lazily: `bridge --help` stays fast
    from bridge.core import Core


def _iso(value: Any) -> str | None:
    from threads.models import as_utc

    return as_utc(value).isoformat() if value is not None else None


@click.command("outbox")
@click.option(
    "--state", type=click.Choice(["queued", "sent", "failed", "cancelled"]), help="Only these."
)
@click.option("--bounces", is_flag=True, help="List bounced addresses instead.")
@click.option("--enable", "enable", metavar="ADDRESS", help="Send to a stopped address again.")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_core
def outbox(
    core: Core, state: str | None, bounces: bool, enable: str | None, limit: int, as_json: bool
) -> None:
    """Outgoing mail, newest first, with state and the reason it failed; or bounces."""
    from threads import outbound
    from threads.db import writer

    if enable:
        with writer(core.engine).begin() as conn:
            changed = outbound.enable_address(conn, enable)
        click.echo(f"{enable}: mail resumes" if changed else f"{enable}: not a known address")
        return
    with core.engine.connect() as conn:
        rows = outbound.bounced(conn, limit=limit) if bounces else None
        mails = None if bounces else outbound.listing(conn, state=state, limit=limit)
    if rows is not None:
        for r in rows:
            item = {
                "address": r.address,
                "hard_bounces": r.hard_bounces,
                "soft_bounces": r.soft_bounces,
                "disabled": bool(r.disabled),
                "last_bounce_at": _iso(r.last_bounce_at),
                "last_reason": r.last_reason,
            }
            if as_json:
                click.echo(json.dumps(item, ensure_ascii=False))
            else:
                stopped = "STOPPED" if r.disabled else "sent   "
                click.echo(
                    f"{stopped} {r.address:<40} hard {r.hard_bounces} soft {r.soft_bounces} "
                    f"{r.last_reason}"
                )
        return
    for m in mails or []:
        item = {
            "id": m.id,
            "kind": m.kind,
            "recipient": m.recipient,
            "subject": m.subject,
            "message_id": m.message_id,
            "state": m.state,
            "attempts": m.attempts,
            "last_error": m.last_error,
            "created_at": _iso(m.created_at),
            "next_attempt_at": _iso(m.next_attempt_at),
            "sent_at": _iso(m.sent_at),
        }
        if as_json:
            click.echo(json.dumps(item, ensure_ascii=False))
        else:
            click.echo(
                f"{item['created_at'][:19]} {m.state:<9} {m.kind:<7} {m.recipient:<32} "
                f"{m.subject[:50]!r} {m.last_error}"
            )
