"""`bridge community`: create a community and change its name, visibility or posting policy."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from bridge.cli.context import actor, with_core

if TYPE_CHECKING:  # imported lazily: `bridge --help` stays fast
    from bridge.core import Core


@click.group()
def community() -> None:
    """Manage communities."""


@community.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_core
def community_list(core: Core, as_json: bool) -> None:
    """Every community, archived ones too, with its settings and totals."""
    from bridge import admin

    with core.engine.connect() as conn:
        rows = admin.community_listing(conn)
    for r in rows:
        if as_json:
            click.echo(json.dumps(r, ensure_ascii=False))
        else:
            archived = "  (archived)" if r["archived"] else ""
            click.echo(
                f"{r['slug']:<16} {r['name']}  [{r['visibility']}, posting {r['posting']}] "
                f"{r['threads']} threads, {r['messages']} messages{archived}"
            )
    if not rows and not as_json:
        click.echo("no communities yet: bridge community add SLUG --name NAME", err=True)


@community.command("add")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--visibility", type=click.Choice(["org", "members", "public"]), default="org")
@click.option("--address", "addresses", multiple=True, help="A list address routed here.")
@click.option("--description", default="")
@click.option(
    "--posting",
    type=click.Choice(["members", "org", "anyone"]),
    default="org",
    show_default=True,
    help="Who may post; others' mail waits for a moderator.",
)
@with_core
def community_add(
    core: Core,
    slug: str,
    name: str,
    visibility: str,
    addresses: tuple[str, ...],
    description: str,
    posting: str,
) -> None:
    """Create a community (private to the organisation unless told otherwise)."""
    from bridge import admin
    from threads.db import writer

    with writer(core.engine).begin() as conn:
        admin.add_community(
            conn,
            slug,
            name,
            visibility,
            description,
            list(addresses),
            posting=posting,
            actor=actor(),
        )
    click.echo(f"community {slug} created")


@community.command("edit")
@click.argument("slug")
@click.option("--name")
@click.option("--description")
@click.option("--visibility", type=click.Choice(["org", "members", "public"]))
@click.option("--posting", type=click.Choice(["members", "org", "anyone"]))
@click.option("--archive/--unarchive", "archived", default=None, help="Archive (read-only).")
@with_core
def community_edit(
    core: Core,
    slug: str,
    name: str | None,
    description: str | None,
    visibility: str | None,
    posting: str | None,
    archived: bool | None,
) -> None:
    """Change a community's name, description, visibility, posting policy or archive it."""
    from bridge import admin
    from threads.db import writer

    with writer(core.engine).begin() as conn:
        admin.edit_community(
            conn,
            slug,
            actor=actor(),
            name=name,
            description=description,
            visibility=visibility,
            posting=posting,
            archived=archived,
        )
    click.echo(f"community {slug} updated")
