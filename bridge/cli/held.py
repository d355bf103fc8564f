"""`bridge held` and `bridge reprocess`: raw mail that did not go through.

Held mail waits for a moderator (approve, reject with a reason, discard);
reprocess runs failed or held mail through the pipeline again after a fix,
and with --reindex rebuilds the search index of the whole archive.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from bridge.cli.context import actor, with_core

if TYPE_CHECKING:  # imported lazily: `bridge --help` stays fast
    from bridge.core import Core


@click.group()
def held() -> None:
    """Held messages: list them, then approve, reject (with a reason) or discard."""


@held.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_core
def held_list(core: Core, as_json: bool) -> None:
    """Held messages, newest first, with the communities they route to and why."""
    from sqlalchemy import select
    from sqlmodel import col

    from bridge import moderation
    from threads.models import Community

    with core.engine.connect() as conn:
        slugs = dict(conn.execute(select(col(Community.id), col(Community.slug))).all())
    for h in moderation.held_messages(core):
        to = [slugs.get(c, str(c)) for c in h.community_ids]
        if as_json:
            entry = {"id": h.id, "from": h.sender, "subject": h.subject, "reason": h.reason}
            click.echo(json.dumps({**entry, "communities": to}, ensure_ascii=False))
        else:
            click.echo(f"{h.id:>6} {h.sender} {h.subject[:50]!r} -> {','.join(to) or '-'}")
            click.echo(f"       {h.reason}")


def _decide(core: Core, raw_id: int, decision: str, reason: str = "") -> None:
    from bridge import moderation

    # The shell is the local admin, as for every other admin command.
    state = moderation.decide(
        core, raw_id, decision, actor=actor(), actor_is_admin=True, reason=reason
    )
    click.echo(f"message {raw_id}: {state}")


@held.command("approve")
@click.argument("raw_id", type=int)
@with_core
def held_approve(core: Core, raw_id: int) -> None:
    """Publish a held message despite the hold (posting policy, label, auto-reply)."""
    _decide(core, raw_id, "approve")


@held.command("reject")
@click.argument("raw_id", type=int)
@click.option("--reason", required=True, help="Mailed to the sender.")
@with_core
def held_reject(core: Core, raw_id: int, reason: str) -> None:
    """Reject a held message and mail the sender the reason."""
    _decide(core, raw_id, "reject", reason)


@held.command("discard")
@click.argument("raw_id", type=int)
@with_core
def held_discard(core: Core, raw_id: int) -> None:
    """Discard a held message silently (its bytes are kept)."""
    _decide(core, raw_id, "discard")


@click.command()
@click.option("--failed", "which", flag_value="failed", help="Messages that failed (default).")
@click.option("--held", "which", flag_value="held", help="Messages held with a reason.")
@click.option("--all", "which", flag_value="all", help="Everything, re-filing stored messages.")
@click.option(
    "--reindex",
    is_flag=True,
    help="Rebuild the search index instead (after the search analysis changed); "
    "a rebuild that was stopped carries on where it was.",
)
@click.option("--restart", is_flag=True, help="With --reindex: start over from the first message.")
@with_core
def reprocess(core: Core, which: str | None, reindex: bool, restart: bool) -> None:
    """Run stored raw messages through the pipeline again, after a fix."""
    if reindex:
        _reindex(core, restart)
        return
    if restart:
        raise click.UsageError("--restart goes with --reindex")
    from bridge import moderation

    counts = moderation.reprocess(core, which or "failed")
    click.echo(", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "nothing to do")


def _reindex(core: Core, restart: bool) -> None:
    from tqdm import tqdm

    from threads.search.reindex import reindex

    show = sys.stderr.isatty()
    with tqdm(unit="msg", disable=not show, smoothing=0.1) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()
            if not show:
                click.echo(f"reindexed {done:,} of {total:,} messages", err=True)

        written = reindex(core.engine, progress, restart=restart)
    click.echo(f"search index rebuilt: {written:,} messages written")
