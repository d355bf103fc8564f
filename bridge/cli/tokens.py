"""`bridge token`: personal API tokens for scripts (create, list, revoke).

`create` prints the token once; only its hash is kept, so it cannot be shown
again. Scripts send it as `Authorization: Bearer TOKEN` on /api routes and
act with the owner's rights. Feed tokens are made by readers on /me.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from bridge.cli.context import actor, with_core

if TYPE_CHECKING:
    from bridge.core import Core
    from threads.tokens import TokenRow


@click.group()
def token() -> None:
    """Personal API tokens (Authorization: Bearer) for scripts."""


@token.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for (shown in lists).")
@with_core
def token_create(core: Core, email: str, name: str) -> None:
    """Make an API token acting as EMAIL; prints it once."""
    from bridge import tokens
    from threads.db import writer

    with writer(core.engine).begin() as conn:
        token_id, secret = tokens.create(conn, email, name, actor=actor())
    click.echo(secret)
    click.echo(f"token {token_id} for {email}: shown once, keep it secret", err=True)


@token.command("list")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@with_core
def token_list(core: Core, email: str, as_json: bool) -> None:
    """EMAIL's tokens (API and feed), newest first; never the secrets."""
    from bridge import tokens

    with core.engine.connect() as conn:
        rows = tokens.listed(conn, email)
    if as_json:
        click.echo(json.dumps([_as_dict(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo(f"{email} has no tokens")
    for r in rows:
        state = f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "active"
        used = f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "never"
        click.echo(f"{r.id}\t{r.kind}\t{state}\tlast used {used}\t{r.name}")


@token.command("revoke")
@click.argument("token_id", type=int)
@with_core
def token_revoke(core: Core, token_id: int) -> None:
    """Revoke token TOKEN_ID (from `bridge token list`): it stops working at once."""
    from bridge import tokens
    from threads.db import writer

    with writer(core.engine).begin() as conn:
        row = tokens.revoke(conn, token_id, actor=actor())
    click.echo(f"revoked token {row.id} ({row.kind}: {row.name})")


def _as_dict(r: TokenRow) -> dict[str, object]:
    def when(v: object) -> object:
        return v.isoformat() if hasattr(v, "isoformat") else None

    return {
        "id": r.id,
        "kind": r.kind,
        "name": r.name,
        "created_at": when(r.created_at),
        "last_used_at": when(r.last_used_at),
        "revoked_at": when(r.revoked_at),
    }
