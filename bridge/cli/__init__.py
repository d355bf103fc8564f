"""The `bridge` command: the product's interface for admins and scripts (see DESIGN.md).

Every subcommand takes `--data DIR` (or BRIDGE_DATA) and opens the same core:
settings, database (migrated on open) and pipeline. Output meant for scripts
is JSON with `--json`; errors are one line on stderr and a non-zero status.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from bridge import admin
from bridge.core import Core, open_core
from bridge.errors import UsageError
from bridge.settings import load_settings
from threads.models import RawState

F = Callable[..., Any]


def with_core(func: F) -> F:
    """Adds --data, builds the settings and the core, reports UsageError cleanly."""

    @click.option("--data", type=click.Path(path_type=Path), help="Data directory (BRIDGE_DATA).")
    @functools.wraps(func)
    def wrapper(data: Path | None, **kw: Any) -> Any:
        core = open_core(load_settings(data=data))
        try:
            return func(core, **kw)
        except UsageError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            core.close()

    return wrapper


@click.group()
def main() -> None:
    """Commons Bridge: e-mail threads as open, searchable community discussions."""


@main.command()
@click.option("--data", type=click.Path(path_type=Path), help="Data directory (BRIDGE_DATA).")
@click.option("--smtp-port", type=int, help="SMTP listener port (BRIDGE_SMTP_PORT).")
@click.option("--web-port", type=int, help="Web port (BRIDGE_WEB_PORT).")
@click.option("--demo", is_flag=True, help="Seed demo communities and threads on an empty install.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(["web", "smtp", "imap", "worker", "sender"]),
    help="Run only these parts (repeat the option); default: all.",
)
def serve(
    data: Path | None,
    smtp_port: int | None,
    web_port: int | None,
    demo: bool,
    roles: tuple[str, ...],
) -> None:
    """Run the SMTP listener, the IMAP pollers, the pipeline worker and the web app."""
    from bridge.serve import ROLES, run

    settings = load_settings(data=data, smtp_port=smtp_port, web_port=web_port)
    run(settings, roles=roles or ROLES, demo_content=demo)


@main.command("import")
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


@main.group()
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
    admin.add_community(
        core.engine,
        slug,
        name,
        visibility,
        description,
        list(addresses),
        posting=posting,
        actor=_actor(),
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
    admin.edit_community(
        core.engine,
        slug,
        actor=_actor(),
        name=name,
        description=description,
        visibility=visibility,
        posting=posting,
        archived=archived,
    )
    click.echo(f"community {slug} updated")


@main.group()
def route() -> None:
    """Map addresses, List-Ids and IMAP folders to communities."""


@route.command("add")
@click.argument("slug")
@click.option("--address")
@click.option("--list-id")
@click.option("--imap", "imap_url", help="Poll imaps://user@host[:port]/FOLDER (or imap://).")
@click.option("--password-env", default="", help="Variable holding the IMAP password or token.")
@click.option("--secret-file", default="", help="File holding the IMAP password or token.")
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
    imap_url: str | None,
    password_env: str,
    secret_file: str,
    after: str,
    policy: str | None,
    cc_threshold: int,
) -> None:
    """Route mail for ADDRESS, with List-Id LIST_ID, or in an IMAP folder to community SLUG."""
    if sum(map(bool, (address, list_id, imap_url))) != 1:
        raise UsageError("give exactly one of --address, --list-id or --imap")
    if imap_url:
        url = admin.add_imap_route(
            core.engine,
            slug,
            imap_url,
            password_env=password_env,
            secret_file=secret_file,
            after=after,
            policy=policy or "consent",
            cc_threshold=cc_threshold,
            actor=_actor(),
        )
        click.echo(
            f"route imap {url} -> {slug} ({_policy_text(policy or 'consent', cc_threshold)})"
        )
        return
    if password_env or secret_file or after != "leave":
        raise UsageError("--password-env, --secret-file and --after go with --imap")
    kind, value = ("address", address) if address else ("list_id", list_id)
    policy = policy or "open"
    admin.add_route(
        core.engine,
        slug,
        kind,
        value or "",
        policy=policy,
        cc_threshold=cc_threshold,
        actor=_actor(),
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
    if policy is None and cc_threshold is None:
        raise UsageError("give --policy, --cc-threshold or both")
    admin.set_route_policy(
        core.engine, slug, target, policy=policy, cc_threshold=cc_threshold, actor=_actor()
    )
    click.echo(f"route {target} of {slug} updated")


@route.command("list")
@click.option("--community", help="Only this community's routes.")
@click.option("--json", "as_json", is_flag=True)
@with_core
def route_list(core: Core, community: str | None, as_json: bool) -> None:
    """Every route and polled IMAP folder, with its policy and cc threshold."""
    with core.engine.connect() as conn:
        rows = [r for r in admin.list_routes(conn) if community in (None, r["community"])]
    for r in rows:
        if as_json:
            click.echo(json.dumps(r, ensure_ascii=False))
        else:
            how = _policy_text(r["policy"], r["cc_threshold"])
            click.echo(f"{r['community']:<16} {r['kind']:<8} {r['value']}  [{how}]")


@main.command()
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


@main.group()
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
        if row is None or not may_read_community(conn, _viewer(core, conn, as_email), row.id):
            raise UsageError(f"no community '{community}'")
        data = {"threads": queries.export_threads(conn, row.id)}
    click.echo(json.dumps(data, ensure_ascii=False, indent=None if as_json else 1))


@main.command()
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
            readable = readable_community_ids(conn, _viewer(core, conn, as_email))
        hits = fts.search(conn, fts.parse_query(query), community_ids=readable, limit=limit)
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
        click.echo(json.dumps({"query": query, "results": results}, ensure_ascii=False))
    else:
        for r in results:
            click.echo(f"{r['thread_id']:>6}  {r['subject']}\n        {r['snippet']}")


def _viewer(core: Core, conn: Any, as_email: str | None) -> Any:
    """The viewer a command acts for: `--as EMAIL`, or the shell's local admin."""
    from threads.access import LOCAL_ADMIN, viewer_for
    from threads.people import try_normalize

    if as_email is None:
        return LOCAL_ADMIN
    if try_normalize(as_email) is None:
        raise UsageError(f"--as '{as_email}' is not an e-mail address")
    return viewer_for(conn, as_email, core.settings.org_domains)


