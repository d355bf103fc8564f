"""The archive in and out: `bridge import`, `bridge parse`, `bridge export`, `bridge search`.

`parse` needs no database; `export` and `search` with `--as EMAIL` show only
what that address may read, as the web app would.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from bridge.cli.context import viewer, with_core
from bridge.errors import UsageError

if TYPE_CHECKING:  # imported lazily: `bridge --help` stays fast
    from bridge.core import Core


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
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per file.")
def parse(files: tuple[Path, ...], as_json: bool) -> None:
    """Parse message files and print what the pipeline sees (no database)."""
    from bridge.parse_report import parse_file, text_report

    for n, file in enumerate(files):
        out = parse_file(file)  # an unreadable file: UsageError, one line
        if as_json:
            click.echo(json.dumps(out, ensure_ascii=False))
        else:
            click.echo(("\n" if n else "") + text_report(out))


@click.group()
def export() -> None:
    """Export archive contents."""


_ONE_COMMUNITY = click.option("--community", help="Only this community (default: all).")
_OUTPUT = click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File (default: stdout).",
)


@export.command("mbox")
@_ONE_COMMUNITY
@_OUTPUT
@with_core
def export_mbox(core: Core, community: str | None, output: Path | None) -> None:
    """Every message as it arrived (raw bytes), thread by thread, as one mbox (mboxrd)."""
    from bridge.export import mbox

    _write(core, output, binary=True, chunks=lambda conn: mbox(conn, community))


@export.command("json")
@_ONE_COMMUNITY
@_OUTPUT
@with_core
def export_json(core: Core, community: str | None, output: Path | None) -> None:
    """Communities, threads and messages with their text, as one JSON document."""
    from bridge.export import json_chunks

    _write(core, output, binary=False, chunks=lambda conn: json_chunks(conn, community))


def _write(
    core: Core, output: Path | None, *, binary: bool, chunks: Callable[[Any], Iterable[Any]]
) -> None:
    with core.engine.connect() as conn:
        pieces = chunks(conn)  # a missing community fails here, before any output
        with _sink(output, binary=binary) as out:
            for piece in pieces:
                out.write(piece)


@contextlib.contextmanager
def _sink(output: Path | None, *, binary: bool) -> Iterator[IO[Any]]:
    """The file to write (replaced only once complete), or standard output."""
    if output is None:
        stream: IO[Any] = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    partial = output.with_name(output.name + ".partial")
    try:
        f: IO[Any] = partial.open("wb") if binary else partial.open("w", encoding="utf-8")
        with f:
            yield f
        partial.replace(output)
    except OSError as exc:
        raise UsageError(f"{output}: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)


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
            "snippet": clean_snippet(h.snippet),
        }
        for h in hits
    ]
    if as_json:
        out = {"query": query, "results": results, "did_you_mean": suggestion}
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    if not hits:
        click.echo(f"no messages match {query!r}", err=True)
        if suggestion:
            click.echo(f"did you mean: {suggestion}", err=True)
    for h in hits:
        subject, snippet = _terminal_safe(h.subject), _terminal_safe(h.snippet)
        click.echo(f"{h.thread_id:>6}  {subject}\n        {styled_snippet(snippet)}")


def clean_snippet(snippet: str) -> str:
    """The snippet as plain text: no match markers, one line."""
    return " ".join(snippet.replace("\x02", "").replace("\x03", "").split())


def _terminal_safe(text: str) -> str:
    from bridge.parse_report import printable

    # \x02 and \x03 mark the matches: kept for styled_snippet, every other control goes.
    return printable(text.replace("\x02", "\ue000").replace("\x03", "\ue001")).translate(
        {0xE000: 0x02, 0xE001: 0x03}
    )


def styled_snippet(snippet: str) -> str:
    """The snippet on one line, matched words in bold (click drops the styling
    when the output is not a terminal, so pipes and files get plain text)."""
    parts = " ".join(snippet.split()).split("\x02")
    out = [parts[0].replace("\x03", "")]
    for part in parts[1:]:
        word, _, rest = part.partition("\x03")
        out.append(click.style(word, bold=True) + rest.replace("\x03", ""))
    return "".join(out)
