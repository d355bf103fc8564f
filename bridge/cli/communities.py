"""`bridge community`: create a community and change its name, visibility or posting policy."""

from __future__ import annotations

import click

from bridge import admin
from bridge.cli.context import actor, with_core
from bridge.core import Core
from threads.db import writer


@click.group()
def community() -> None:
    """Manage communities."""


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
