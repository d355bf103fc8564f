"""One consent decision for every path: open a candidate or keep it private, and audit it.

A candidate (threads/consent.py) is decided from a nudge's link or the
candidates page (web/consent.py), or by answering the nudge by mail
(bridge/pipeline/nudges.py). All of them call `decide_candidate` in their own
write transaction, so the change and its audit entry (bridge/admin.py `audit`)
commit together or not at all, and the audit log shows every decision
whichever way it was made. Who may decide is the caller's check
(`consent.may_decide`): a link's token, a logged-in participant, or a signed
reply address each prove it differently.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from bridge.admin import audit
from threads import consent


def decide_candidate(
    conn: Connection, candidate_id: int, decision: str, actor: str, via: str
) -> bool:
    """Open (`decision` "opened") or keep private ("private") in the caller's transaction.

    `via` says how the actor decided ("link", "web", "mail"). False when it is
    no longer possible (already decided that way, or opened), and then nothing
    is written, the audit log included.
    """
    before = conn.execute(
        select(consent.CAND.c.state).where(consent.CAND.c.id == candidate_id)
    ).scalar()
    if not consent.decide(conn, candidate_id, decision, actor, via):
        return False
    audit(
        conn,
        actor,
        f"consent.{decision}",
        f"candidate {candidate_id}",
        {"state": before},
        {"state": decision, "via": via},
    )
    return True
