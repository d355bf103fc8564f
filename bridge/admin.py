"""Admin operations shared by the CLI and (later) the admin pages: one implementation each."""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from bridge.core import Core
from bridge.errors import UsageError
from threads import search
from threads.db import writer
from threads.models import (
    Attachment,
    Community,
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
