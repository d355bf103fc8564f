"""Step 1 of the pipeline, for every source: store the raw bytes and envelope, durably.

`accept` commits before it returns, so an adapter may acknowledge the message
(SMTP 250, an IMAP checkpoint, an import's progress) as soon as it has a
`Receipt`. Identical bytes are stored once; the second arrival is reported as
a duplicate, which is a success.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine, bindparam, select

from bridge import logs
from mail.envelope import Envelope, Receipt
from threads.db import insert_ignoring_conflict, writer
from threads.models import RawMessage, RawState, utcnow

RAW = RawMessage.__table__


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class DatabaseInbox:
    """The `mail.envelope.Inbox` port, backed by the raw_message table."""

    def __init__(self, engine: Engine, on_accept: Callable[[], None] | None = None) -> None:
        self._engine = writer(engine)
        self.on_accept = on_accept

    def accept(self, raw: bytes, envelope: Envelope) -> Receipt:
        (receipt,) = self.accept_many([(raw, envelope)])
        return receipt

    def accept_many(self, items: Iterable[tuple[bytes, Envelope]]) -> list[Receipt]:
        """Store several messages in one transaction (bulk import); same promise as accept."""
        items_list = list(items)
        rows = [_row(content_hash(raw), raw, env) for raw, env in items_list]
        with self._engine.begin() as conn:
            wanted = {row["sha256"] for row in rows}
            known = dict(conn.execute(_IDS_BY_HASH, {"h": list(wanted)}).all())
            fresh = list({r["sha256"]: r for r in rows if r["sha256"] not in known}.values())
            if fresh:
                stmt = insert_ignoring_conflict(conn, RAW, ["sha256"])
                new = dict(conn.execute(stmt.returning(RAW.c.sha256, RAW.c.id), fresh).all())
                # A hash missing from `new` was stored by another process a moment ago.
                late = wanted - known.keys() - new.keys()
                if late:
                    known.update(conn.execute(_IDS_BY_HASH, {"h": list(late)}).all())
            else:
                new = {}
        receipts = []
        for row in rows:
            digest = row["sha256"]
            if digest in new:
                receipts.append(Receipt(new.pop(digest), duplicate=False))
                known[digest] = receipts[-1].raw_id
            else:
                receipts.append(Receipt(known[digest], duplicate=True))
        for receipt, (_raw, env) in zip(receipts, items_list, strict=True):
            if not receipt.duplicate:
                logs.message_state(receipt.raw_id, "pending", source=env.source)
        if self.on_accept and any(not r.duplicate for r in receipts):
            self.on_accept()
        return receipts

    def record_rejected(self, raw: bytes, envelope: Envelope, reason: str) -> None:
        """Keep refused bytes with state `rejected` and the reply sent, for `bridge log`."""
        row = _row(content_hash(raw), raw, envelope)
        row.update(state=RawState.rejected, reason=reason[:2000])
        with self._engine.begin() as conn:
            stored = conn.execute(
                insert_ignoring_conflict(conn, RAW, ["sha256"]).values(row).returning(RAW.c.id)
            ).scalar()
        if stored is not None:  # None: these very bytes were kept before
            logs.message_state(stored, "rejected", source=envelope.source)


_IDS_BY_HASH = select(RAW.c.sha256, RAW.c.id).where(
    RAW.c.sha256.in_(bindparam("h", expanding=True))
)


def _row(digest: str, raw: bytes, env: Envelope) -> dict[str, Any]:
    return {
        "sha256": digest,
        "data": raw,
        "size": len(raw),
        "source": env.source,
        "source_ref": env.source_ref,
        "community_hint": env.community_hint,
        "mail_from": env.mail_from,
        "rcpt_to": list(env.rcpt_to),
        "received_at": utcnow(),
        "state": RawState.pending,
        "reason": "",
        "attempts": 0,
        "message_id": "",
        "subject": "",
    }
