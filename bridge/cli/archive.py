"""The archive in and out: `bridge import`, `bridge parse`, `bridge export`, `bridge search`.

`parse` needs no database; `export` and `search` with `--as EMAIL` show only
what that address may read, as the web app would.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from bridge.cli.context import viewer, with_core
from bridge.core import Core
from bridge.errors import UsageError


@click.command("import")
@click.option("--community", required=True, help="Slug of the community to file into.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@with_core
def import_(core: Core, community: str, paths: tuple[Path, ...]) -> None:
    """Import mbox files (also .gz/.xz), Maildir folders or folders of .eml files."""
    from bridge.importer import import_paths

    summary = import_paths(core, community, list(paths))
    if summary.total or not summary.problems:
        click.echo(summary.line())
    for problem in summary.problems:
        click.echo(f"Error: {problem}", err=True)
    if summary.failed or summary.problems:
        sys.exit(1)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per file.")
def parse(files: tuple[Path, ...], as_json: bool) -> None:
    """Parse message files and print what the pipeline sees (no database)."""
    from mail.classify import classify
    from mail.parse import parse_message

    for file in files:
        parsed = parse_message(file.read_bytes())
        result = classify(parsed)
        report = result.bounce_report
        out = {
            "file": str(file),
            **parsed.to_json(),
            "auto_reply": result.auto_reply,
            # Failed and delayed recipients (permanent false) of a bounce or DSN.
            "bounce": report.to_json() if report else None,
        }
        if as_json:
            click.echo(json.dumps(out, ensure_ascii=False))
        else:
            click.echo(
                f"{file}: {out['subject']!r} from {out['from']} ({len(out['defects'])} defects)"
            )


@click.group()
def export() -> None:
    """Export archive contents."""


@export.command("threads")
@click.option("--community", required=True)
@click.option("--json", "as_json", is_flag=True, help="JSON output (the only format for now).")
@click.option("--as", "as_email", help="Export only what this address may read.")
@with_core
def export_threads(core: Core, community: str, as_json: bool, as_email: str | None) -> None:
    """Every thread of a community with its message tree."""
    from threads import queries
    from threads.access import may_read_community

    with core.engine.connect() as conn:
        row = queries.community_by_slug(conn, community)
        # A community the viewer may not read is reported exactly like a missing one.
        if row is None or not may_read_community(conn, viewer(core, conn, as_email), row.id):
            raise UsageError(f"no community '{community}'")
        data = {"threads": queries.export_threads(conn, row.id)}
    click.echo(json.dumps(data, ensure_ascii=False, indent=None if as_json else 1))


@click.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", default=20, show_default=True)
@click.option("--as", "as_email", help="Search only what this address may read.")
@with_core
def search(core: Core, query: str, as_json: bool, limit: int, as_email: str | None) -> None:
    """Search messages: words and "phrases", all required."""
    from threads import search as fts
    from threads.access import readable_community_ids

    with core.engine.connect() as conn:
        readable = None
        if as_email is not None:
            readable = readable_community_ids(conn, viewer(core, conn, as_email))
        parsed = fts.parse_query(query)
        hits = fts.search(conn, parsed, community_ids=readable, limit=limit)
        # Found nothing: a near word that finds something this reader may read.
        suggestion = None if hits else fts.run(conn, parsed, community_ids=readable).suggestion
    results = [
        {
            "message_pk": h.message_pk,
            "thread_id": h.thread_id,
            "subject": h.subject,
            "snippet": h.snippet.replace("\x02", "[").replace("\x03", "]"),
        }
        for h in hits
    ]
    if as_json:
        out = {"query": query, "results": results, "did_you_mean": suggestion}
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        for r in results:
            click.echo(f"{r['thread_id']:>6}  {r['subject']}\n        {r['snippet']}")
        if suggestion:
            click.echo(f"nothing found; did you mean: {suggestion}")
