"""Who a thread's next post is mailed to, as fan-out decides it and as the page announces it.

Fan-out (bridge/pipeline/steps.py) queues one copy per address this returns;
the thread page says how many people a reply will be mailed to with the same
call, so the number it shows is the number of copies sent. The rule itself
(who may get copies at all) is threads/copies.py's; this adds the thread's
mutes and watchers, leaves out whom the post reached directly, and never
mails the bridge's own addresses (a community's list address is a route, not
a reader: mailing it would send our copy back to us).

A post made on the web also goes, once, to each outside mailing list the
community mirrors (a route of kind `list`): list members would otherwise
never see a thread started on the web. The list sends it back to us as it
does every post; that echo carries our Message-ID and is kept as a
duplicate of the message already filed (never filed or mailed again), and
our X-Commons-Bridge-Loop header would hold it if it ever reached another
community.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select

from bridge.pipeline import replies
from threads import copies
from threads.models import Route, RouteKind, Thread


@dataclass(frozen=True, slots=True)
class Owed:
    # The addresses a copy is queued for, sorted.
    recipients: list[str]
    # (address, message pk, its sender): put on by an unproven message, for a moderator.
    unvetted: list[tuple[str, int, str]]


def owed(
    conn: Connection,
    thread_id: int,
    *,
    org_domains: Iterable[str],
    ours: Callable[[str], bool],
    reached: Iterable[str],
    web: bool = False,
) -> Owed:
    """The copies a post in `thread_id` that reached `reached` directly is owed (`web`: a
    post made on the web, also owed to the community's outside lists)."""
    muted, watching = replies.thread_choices(conn, thread_id)
    found = copies.audience(
        conn, thread_id, watching=watching, muted=muted, org_domains=org_domains
    )
    skip = set(reached)
    lists = list_addresses(conn, thread_id)
    # A list on a message's To/Cc is not a reader: it gets web posts only, as a list.
    people = {a for a in found.recipients - skip - lists if not ours(a)}
    return Owed(
        sorted(people | (lists - skip if web else set())),
        [(a, pk, by) for a, (pk, by) in found.unvetted.items() if not ours(a) and a not in lists],
    )


def list_addresses(conn: Connection, thread_id: int) -> set[str]:
    """The outside mailing lists the thread's community mirrors (routes of kind list)."""
    route, thread = Route.__table__, Thread.__table__
    return set(
        conn.execute(
            select(route.c.value)
            .join(thread, thread.c.community_id == route.c.community_id)
            .where(thread.c.id == thread_id, route.c.kind == RouteKind.list_address.value)
        ).scalars()
    )


def own_addresses(conn: Connection, mail_domain: str) -> Callable[[str], bool]:
    """Whether an address is the bridge's own: a community address (or a mirrored list's),
    or at its mail domain: never counted as a person."""
    route = Route.__table__
    routed = set(
        conn.execute(
            select(route.c.value).where(
                route.c.kind.in_([RouteKind.address.value, RouteKind.list_address.value])
            )
        ).scalars()
    )
    routed = {str(v).lower() for v in routed}
    suffix = "@" + mail_domain.lower() if mail_domain else None
    return lambda a: a in routed or (suffix is not None and a.endswith(suffix))