def _actor() -> str:
    """Who the audit log names for a shell command: the operating-system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@main.group("admin")
def admin_() -> None:
    """Bridge-wide administrators."""


@admin_.command("grant")
@click.argument("email")
@with_core
def admin_grant(core: Core, email: str) -> None:
    """Make EMAIL an admin of the whole bridge."""
    click.echo(f"admin {admin.set_admin(core.engine, email, True, actor=_actor())}")


@admin_.command("revoke")
@click.argument("email")
@with_core
def admin_revoke(core: Core, email: str) -> None:
    """Take admin rights from EMAIL."""
    click.echo(f"not admin {admin.set_admin(core.engine, email, False, actor=_actor())}")


@main.group()
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
    key = admin.set_member(core.engine, slug, email, role, actor=_actor())
    click.echo(f"{role} {key} in {slug}")


@member.command("remove")
@click.argument("slug")
@click.argument("email")
@with_core
def member_remove(core: Core, slug: str, email: str) -> None:
    """Remove EMAIL from community SLUG."""
    key = admin.set_member(core.engine, slug, email, None, actor=_actor())
    click.echo(f"removed {key} from {slug}")


@main.group()
def person() -> None:
    """People: disable or enable an address."""


@person.command("disable")
@click.argument("email")
@with_core
def person_disable(core: Core, email: str) -> None:
    """Disable EMAIL: no login, every session ended, no more than anonymous rights."""
    click.echo(f"disabled {admin.set_disabled(core.engine, email, True, actor=_actor())}")


@person.command("enable")
@click.argument("email")
@with_core
def person_enable(core: Core, email: str) -> None:
    """Enable a disabled address again."""
    click.echo(f"enabled {admin.set_disabled(core.engine, email, False, actor=_actor())}")


@main.command()
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@with_core
def audit(core: Core, limit: int, as_json: bool) -> None:
    """The audit log of admin actions, newest first."""
    with core.engine.connect() as conn:
        rows = admin.audit_log(conn, limit=limit)
    for r in rows:
        at = r.at.replace(tzinfo=UTC).isoformat() if r.at.tzinfo is None else r.at.isoformat()
        if as_json:
            entry = {"at": at, "actor": r.actor, "action": r.action, "target": r.target}
            click.echo(json.dumps({**entry, "before": r.before, "after": r.after}))
        else:
            click.echo(f"{at[:19]} {r.actor} {r.action} {r.target} {r.before} -> {r.after}")


@main.group()
def held() -> None:
    """Held messages: list them, then approve, reject (with a reason) or discard."""


@held.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_core
def held_list(core: Core, as_json: bool) -> None:
    """Held messages, newest first, with the communities they route to and why."""
    from threads.models import Community

    with core.engine.connect() as conn:
        slugs = dict(conn.execute(select(Community.id, Community.slug)).all())
    for h in admin.held_messages(core):
        to = [slugs.get(c, str(c)) for c in h.community_ids]
        if as_json:
            entry = {"id": h.id, "from": h.sender, "subject": h.subject, "reason": h.reason}
            click.echo(json.dumps({**entry, "communities": to}, ensure_ascii=False))
        else:
            click.echo(f"{h.id:>6} {h.sender} {h.subject[:50]!r} -> {','.join(to) or '-'}")
            click.echo(f"       {h.reason}")


def _decide(core: Core, raw_id: int, decision: str, reason: str = "") -> None:
    # The shell is the local admin, as for every other admin command.
    state = admin.decide(core, raw_id, decision, actor=_actor(), actor_is_admin=True, reason=reason)
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


@main.command()
@click.option("--failed", "which", flag_value="failed", help="Messages that failed (default).")
@click.option("--held", "which", flag_value="held", help="Messages held with a reason.")
@click.option("--all", "which", flag_value="all", help="Everything, re-filing stored messages.")
@with_core
def reprocess(core: Core, which: str | None) -> None:
    """Run stored raw messages through the pipeline again, after a fix."""
    counts = admin.reprocess(core, which or "failed")
    click.echo(", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "nothing to do")


@main.command("log")
@click.option(
    "--state",
    type=click.Choice([s.value for s in RawState]),
    help="Only this state (candidate, private and ignored are consent routes' mail).",
)
@click.option("--since", help="ISO date/time, or a duration like 2h, 3d.")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@with_core
def log_(core: Core, state: str | None, since: str | None, limit: int, as_json: bool) -> None:
    """Each raw message: time, source, envelope, Message-ID, subject, state and reason."""
    from threads.models import RawMessage

    raw = RawMessage.__table__
    stmt = (
        select(
            raw.c.id,
            raw.c.received_at,
            raw.c.source,
            raw.c.source_ref,
            raw.c.mail_from,
            raw.c.rcpt_to,
            raw.c.message_id,
            raw.c.subject,
            raw.c.state,
            raw.c.reason,
            raw.c.hold_kind,
            raw.c.auth,
        )
        .order_by(raw.c.id.desc())
        .limit(limit)
    )
    if state:
        stmt = stmt.where(raw.c.state == state)
    if since:
        stmt = stmt.where(raw.c.received_at >= _parse_since(since))
    with core.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
    for r in rows:
        r["received_at"] = r["received_at"].replace(tzinfo=UTC).isoformat()
        if as_json:
            click.echo(json.dumps(r, ensure_ascii=False))
            continue
        kind = f" [{r['hold_kind']}]" if r["hold_kind"] else ""
        click.echo(
            f"{r['received_at'][:19]} {r['source']:<6} {r['state']:<9}{kind} "
            f"<{r['message_id']}> {r['subject'][:60]!r} {r['reason']}"
        )
        if verdict := admin.auth_summary(r["auth"]):
            click.echo(f"    {verdict}")


def _parse_since(value: str) -> datetime:
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    if value[:-1].isdigit() and value[-1] in units:
        return datetime.now(UTC) - timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"--since: '{value}' is neither an ISO date nor like 2h or 3d") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# Imported last: they add their commands to `main` and use `with_core`, both defined above.
from bridge.cli import outbox, withdrawn  # noqa: E402

outbox.register(main, with_core)  # `bridge outbox`
withdrawn.register(main, with_core)  # `bridge withdrawn`
