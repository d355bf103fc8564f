"""`bridge experts QUERY`: who knows about a topic, from what people wrote themselves.

With `--as EMAIL` only the communities that address may read count, and
addresses it may not see are left out (outsiders by name only), as on the
web's /experts page; without it the shell reads everything as a local admin.

Each run is a process of its own, so the background sample of the archive's
common words (threads/expert_reads.py) is kept between runs in the data
directory's cache/ folder (`FileSamples`) rather than built on every run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import click

from bridge.cli.context import Store, viewer, with_store
from bridge.errors import UsageError


@click.command()
@click.argument("query")
@click.option("--community", help="Only this community (its slug).")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--json", "as_json", is_flag=True, help="One JSON object: query and people.")
@click.option("--as", "as_email", help="Count only what this address may read.")
@with_store
def experts(
    core: Store, query: str, community: str | None, limit: int, as_json: bool, as_email: str | None
) -> None:
    """Who knows about QUERY: people ranked by their own words on it, best first."""
    from threads import queries
    from threads.access import readable_community_ids
    from threads.expert_reads import find_experts
    from threads.privacy import reader_privacy

    with core.engine.connect() as conn:
        reader = viewer(core, conn, as_email)
        readable = readable_community_ids(conn, reader)
        if community is not None:
            row = queries.community_by_slug(conn, community)
            # A community the viewer may not read is reported exactly like a missing one.
            if row is None or row.id not in readable:
                raise UsageError(f"no community '{community}'")
            readable = [row.id]
        shield = reader_privacy(
            conn,
            org_domains=core.settings.org_domains,
            mail_domain=core.settings.mail_domain,
            reveal=reader.is_admin,
        )
        found = find_experts(
            conn,
            query,
            community_ids=readable,
            privacy=shield,
            limit=limit,
            store=FileSamples(core.settings.data / "cache"),
        )
    if as_json:
        click.echo(json.dumps(found.to_json(), ensure_ascii=False))
        return
    if not found.people:
        click.echo(f"Nobody found for {query!r}.")
        return
    if found.expanded:
        click.echo(f"also looked for: {', '.join(found.expanded)}")
    for n, p in enumerate(found.people, start=1):
        who = f"{p.name} <{p.address}>" if p.address and p.name else p.name or p.address
        when = p.last_active.date().isoformat() if p.last_active else "-"
        threads = ", ".join(str(t) for t in p.threads[:5])
        click.echo(f"{n:>3}  {p.score:>8.2f}  {who}\n     last {when}; threads {threads}")


class FileSamples:
    """Background samples as files (owner-only: they hold the archive's words), one a key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / f"experts-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def load(self, key: str) -> str | None:
        try:
            return self._path(key).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def save(self, key: str, value: str) -> None:
        # A sample not kept is built again next time: a read-only data directory is no error.
        path = self._path(key)
        part = path.with_name(f"{path.name}.{os.getpid()}.part")
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(value)
            part.replace(path)
        except OSError:
            with contextlib.suppress(OSError):
                part.unlink(missing_ok=True)
