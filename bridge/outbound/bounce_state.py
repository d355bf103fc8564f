"""Turning mail to a bounced address back on, by the person or an admin, audited.

Delivery stops after `bounce_limit` hard bounces (threads/outbound.py). The
person can say their mailbox works again from /me; an admin can for anyone
from /admin/bounces. Either way the counters start again from zero and the
audit log says who did it and what the address's state was.
"""

from __future__ import annotations

from sqlalchemy import Connection

from bridge.admin import audit
from threads import outbound


def reenable(conn: Connection, address: str, *, actor: str) -> bool:
    """Resume mail to `address` in the caller's transaction; False when it had no bounces."""
    before = outbound.bounce_state(conn, address)
    if before is None:
        return False
    outbound.enable_address(conn, address)
    audit(
        conn,
        actor,
        "bounces.enable",
        f"address {address.strip().lower()}",
        {
            "disabled": bool(before.disabled),
            "hard_bounces": int(before.hard_bounces),
            "soft_bounces": int(before.soft_bounces),
            "last_reason": str(before.last_reason),
        },
        {"disabled": False, "hard_bounces": 0, "soft_bounces": 0},
    )
    return True
