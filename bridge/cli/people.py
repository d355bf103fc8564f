"""Who may do what: `bridge admin`, `bridge member` and `bridge person`.

admin grants and revokes bridge-wide admin rights; member adds and removes a
community's members and moderators; person disables an address (no login, no
more than anonymous rights) or enables it again. Each change is audited.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bridge.cli.context import actor, with_core
from bridge.errors import UsageError

if TYPE_CHECKING:  # imported lazily: `bridge --help` stays fast
    from bridge.core import Core


@click.group("admin")
def admin_() -> None:
    """Bridge-wide administrators."""


@admin_.command("grant")
@click.argument("email")
@with_core
def admin_grant(core: Core, email: str) -> None:
    """Make EMAIL an admin of the whole bridge."""
    from bridge import admin
    from threads.db import writer

    with writer(core.engine).begin() as conn:
        key = admin.set_admin(conn, email, True, actor=actor())
    click.echo(f"admin {key}")


@admin_.command("revoke")
@click.argument("email")
@with_core
def admin_revoke(core: Core, email: str) -> None:
    """Take admin rights from EMAIL."""
    from bridge import admin
    from threads.db import writer

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
    from bridge import admin
    from threads.db import writer

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
    from bridge import admin
    from threads.db import writer

    with writer(core.engine).begin() as conn:
        key = admin.set_member(conn, slug, email, None, actor=actor())
    click.echo(f"removed {key} from {slug}")


@member.command("list")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_core
def member_list(core: Core, slug: str, as_json: bool) -> None:
    """Members and moderators of community SLUG, moderators first."""
    from bridge import admin
    from bridge.parse_report import printable

    with core.engine.connect() as conn:
        rows = admin.members(conn, admin.community_id_of(conn, slug))
    for r in rows:
        item = {"email": r.email, "name": r.name, "role": str(r.role), "disabled": r.disabled}
        if as_json:
            click.echo(json.dumps(item, ensure_ascii=False))
        else:
            flags = "  (disabled)" if r.disabled else ""
            # Names come from mail headers and CSV files: no control characters on a terminal.
            line = f"{item['role']:<10} {r.email}  {printable(r.name)}{flags}"
            click.echo(line.rstrip())
    if not rows and not as_json:
        click.echo(f"{slug} has no members", err=True)


@member.command("import")
@click.argument("slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--moderator", is_flag=True, help="Lines without a role are moderators.")
@with_core
def member_import(core: Core, slug: str, file: Path, moderator: bool) -> None:
    """Add the people in FILE (CSV: email[,role[,name]]) to SLUG, all or none.

    Every line is checked first: a file with any bad line imports nobody and
    each problem is printed with its line number.
    """
    from bridge.member_import import import_members, read_members
    from threads.db import writer

    try:
        text = file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{file}: not UTF-8 text (byte {exc.start})") from exc
    people, problems = read_members(text, "moderator" if moderator else "member")
    for problem in problems:
        click.echo(f"{file}: {problem}", err=True)
    if problems:
        raise UsageError(f"{file}: {len(problems)} bad line(s); nobody was imported")
    if not people:
        raise UsageError(f"{file}: no addresses in it")
    with writer(core.engine).begin() as conn:
        counts = import_members(conn, slug, people, actor=actor())
    click.echo(
        f"imported {len(people)} into {slug}: "
        f"{counts['member']} member(s), {counts['moderator']} moderator(s)"
    )


@click.group()
def person() -> None:
    """People: disable or enable an address."""


@person.command("disable")
@click.argument("email")
@with_core
def person_disable(core: Core, email: str) -> None:
    """Disable EMAIL: no login, every session ended, no more than anonymous rights."""
    from bridge import admin
    from threads.db import writer

    with writer(core.engine).begin() as conn:
        key = admin.set_disabled(conn, email, True, actor=actor())
    click.echo(f"disabled {key}")


@person.command("enable")
@click.argument("email")
@with_core
def person_enable(core: Core, email: str) -> None:
    """Enable a disabled address again."""
    from bridge import admin
    from threads.db import writer

    with writer(core.engine).begin() as conn:
        key = admin.set_disabled(conn, email, False, actor=actor())
    click.echo(f"enabled {key}")
