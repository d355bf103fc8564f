"""Who may read and post where: the one place access rules are decided.

Every query that returns communities, threads, messages, attachments or search
results takes the readable community ids from here, so the rule is applied
inside the query. A thread one may not read is indistinguishable from one that
does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from threads.models import Community


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person a request or command acts for; `email is None` means anonymous."""

    email: str | None = None
    person_id: int | None = None
    is_admin: bool = False

    @property
    def anonymous(self) -> bool:
        return self.email is None


ANONYMOUS = Viewer()
# Until sessions exist, the loopback-only web app and the shell act as a local admin.
LOCAL_ADMIN = Viewer(email="admin@localhost", is_admin=True)


def readable_community_ids(conn: Connection, viewer: Viewer) -> list[int]:
    """Ids of the communities `viewer` may read (archived ones included: they stay readable)."""
    if viewer.is_admin:
        return list(conn.execute(select(Community.id)).scalars())
    # The identity work replaces this with the org / members / public rules.
    return []


def may_read_community(conn: Connection, viewer: Viewer, community_id: int) -> bool:
    return community_id in readable_community_ids(conn, viewer)


def may_post(conn: Connection, viewer: Viewer, community_id: int) -> bool:
    return not viewer.anonymous and may_read_community(conn, viewer, community_id)
