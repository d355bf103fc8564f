"""Routes: which addresses, List-Ids and IMAP folders feed which community, and how.

Adding, listing and removing routes and polled IMAP folders, and changing a
route's policy (open, or consent with a cc threshold). Shared by the CLI and
the admin pages; each operation writes in its caller's transaction and records
an audit entry there (bridge/admin.py `audit`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from bridge.admin import audit, community_id_of, insert_route
from bridge.errors import UsageError
from mail.imap import parse_after_action, parse_imap_url
from mail.oauth import OAuthClient, oauth_client
from threads.models import (
    Community,
    ImapFolder,
    Route,
    RouteKind,
    RoutePolicy,
    as_utc,
    utcnow,
)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def add_route(
    conn: Connection,
    slug: str,
    kind: str,
    value: str,
    *,
    policy: str = RoutePolicy.open.value,
    cc_threshold: int = 0,
    actor: str = "cli",
) -> None:
    """Route an address or List-Id to `slug`; open unless told consent (a cc'd
    community address is an explicit choice to publish)."""
    _check_policy(policy, cc_threshold)
    cid = community_id_of(conn, slug)
    stored = insert_route(conn, cid, RouteKind(kind), value, policy, cc_threshold)
    after = {"kind": str(kind), "value": stored, "policy": policy, "cc_threshold": cc_threshold}
    audit(conn, actor, "route.add", slug, None, after)


def _check_policy(policy: str, cc_threshold: int) -> None:
    if policy not in RoutePolicy.__members__:
        raise UsageError(f"policy '{policy}': choose open or consent")
    if not 0 <= cc_threshold <= 1000:
        raise UsageError(f"cc threshold {cc_threshold}: give a number from 0 to 1000")


def set_route_policy(
    conn: Connection,
    slug: str,
    target: str,
    *,
    policy: str | None = None,
    cc_threshold: int | None = None,
    actor: str = "cli",
) -> None:
    """Change the policy or cc threshold of one of `slug`'s routes or IMAP folders.

    `target` is the route's address or List-Id, or the folder's URL. Mail
    already kept or published is not revisited: the change applies to mail
    processed from now on (`bridge reprocess --all` re-runs ignored mail).
    """
    cid = community_id_of(conn, slug)
    table, key = _policy_row(conn, cid, slug, target)
    row = conn.execute(select(table.c.policy, table.c.cc_threshold).where(key)).one()
    before: dict[str, Any] = {"policy": str(row.policy), "cc_threshold": int(row.cc_threshold)}
    after: dict[str, Any] = {
        "policy": policy if policy is not None else before["policy"],
        "cc_threshold": cc_threshold if cc_threshold is not None else before["cc_threshold"],
    }
    _check_policy(str(after["policy"]), int(after["cc_threshold"]))
    if after == before:
        return
    conn.execute(update(table).where(key).values(**after))
    what = "route.imap.policy" if table is ImapFolder.__table__ else "route.policy"
    audit(conn, actor, what, f"{slug} {target}", before, after)


def _policy_row(conn: Connection, cid: int, slug: str, target: str) -> tuple[Any, Any]:
    """The route or folder row `target` names in community `cid`, as (table, where)."""
    r, f = Route.__table__, ImapFolder.__table__
    if "://" in target:
        try:
            url = str(parse_imap_url(target))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        where = (f.c.community_id == cid) & (f.c.url == url)
        if conn.execute(select(f.c.id).where(where)).first() is None:
            raise UsageError(f"community '{slug}' polls no IMAP folder {url}")
        return f, where
    value = target.strip().strip("<>").lower()
    where = (r.c.community_id == cid) & (r.c.value == value)
    if conn.execute(select(r.c.id).where(where)).first() is None:
        raise UsageError(f"community '{slug}' has no route '{value}'")
    return r, where


def list_routes(conn: Connection) -> list[dict[str, Any]]:
    """Every route and polled folder with its community, policy and cc threshold."""
    r, f, c = Route.__table__, ImapFolder.__table__, Community.__table__
    out = [
        {
            "community": row.slug,
            "kind": str(row.kind),
            "value": row.value,
            "policy": str(row.policy),
            "cc_threshold": int(row.cc_threshold),
        }
        for row in conn.execute(
            select(c.c.slug, r.c.kind, r.c.value, r.c.policy, r.c.cc_threshold)
            .join(c, c.c.id == r.c.community_id)
            .order_by(c.c.slug, r.c.kind, r.c.value)
        )
    ]
    out += [
        {
            "community": row.slug,
            "kind": "imap",
            "value": row.url,
            "policy": str(row.policy),
            "cc_threshold": int(row.cc_threshold),
            **folder_status(row),
        }
        for row in conn.execute(
            select(c.c.slug, f).join(c, c.c.id == f.c.community_id).order_by(c.c.slug, f.c.url)
        )
    ]
    return out


def _refuse_own_setting(name: str) -> None:
    """The bridge's own settings are no folder's secret: an admin on the web could
    otherwise have their values (the signing key, the database URL with its password)
    sent to a server of their choosing as a password or a client secret."""
    from bridge.settings import Settings

    if name.upper() in {f"BRIDGE_{field.upper()}" for field in Settings.model_fields}:
        raise UsageError(f"{name} is one of the bridge's own settings, not a mailbox's secret")


def folder_status(row: Any) -> dict[str, Any]:
    """How a polled folder is doing, as its poller last recorded it, in plain words."""
    client = OAuthClient.from_json(row.oauth)
    expires = as_utc(row.token_expires_at) if row.token_expires_at is not None else None
    return {
        "oauth": client.describe() if client is not None else "",
        "status": row.status or "not polled yet",
        "status_at": as_utc(row.status_at).isoformat() if row.status_at is not None else "",
        "last_error": row.status_error,
        "token_expires_at": expires.isoformat() if expires is not None else "",
    }


def oauth_from_options(
    provider: str | None,
    *,
    token_url: str = "",
    client_id: str = "",
    secret_env: str = "",
    scope: str = "",
    tenant: str = "",
    certificate_file: str = "",
    service_account_file: str = "",
) -> OAuthClient | None:
    """The OAuth2 client the CLI or a form describes, or None when it names none."""
    given = (token_url, client_id, secret_env, scope, tenant, certificate_file)
    if not provider and not any(given) and not service_account_file:
        return None
    try:
        return oauth_client(
            provider or "generic",
            token_url=token_url.strip(),
            client_id=client_id.strip(),
            secret_env=secret_env.strip(),
            scope=scope.strip(),
            tenant=tenant.strip(),
            certificate_file=certificate_file.strip(),
            service_account_file=service_account_file.strip(),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def remove_route(conn: Connection, slug: str, kind: str, value: str, *, actor: str = "cli") -> None:
    r = Route.__table__
    value = value.strip().strip("<>").lower()
    cid = community_id_of(conn, slug)
    gone = conn.execute(
        delete(r).where(r.c.community_id == cid, r.c.kind == kind, r.c.value == value)
    ).rowcount
    if not gone:
        raise UsageError(f"community '{slug}' has no {kind} route '{value}'")
    audit(conn, actor, "route.remove", slug, {"kind": str(kind), "value": value}, None)


def remove_target(conn: Connection, slug: str, target: str, *, actor: str = "cli") -> str:
    """Remove `slug`'s route or polled folder that `target` names (as `set_route_policy`
    reads it); returns what was removed. The folder's checkpoint goes with it."""
    cid = community_id_of(conn, slug)
    table, key = _policy_row(conn, cid, slug, target)
    if table is ImapFolder.__table__:
        url = conn.execute(select(table.c.url).where(key)).scalar_one()
        conn.execute(delete(table).where(key))
        audit(conn, actor, "route.imap.remove", slug, {"url": url}, None)
        return str(url)
    row = conn.execute(select(table.c.kind, table.c.value).where(key)).one()
    conn.execute(delete(table).where(key))
    audit(conn, actor, "route.remove", slug, {"kind": str(row.kind), "value": row.value}, None)
    return f"{row.kind} {row.value}"


