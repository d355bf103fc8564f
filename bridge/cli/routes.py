"""`bridge route`: which addresses, List-Ids and IMAP folders feed which community.

Each route has a policy: open (publish at once) or consent (keep new
conversations as candidates until someone on them opens them).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from bridge.cli.context import actor, with_core
from bridge.errors import UsageError

if TYPE_CHECKING:  # imported lazily: `bridge --help` stays fast
    from bridge.core import Core


@click.group()
def route() -> None:
    """Map addresses, List-Ids and IMAP folders to communities."""


@route.command("add")
@click.argument("slug")
@click.option("--address")
@click.option("--list-id")
@click.option(
    "--list-address",
    help="The posting address of an outside mailing list this community mirrors: "
    "threads started on the web are mailed to it (its mail comes in by --list-id).",
)
@click.option("--imap", "imap_url", help="Poll imaps://user@host[:port]/FOLDER (or imap://).")
@click.option("--password-env", default="", help="Variable holding the IMAP password or token.")
@click.option("--secret-file", default="", help="File holding the IMAP password or token.")
@click.option(
    "--oauth",
    "oauth_provider",
    type=click.Choice(["generic", "microsoft", "google"]),
    help="Fetch OAuth2 tokens for ;AUTH=XOAUTH2: a preset, or generic client credentials.",
)
@click.option("--oauth-token-url", default="", help="Token endpoint (a preset fills it in).")
@click.option("--oauth-client-id", default="", help="The application's client id.")
@click.option("--oauth-client-secret-env", default="", help="Variable holding the client secret.")
@click.option("--oauth-scope", default="", help="Scope to ask for (a preset fills it in).")
@click.option("--oauth-tenant", default="", help="microsoft: the directory (tenant) id or domain.")
@click.option(
    "--oauth-certificate-file",
    default="",
    help="microsoft: PEM file with the app's certificate and private key, instead of a secret.",
)
@click.option(
    "--oauth-service-account-file",
    default="",
    help="google: the service account's JSON key (domain-wide delegation).",
)
@click.option(
    "--after",
    default="leave",
    show_default=True,
    help="What to do with a polled message once stored: leave, flag[:KEYWORD], move:FOLDER.",
)
@click.option(
    "--policy",
    type=click.Choice(["open", "consent"]),
    help="open: publish at once; consent: keep new threads as candidates until opened. "
    "Default: consent for --imap, open for addresses and List-Ids.",
)
@click.option(
    "--cc-threshold",
    type=click.IntRange(0, 1000),
    default=0,
    show_default=True,
    help="Consent: organisation addresses a new thread needs on To/Cc; fewer are ignored.",
)
@with_core
def route_add(
    core: Core,
    slug: str,
    address: str | None,
    list_id: str | None,
    list_address: str | None,
    imap_url: str | None,
    password_env: str,
    secret_file: str,
    oauth_provider: str | None,
    oauth_token_url: str,
    oauth_client_id: str,
    oauth_client_secret_env: str,
    oauth_scope: str,
    oauth_tenant: str,
    oauth_certificate_file: str,
    oauth_service_account_file: str,
    after: str,
    policy: str | None,
    cc_threshold: int,
) -> None:
    """Route mail for ADDRESS, with List-Id LIST_ID, or in an IMAP folder to community SLUG."""
    from bridge import route_admin
    from threads.db import writer

    if sum(map(bool, (address, list_id, list_address, imap_url))) != 1:
        raise UsageError("give exactly one of --address, --list-id, --list-address or --imap")
    oauth = route_admin.oauth_from_options(
        oauth_provider,
        token_url=oauth_token_url,
        client_id=oauth_client_id,
        secret_env=oauth_client_secret_env,
        scope=oauth_scope,
        tenant=oauth_tenant,
        certificate_file=oauth_certificate_file,
        service_account_file=oauth_service_account_file,
    )
    if imap_url:
        with writer(core.engine).begin() as conn:
            url = route_admin.add_imap_route(
                conn,
                slug,
                imap_url,
                password_env=password_env,
                secret_file=secret_file,
                oauth=oauth,
                after=after,
                policy=policy or "consent",
                cc_threshold=cc_threshold,
                actor=actor(),
            )
        click.echo(
            f"route imap {url} -> {slug} ({_policy_text(policy or 'consent', cc_threshold)})"
        )
        return
    if password_env or secret_file or oauth or after != "leave":
        raise UsageError("--password-env, --secret-file, --oauth-* and --after go with --imap")
    kind, value = next(
        (k, v) for k, v in (("address", address), ("list_id", list_id), ("list", list_address)) if v
    )
    policy = policy or "open"
    with writer(core.engine).begin() as conn:
        route_admin.add_route(
            conn,
            slug,
            kind,
            value or "",
            policy=policy,
            cc_threshold=cc_threshold,
            actor=actor(),
        )
    click.echo(f"route {kind} {value} -> {slug} ({_policy_text(policy, cc_threshold)})")


def _policy_text(policy: str, cc_threshold: int) -> str:
    if policy == "consent" and cc_threshold:
        return f"consent, cc threshold {cc_threshold}"
    return policy


@route.command("edit")
@click.argument("slug")
@click.argument("target")
@click.option("--policy", type=click.Choice(["open", "consent"]))
@click.option("--cc-threshold", type=click.IntRange(0, 1000))
@with_core
def route_edit(
    core: Core, slug: str, target: str, policy: str | None, cc_threshold: int | None
) -> None:
    """Change the policy or cc threshold of SLUG's route TARGET (address, List-Id or IMAP URL).

    Applies to mail processed from now on; candidates keep their state.
    """
    from bridge import route_admin
    from threads.db import writer

    if policy is None and cc_threshold is None:
        raise UsageError("give --policy, --cc-threshold or both")
    with writer(core.engine).begin() as conn:
        route_admin.set_route_policy(
            conn, slug, target, policy=policy, cc_threshold=cc_threshold, actor=actor()
        )
    click.echo(f"route {target} of {slug} updated")


@route.command("list")
@click.option("--community", help="Only this community's routes.")
@click.option("--json", "as_json", is_flag=True)
@with_core
def route_list(core: Core, community: str | None, as_json: bool) -> None:
    """Every route and polled IMAP folder, with its policy and cc threshold."""
    from bridge import route_admin

    with core.engine.connect() as conn:
        rows = [r for r in route_admin.list_routes(conn) if community in (None, r["community"])]
    for r in rows:
        if as_json:
            click.echo(json.dumps(r, ensure_ascii=False))
            continue
        how = _policy_text(r["policy"], r["cc_threshold"])
        click.echo(f"{r['community']:<16} {r['kind']:<8} {r['value']}  [{how}]")
        if r["kind"] == "imap":
            for line in _folder_lines(r):
                click.echo(f"{'':<26}{line}")


def _folder_lines(r: dict[str, Any]) -> list[str]:
    """A polled folder's client, state, token expiry and last error, one per line."""
    lines = [f"oauth: {r['oauth']}"] if r["oauth"] else []
    since = f" since {r['status_at'][:19].replace('T', ' ')} UTC" if r["status_at"] else ""
    lines.append(f"state: {r['status']}{since}")
    if r["token_expires_at"]:
        lines.append(f"token expires: {r['token_expires_at'][:19].replace('T', ' ')} UTC")
    if r["last_error"]:
        lines.append(f"last error: {r['last_error']}")
    return lines


@route.command("test")
@click.argument("slug")
@click.argument("url", required=False)
@with_core
def route_test(core: Core, slug: str, url: str | None) -> None:
    """Check SLUG's IMAP folders (or the one at URL): token, login, select; reads no mail."""
    from bridge import folder_test

    with core.engine.connect() as conn:
        rows = folder_test.folders_of(conn, slug, url)
    failed = 0
    for row in rows:
        click.echo(row.url)
        for step, ok, text in folder_test.check_folder(row, slug, core.settings):
            click.echo(f"  {step:<8} {'ok' if ok else 'FAILED'}  {text}")
            failed += not ok
    if failed:
        raise SystemExit(1)


@route.command("remove")
@click.argument("slug")
@click.argument("target")
@with_core
def route_remove(core: Core, slug: str, target: str) -> None:
    """Stop routing TARGET (an address, List-Id or IMAP URL) to community SLUG.

    Mail already filed stays; new mail for TARGET is refused (or, for a
    folder, no longer polled).
    """
    from bridge import route_admin
    from threads.db import writer

    with writer(core.engine).begin() as conn:
        removed = route_admin.remove_target(conn, slug, target, actor=actor())
    click.echo(f"route {removed} of {slug} removed")
