"""Who may do what: `bridge admin`, `bridge member` and `bridge person`.

admin grants and revokes bridge-wide admin rights; member adds and removes a
community's members and moderators; person disables an address (no login, no
more than anonymous rights) or enables it again. Each change is audited.
"""

from __future__ import annotations

import click

from bridge import admin
from bridge.cli.context import actor, with_core
from bridge.core import Core
from threads.db import writer


@click.group("admin")
def admin_() -> None:
    """Bridge-wide administrators."""


@admin_.command("grant")
@click.argument("email")
@with_core
def admin_grant(core: Core, email: str) -> None:
    """Make EMAIL an admin of the whole bridge."""
    with writer(core.engine).begin() as conn:
        key = admin.set_admin(conn, email, True, actor=actor())
    click.echo(f"admin {key}")


@admin_.command("revoke")
@click.argument("email")
@with_core
def admin_revoke(core: Core, email: str) -> None:
    """Take admin rights from EMAIL."""
    with writer(core.engine).begin() as conn:
        key = admin.set_admin(conn, email, False, actor=actor())
    click.echo(f"not admin {key}")


@click.group()
def member() -> None:
    """Members and moderators of communities."""


@member.command("add")
@click.argument("slug")
@click.argument("email")
@click.option("--moderator", is_flag=True, help="A moderator rather than a member.")
@with_core
def member_add(core: Core, slug: str, email: str, moderator: bool) -> None:
    """Make EMAIL a member (or moderator) of community SLUG."""
    role = "moderator" if moderator else "member"
    with writer(core.engine).begin() as conn:
        key = admin.set_member(conn, slug, email, role, actor=actor())
    click.echo(f"{role} {key} in {slug}")


@member.command("remove")
@click.argument("slug")
@click.argument("email")
@with_core
def member_remove(core: Core, slug: str, email: str) -> None:
    """Remove EMAIL from community SLUG."""
    with writer(core.engine).begin() as conn:
        key = admin.set_member(conn, slug, email, None, actor=actor())
    click.echo(f"removed {key} from {slug}")


@click.group()
def person() -> None:
    """People: disable or enable an address."""


@person.command("disable")
@click.argument("email")
@with_core
def person_disable(core: Core, email: str) -> None:
    """Disable EMAIL: no login, every session ended, no more than anonymous rights."""
    with writer(core.engine).begin() as conn:
        key = admin.set_disabled(conn, email, True, actor=actor())
    click.echo(f"disabled {key}")


@person.command("enable")
@click.argument("email")
@with_core
def person_enable(core: Core, email: str) -> None:
    """Enable a disabled address again."""
    with writer(core.engine).begin() as conn:
        key = admin.set_disabled(conn, email, False, actor=actor())
    click.echo(f"enabled {key}")
