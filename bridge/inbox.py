"""Step 1 of the pipeline, for every source: store the raw bytes and envelope, durably.

`accept` commits before it returns, so an adapter may acknowledge the message
(SMTP 250, an IMAP checkpoint, an import's progress) as soon as it has a
`Receipt`. Identical bytes are stored once; the second arrival is reported as
a duplicate, which is a success.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from sqlalchemy import Engine, select

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
        rows = [(content_hash(raw), raw, env) for raw, env in items]
        receipts: list[Receipt] = []
        with self._engine.begin() as conn:
            known = dict(
                conn.execute(
                    select(RAW.c.sha256, RAW.c.id).where(RAW.c.sha256.in_({h for h, _, _ in rows}))
                ).all()
            )
            for digest, raw, env in rows:
                if digest in known:
                    receipts.append(Receipt(known[digest], duplicate=True))
                    continue
                stmt = insert_ignoring_conflict(conn, RAW, ["sha256"]).returning(RAW.c.id)
                raw_id = conn.execute(stmt.values(_row(digest, raw, env))).scalar()
                if raw_id is None:  # another process stored the same bytes a moment ago
                    raw_id = conn.execute(
                        select(RAW.c.id).where(RAW.c.sha256 == digest)
                    ).scalar_one()
                    receipts.append(Receipt(raw_id, duplicate=True))
                else:
                    receipts.append(Receipt(raw_id, duplicate=False))
                known[digest] = raw_id
        if self.on_accept and any(not r.duplicate for r in receipts):
            self.on_accept()
        return receipts


def _row(digest: str, raw: bytes, env: Envelope) -> dict[str, object]:
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
