"""Our own post, come back from a mailing list: a duplicate, not mail to hold.

A community that mirrors an outside list mails that list the posts made on
the web (bridge/copy_audience.py). The list sends each back to every
subscriber, the bridge included, with our Message-ID and our
X-Commons-Bridge-Loop header. Held as a loop, every web post would leave an
entry in the moderators' queue; it is the message already filed, so it is
kept as a duplicate, like the same mail arriving by SMTP and by IMAP. Mail
carrying our loop header whose Message-ID is not already filed in every
community it routes to is still held: that is a loop we did not expect.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from threads.models import Message

M = Message.__table__
REASON = "our own post, come back from a mailing list: Message-ID already filed"


def already_filed(conn: Connection, community_ids: Sequence[int], message_id: str | None) -> bool:
    """Whether a real message with this Message-ID is filed in every one of the communities."""
    if not message_id or not community_ids:
        return False
    found = conn.execute(
        select(func.count(func.distinct(M.c.community_id))).where(
            M.c.message_id == message_id,
            M.c.community_id.in_(list(community_ids)),
            M.c.placeholder.is_(False),
        )
    ).scalar_one()
    return int(found) == len(set(community_ids))
