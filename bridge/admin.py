"""Admin operations shared by the CLI and (later) the admin pages: one implementation each."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from bridge.core import Core
from bridge.errors import UsageError
from mail.imap import parse_after_action, parse_imap_url
from threads import search
from threads.db import writer
from threads.models import (
    Attachment,
    Community,
    ImapFolder,
    Message,
    RawMessage,
    RawState,
    Route,
    RouteKind,
    Visibility,
    utcnow,
)
from threads.store import refresh_thread

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def add_community(
    engine: Engine,
    slug: str,
    name: str,
    visibility: str = "org",
    description: str = "",
    addresses: list[str] | None = None,
) -> int:
    if not _SLUG.match(slug):
        raise UsageError(f"slug '{slug}': use lower-case letters, digits and '-' (max 63)")
    if visibility not in Visibility.__members__:
        raise UsageError(f"visibility '{visibility}': choose org, members or public")
    with writer(engine).begin() as conn:
        try:
            cid = conn.execute(
                insert(Community.__table__).values(
                    slug=slug,
                    name=name,
                    description=description,
                    visibility=visibility,
                    archived=False,
                    created_at=utcnow(),
                )
            ).inserted_primary_key[0]
        except IntegrityError as exc:
            raise UsageError(f"community '{slug}' already exists") from exc
        for address in addresses or []:
            _insert_route(conn, cid, RouteKind.address, address)
    return int(cid)


def add_route(engine: Engine, slug: str, kind: str, value: str) -> None:
    with writer(engine).begin() as conn:
        cid = conn.execute(select(Community.id).where(Community.slug == slug)).scalar()
        if cid is None:
            raise UsageError(f"no community '{slug}'")
        _insert_route(conn, cid, RouteKind(kind), value)


def add_imap_route(
    engine: Engine,
    slug: str,
    url: str,
    *,
    password_env: str = "",
    secret_file: str = "",
    after: str = "leave",
    origin: str = "cli",
    replace: bool = False,
) -> str:
    """Poll an IMAP folder into community `slug`; returns the normalised URL.

    The secret is only named (an environment variable or a file path) and read
    by the poller at each login: the database never holds it. `replace` updates
    an existing row (settings-configured folders), keeping its checkpoint.
    """
    try:
        parsed, action = parse_imap_url(url), parse_after_action(after)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if bool(password_env) == bool(secret_file):
        raise UsageError("an IMAP route needs exactly one of --password-env VAR or --secret-file")
    if password_env and not _ENV_NAME.match(password_env):
        raise UsageError(f"--password-env '{password_env}' is not an environment variable name")
    values = {
        "url": str(parsed),
        "password_env": password_env,
        # Absolute: `bridge serve` may run from another directory than `route add`.
        "secret_file": str(Path(secret_file).expanduser().resolve()) if secret_file else "",
        "after_action": str(action),
        "origin": origin,
    }
    folders = ImapFolder.__table__
    with writer(engine).begin() as conn:
        cid = conn.execute(select(Community.id).where(Community.slug == slug)).scalar()
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
    return values["url"]


def _insert_route(conn: Connection, community_id: int, kind: RouteKind, value: str) -> None:
    value = value.strip().strip("<>").lower()
    if kind == RouteKind.address and not _ADDRESS.match(value):
        raise UsageError(f"'{value}' is not an e-mail address")
    if not value:
        raise UsageError("a route needs a value")
    try:
        conn.execute(
            insert(Route.__table__).values(community_id=community_id, kind=kind, value=value)
        )
    except IntegrityError as exc:
        raise UsageError(f"{kind} '{value}' is already routed") from exc


def reprocess(core: Core, which: str) -> Counter[str]:
    """Set the chosen raw messages pending again and run them; filed ones are re-filed."""
    raw = RawMessage.__table__
    states = {
        "failed": [RawState.failed],
        "held": [RawState.held],
        "all": [
            RawState.failed,
            RawState.held,
            RawState.done,
            RawState.duplicate,
            RawState.pending,
        ],
    }[which]
    with writer(core.engine).begin() as conn:
        ids = list(conn.execute(select(raw.c.id).where(raw.c.state.in_(states))).scalars())
        if which == "all":
            _unfile(conn, ids)
        if ids:
            conn.execute(update(raw).where(raw.c.id.in_(ids)).values(state=RawState.pending))
    counts: Counter[str] = Counter()
    for start in range(0, len(ids), 200):
        counts.update(o.state.value for o in core.pipeline.run(ids[start : start + 200]))
    return counts


def _unfile(conn: Connection, raw_ids: list[int]) -> None:
    """Turn the messages of these raws back into placeholders, keeping threads joined."""
    m, a = Message.__table__, Attachment.__table__
    rows = conn.execute(select(m.c.id, m.c.thread_id).where(m.c.raw_id.in_(raw_ids))).all()
    for pk, _ in rows:
        search.unindex_message(conn, pk)
    pks = [pk for pk, _ in rows]
    if pks:
        conn.execute(a.delete().where(a.c.message_pk.in_(pks)))
        conn.execute(
            update(m)
            .where(m.c.id.in_(pks))
            .values(
                placeholder=True,
                raw_id=None,
                visible_text="",
                quoted_text="",
                signature="",
                html=None,
                subject="",
                norm_subject="",
                reply_without_refs=False,
            )
        )
    for tid in {tid for _, tid in rows}:
        refresh_thread(conn, tid)
