"""Who may get mailed copies of a thread's posts: the one place that rule is decided.

Being on a thread's To/Cc is not enough: anyone can write a Cc line. A copy
goes to an address only when both hold:

1. It may read the community. Members-only: its members and moderators (and
   admins). Org: the organisation's addresses and members, plus outsiders
   vouched for — put on the thread by a proven organisation sender, approved
   by a moderator, or whose own post a moderator approved. Public: anyone.
   With no `BRIDGE_ORG_DOMAINS` every address counts as the organisation's,
   as it does for posting.
2. It is on the thread legitimately: it wrote to the thread, was on the To/Cc
   of a message whose sender was proven, chose to follow, or a moderator
   approved it. An address an unproven message added (approved for
   publication or not) waits in `copy_review` for a moderator and gets
   nothing meanwhile.

Muted addresses get nothing either way. Legacy messages (`unchecked`: filed
before senders were checked, or with checks off) still subscribe their To/Cc,
but vouch for no outsider: an outsider they added needs a moderator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from threads.models import (
    Community,
    CopyReview,
    Membership,
    Message,
    Person,
    SenderCheck,
    Thread,
    Visibility,
)
from threads.people import is_org_address

M, T, C = Message.__table__, Thread.__table__, Community.__table__
MS, P, R = Membership.__table__, Person.__table__, CopyReview.__table__
# An unproven sender's To/Cc waits for a moderator, even when the message itself was approved.
UNPROVEN = frozenset({SenderCheck.unverified.value, SenderCheck.approved.value})


@dataclass(slots=True)
class Audience:
    """A thread's copy recipients as of now, and the additions waiting for a moderator."""

    recipients: set[str] = field(default_factory=set)
    # address -> (message pk, its sender): put on by an unverified message, undecided.
    unvetted: dict[str, tuple[int, str]] = field(default_factory=dict)


def audience(
    conn: Connection,
    thread_id: int,
    *,
    watching: Iterable[str] = (),
    muted: Iterable[str] = (),
    org_domains: Iterable[str] = (),
) -> Audience:
    """Who is owed copies of the thread's next post (before leaving out whom it reached)."""
    row = conn.execute(
        select(C.c.id, C.c.visibility)
        .join(T, T.c.community_id == C.c.id)
        .where(T.c.id == thread_id)
    ).first()
    if row is None:
        return Audience()
    domains = tuple(org_domains)
    readers = _members_and_admins(conn, row.id)
    reviews = dict(
        conn.execute(select(R.c.address, R.c.state).where(R.c.thread_id == thread_id)).all()
    )
    approved = {a for a, state in reviews.items() if state == "approved"}
    on_thread: set[str] = set(watching) | approved
    vouched: set[str] = set(approved)
    unvetted: dict[str, tuple[int, str]] = {}
    messages = conn.execute(
        select(M.c.id, M.c.from_addr, M.c.to_addrs, M.c.cc_addrs, M.c.sender_check).where(
            M.c.thread_id == thread_id, M.c.placeholder.is_(False)
        )
    )
    for pk, sender, to, cc, check in messages:
        added = {a["address"].lower() for a in [*(to or []), *(cc or [])] if a.get("address")}
        on_thread.add(sender)
        if check == SenderCheck.approved.value:
            vouched.add(sender)  # a moderator let this sender post here
        if check in UNPROVEN:
            for address in added - on_thread:
                if reviews.get(address) is None:
                    unvetted.setdefault(address, (pk, sender))
            continue
        on_thread |= added
        if check == SenderCheck.verified.value and _org(sender, domains):
            vouched |= added
    visibility = row.visibility

    def may_read(address: str) -> bool:
        if address in readers or visibility == Visibility.public.value:
            return True
        if visibility == Visibility.members.value:
            return False
        return _org(address, domains) or address in vouched

    skip = set(muted)
    recipients = {a for a in on_thread - skip if a and may_read(a)}
    # In a members-only community a moderator's approval cannot make a reader: not asked.
    could = readers if visibility == Visibility.members.value else None
    unvetted = {
        a: v
        for a, v in unvetted.items()
        if a not in on_thread and a not in skip and (could is None or a in could)
    }
    return Audience(recipients, unvetted)


def _org(address: str, domains: tuple[str, ...]) -> bool:
    # Without configured domains nobody can be told apart: all count as the organisation's.
    return not domains or is_org_address(address, domains)


def _members_and_admins(conn: Connection, community_id: int) -> set[str]:
    members = select(P.c.email).join(MS, MS.c.person_id == P.c.id)
    members = members.where(MS.c.community_id == community_id, P.c.disabled.is_(False))
    admins = select(P.c.email).where(P.c.is_admin.is_(True), P.c.disabled.is_(False))
    return set(conn.execute(members.union(admins)).scalars())
