"""Consent nudges: the one e-mail a candidate's starter gets, and their answers by mail.

Seam for issue 9; the nudge composer, the signed links and the mailed
"open" / "keep private" answers are being built here.
"""

from __future__ import annotations

from sqlalchemy import Connection

from bridge import steps
from mail.parse import ParsedMessage


def queue_nudge(conn: Connection, context: steps.Context, candidate_id: int) -> bool:
    """Queue the nudge for a new live candidate in the caller's transaction.

    Returns False when none was queued (already nudged, daily cap reached,
    history mail). Not built yet: queues nothing.
    """
    return False


def consent_reply(
    conn: Connection, context: steps.Context, raw: steps.RawView, parsed: ParsedMessage
) -> str | None:
    """If this mail answers a nudge ("open" / "keep private"), act on it and say what happened.

    The pipeline records the returned text as the raw message's reason and
    files nothing. None: not an answer to a nudge. Not built yet: always None.
    """
    return None
