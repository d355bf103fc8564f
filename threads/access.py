"""Who may read, post and moderate where: the one place access rules are decided.

The rules (docs/admin.md, "Who can see this?"):

- An **admin** reads, posts and moderates everywhere.
- A **moderator** of a community reads, posts and moderates it.
- A **member** reads and posts in their community, whatever its visibility.
- An **org reader** (an address in `BRIDGE_ORG_DOMAINS`) reads `org` communities.
- Anyone, logged in or not, reads `public` communities.
- A disabled person is treated as anonymous.

Posting also follows the community's policy: `members` (members only), `org`
(org readers and members) or `anyone` (outsiders too, with their mail held
for a moderator). Archived communities stay readable and take no posts.

Every query that returns communities, threads, messages, attachments or search
results takes the readable community ids from here, so the rule is applied
inside the query. A thread one may not read is indistinguishable from one that
does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, or_, select

from threads.models import Community, Membership, Person, Posting, Role, Visibility
from threads.people import is_org_address, try_normalize

C, MS, P = Community.__table__, Membership.__table__, Person.__table__


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person a request or command acts for; `email is None` means anonymous.

    `org` says the address is in the organisation's domains; `person_id` is
    None for an address never seen (it then has no memberships).
    """

    email: str | None = None
    person_id: int | None = None
    is_admin: bool = False
    org: bool = False

    @property
    def anonymous(self) -> bool:
        return self.email is None


ANONYMOUS = Viewer()
# The shell acts as a local admin unless told `--as EMAIL`.
LOCAL_ADMIN = Viewer(email="admin@localhost", is_admin=True)


def viewer_for(conn: Connection, email: str, org_domains: Iterable[str]) -> Viewer:
    """The viewer for an address: its person's flags, or an unknown address's org standing.

    A disabled person, or an address that is not one, gets anonymous rights.
    """
    key = try_normalize(email)
    if key is None:
        return ANONYMOUS
    row = conn.execute(select(P.c.id, P.c.is_admin, P.c.disabled).where(P.c.email == key)).first()
    if row is not None and row.disabled:
        return ANONYMOUS
    return Viewer(
        email=key,
        person_id=row.id if row is not None else None,
        is_admin=bool(row.is_admin) if row is not None else False,
        org=is_org_address(key, org_domains),
    )


def viewer_for_person(conn: Connection, person_id: int, org_domains: Iterable[str]) -> Viewer:
    """The viewer for a stored person (a web session); anonymous if gone or disabled."""
    row = conn.execute(
        select(P.c.email, P.c.is_admin, P.c.disabled).where(P.c.id == person_id)
    ).first()
    if row is None or row.disabled:
        return ANONYMOUS
    return Viewer(
        email=row.email,
        person_id=person_id,
        is_admin=bool(row.is_admin),
        org=is_org_address(row.email, org_domains),
    )


def _member_of(viewer: Viewer, *roles: Role) -> object:
    stmt = select(MS.c.community_id).where(MS.c.person_id == viewer.person_id)
    if roles:
        stmt = stmt.where(MS.c.role.in_([str(r) for r in roles]))
    return stmt


def readable_community_ids(conn: Connection, viewer: Viewer) -> list[int]:
    """Ids of the communities `viewer` may read (archived ones included: they stay readable)."""
    stmt = select(C.c.id).order_by(C.c.id)
    if not viewer.is_admin:
        allowed = [C.c.visibility == Visibility.public.value]
        if viewer.org:
            allowed.append(C.c.visibility == Visibility.org.value)
        if viewer.person_id is not None:
            allowed.append(C.c.id.in_(_member_of(viewer)))  # type: ignore[arg-type]
        stmt = stmt.where(or_(*allowed))
    return list(conn.execute(stmt).scalars())


def may_read_community(conn: Connection, viewer: Viewer, community_id: int) -> bool:
    return community_id in readable_community_ids(conn, viewer)


def role_in(conn: Connection, viewer: Viewer, community_id: int) -> Role | None:
    if viewer.person_id is None:
        return None
    role = conn.execute(
        select(MS.c.role).where(
            MS.c.person_id == viewer.person_id, MS.c.community_id == community_id
        )
    ).scalar()
    return Role(role) if role else None


def moderated_community_ids(conn: Connection, viewer: Viewer) -> list[int]:
    """Communities whose held mail, members and settings `viewer` may manage."""
    if viewer.is_admin:
        return list(conn.execute(select(C.c.id).order_by(C.c.id)).scalars())
    if viewer.person_id is None:
        return []
    return list(conn.execute(_member_of(viewer, Role.moderator)).scalars())  # type: ignore[call-overload]


def may_moderate(conn: Connection, viewer: Viewer, community_id: int) -> bool:
    return viewer.is_admin or role_in(conn, viewer, community_id) == Role.moderator


def may_post(conn: Connection, viewer: Viewer, community_id: int) -> bool:
    """Whether `viewer` may post to the community from the web.

    Under `anyone`, outsiders may post; the pipeline holds their post for a moderator.
    """
    if viewer.anonymous:
        return False
    row = conn.execute(select(C.c.posting, C.c.archived).where(C.c.id == community_id)).first()
    if row is None or row.archived or not may_read_community(conn, viewer, community_id):
        return False
    if viewer.is_admin or role_in(conn, viewer, community_id) is not None:
        return True
    posting: str = row.posting
    if posting == Posting.org.value:
        return viewer.org
    return posting == Posting.anyone.value


def posting_hold_reason(
    posting: str, sender: str | None, posters: frozenset[str], org_domains: Iterable[str]
) -> str | None:
    """Why mail from `sender` (a normalised address) must wait for a moderator, or None.

    `posters` are the community's members, moderators and the bridge's admins
    (normalised addresses, disabled people left out). With no
    `BRIDGE_ORG_DOMAINS` configured the bridge cannot tell outsiders from
    colleagues, so every sender counts as the organisation's for posting
    (reading stays closed: nobody is an org reader then).
    """
    if sender is None:
        return "sender not permitted: the From address is not a usable address"
    if sender in posters:
        return None
    domains = list(org_domains)
    org = is_org_address(sender, domains) or not domains
    if posting == Posting.members.value:
        return "sender not permitted: only members post here; a moderator may approve"
    if posting == Posting.org.value and not org:
        return "sender not permitted: outside the organisation; a moderator may approve"
    if posting == Posting.anyone.value and not org:
        return "moderation: the sender is outside the organisation"
    return None


def posters_by_community(conn: Connection) -> dict[int, frozenset[str]]:
    """Per community, who always may post: its members and moderators, and every admin."""
    admins = set(
        conn.execute(
            select(P.c.email).where(P.c.is_admin.is_(True), P.c.disabled.is_(False))
        ).scalars()
    )
    found: dict[int, set[str]] = {}
    rows = conn.execute(
        select(MS.c.community_id, P.c.email)
        .join(P, P.c.id == MS.c.person_id)
        .where(P.c.disabled.is_(False))
    )
    for cid, email in rows:
        found.setdefault(cid, set()).add(email)
    ids = conn.execute(select(C.c.id)).scalars()
    return {cid: frozenset(found.get(cid, set()) | admins) for cid in ids}
