"""`bridge log` (each raw message's fate) and `bridge audit` (who changed what, and when)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from bridge.cli.context import with_core
from bridge.errors import UsageError

if TYPE_CHECKING:  # imported lazily: `bridge --help` stays fast
    from bridge.core import Core

# threads.models RawState's values, spelled out so `bridge log --help` needs no
# models (tests/bridge/cli/test_cli_startup.py checks they agree).
RAW_STATES = (
    "pending",
    "done",
    "duplicate",
    "held",
    "failed",
    "rejected",
    "discarded",
    "candidate",
    "private",
    "ignored",
    "withdrawn",
)


@click.command("log")
@click.option(
    "--state",
    type=click.Choice(RAW_STATES),
    help="Only this state (candidate, private and ignored are consent routes' mail).",
)
@click.option("--since", help="ISO date/time, or a duration like 2h, 3d.")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@with_core
def log_(core: Core, state: str | None, since: str | None, limit: int, as_json: bool) -> None:
    """Each raw message: time, source, envelope, Message-ID, subject, state and reason."""
    from bridge import moderation

    after = _parse_since(since) if since else None
    with core.engine.connect() as conn:
        found = moderation.incoming_log(conn, state=state, since=after, limit=limit)
        rows = [dict(r._mapping) for r in found]
    for r in rows:
        r["received_at"] = r["received_at"].replace(tzinfo=UTC).isoformat()
        if as_json:
            click.echo(json.dumps(r, ensure_ascii=False))
            continue
        kind = f" [{r['hold_kind']}]" if r["hold_kind"] else ""
        click.echo(
            f"{r['received_at'][:19]} {r['source']:<6} {r['state']:<9}{kind} "
            f"<{r['message_id']}> {r['subject'][:60]!r} {r['reason']}"
        )
        if verdict := moderation.auth_summary(r["auth"]):
            click.echo(f"    {verdict}")


def _parse_since(value: str) -> datetime:
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    if value[:-1].isdigit() and value[-1] in units:
        return datetime.now(UTC) - timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"--since: '{value}' is neither an ISO date nor like 2h or 3d") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.command()
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@with_core
def audit(core: Core, limit: int, as_json: bool) -> None:
    """The audit log of admin actions, newest first."""
    from bridge import admin

    with core.engine.connect() as conn:
        rows = admin.audit_log(conn, limit=limit)
    for r in rows:
        at = r.at.replace(tzinfo=UTC).isoformat() if r.at.tzinfo is None else r.at.isoformat()
        if as_json:
            entry = {"at": at, "actor": r.actor, "action": r.action, "target": r.target}
            click.echo(json.dumps({**entry, "before": r.before, "after": r.after}))
        else:
            click.echo(f"{at[:19]} {r.actor} {r.action} {r.target} {r.before} -> {r.after}")