def add_imap_route(
    conn: Connection,
    slug: str,
    url: str,
    *,
    password_env: str = "",
    secret_file: str = "",
    oauth: OAuthClient | None = None,
    after: str = "leave",
    origin: str = "cli",
    replace: bool = False,
    policy: str = RoutePolicy.consent.value,
    cc_threshold: int = 0,
    actor: str = "cli",
) -> str:
    """Poll an IMAP folder into community `slug`; returns the normalised URL.

    The secret is only named (an environment variable or a file path) and read
    by the poller at each login: the database never holds it. `replace` updates
    an existing row (settings-configured folders), keeping its checkpoint.
    A connected mailbox is someone's inbox: consent unless the admin says open.
    """
    _check_policy(policy, cc_threshold)
    try:
        parsed, action = parse_imap_url(url), parse_after_action(after)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if oauth is not None:
        if not parsed.xoauth2 or password_env or secret_file:
            raise UsageError(
                "OAuth2 goes with ;AUTH=XOAUTH2 after the user in the URL"
                " and without --password-env or --secret-file"
            )
    elif bool(password_env) == bool(secret_file):
        raise UsageError(
            "an IMAP route needs exactly one of --password-env VAR, --secret-file or --oauth-*"
        )
    if password_env and not _ENV_NAME.match(password_env):
        raise UsageError(f"--password-env '{password_env}' is not an environment variable name")
    for name in (password_env, oauth.secret_env if oauth is not None else ""):
        _refuse_own_setting(name)
    values: dict[str, Any] = {
        "url": str(parsed),
        "password_env": password_env,
        # Absolute: `bridge serve` may run from another directory than `route add`.
        "secret_file": str(Path(secret_file).expanduser().resolve()) if secret_file else "",
        "after_action": str(action),
        # Names and paths only (mail/oauth.py OAuthClient): the secret stays where it is.
        "oauth": oauth.to_json() if oauth is not None else "",
        "origin": origin,
        "policy": policy,
        "cc_threshold": cc_threshold,
    }
    folders = ImapFolder.__table__
    cid = conn.execute(select(col(Community.id)).where(col(Community.slug) == slug)).scalar()
    if cid is None:
        raise UsageError(f"no community '{slug}'")
    found = conn.execute(select(folders.c.id).where(folders.c.url == values["url"])).scalar()
    if found is not None and not replace:
        raise UsageError(f"IMAP folder {values['url']} is already routed")
    if found is not None:
        conn.execute(
            update(folders).where(folders.c.id == found).values(community_id=cid, **values)
        )
    else:
        try:
            conn.execute(
                insert(folders).values(
                    community_id=cid,
                    uidvalidity=None,
                    last_uid=0,
                    lease_holder="",
                    lease_until=None,
                    created_at=utcnow(),
                    **values,
                )
            )
        except IntegrityError as exc:
            raise UsageError(f"IMAP folder {values['url']} is already routed") from exc
    if origin != "settings":  # settings are written at every start; they are not actions
        audit(
            conn,
            actor,
            "route.imap",
            slug,
            {"url": values["url"]} if found is not None else None,
            {k: v for k, v in values.items() if k != "origin"},
        )
    return values["url"]
