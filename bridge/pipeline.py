"""The pipeline after `accept`: parse, classify, route, authorize, thread, store, index, fan out.

Every source's mail runs through `Pipeline.run(raw_ids)`. The pure steps
(parse, classify) run before the write transaction, so SQLite's single write
lock is never held while a message is parsed. Each message's database steps
run in a savepoint of one transaction per batch: a failure rolls back that
message alone and marks its raw row failed with the reason; a hold marks it
held. The raw bytes are never touched, so `bridge reprocess` can run it again.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field

from mail.classify import Classification, classify
from sqlalchemy import Connection, Engine, select, update

from bridge import steps
from bridge.errors import Held
from mail.parse import ParsedMessage, parse_message
from threads.db import writer
from threads.models import RawMessage, RawState, utcnow
from threads.store import DuplicateMessage

log = logging.getLogger(__name__)
RAW = RawMessage.__table__


@dataclass(slots=True)
class Outcome:
    raw_id: int
    state: RawState
    reason: str = ""
    message_pks: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Prepared:
    raw: steps.RawView
    parsed: ParsedMessage | None = None
    classification: Classification | None = None
    error: str = ""


class Pipeline:
    """Runs raw messages to a final state; one instance per process is enough."""

    def __init__(self, engine: Engine, context: steps.Context) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._context = context

    def run(self, raw_ids: Sequence[int]) -> list[Outcome]:
        prepared = [self._prepare(raw) for raw in self._load(raw_ids)]
        steps.save_attachments(self._context, [p.parsed for p in prepared if p.parsed])
        with self._writer.begin() as conn:
            routes = steps.load_routes(conn)
            return [self._file(conn, routes, item) for item in prepared]

    def _load(self, raw_ids: Sequence[int]) -> list[steps.RawView]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(
                    RAW.c.id,
                    RAW.c.data,
                    RAW.c.source,
                    RAW.c.mail_from,
                    RAW.c.rcpt_to,
                    RAW.c.community_hint,
                    RAW.c.sha256,
                ).where(RAW.c.id.in_(raw_ids))
            ).all()
        return sorted((steps.RawView(*row) for row in rows), key=lambda r: r.id)

    def _prepare(self, raw: steps.RawView) -> _Prepared:
        """Parse and classify: pure, outside any transaction."""
        try:
            parsed = parse_message(raw.data)
            return _Prepared(raw, parsed, classify(parsed))
        except Exception as exc:  # a parser bug must not lose the message
            log.exception("parse failed for raw %s", raw.id)
            return _Prepared(raw, error=f"parse failed: {exc!r}")

    def _file(self, conn: Connection, routes: steps.Routes, item: _Prepared) -> Outcome:
        raw = item.raw
        if item.parsed is None or item.classification is None:
            return _finish(conn, Outcome(raw.id, RawState.failed, item.error), None)
        parsed, classification = item.parsed, item.classification
        try:
            with conn.begin_nested():
                outcome = self._steps(conn, routes, raw, parsed, classification)
        except Held as held:
            outcome = Outcome(raw.id, RawState.held, str(held))
        except Exception as exc:
            log.error("pipeline failed for raw %s: %s", raw.id, traceback.format_exc())
            outcome = Outcome(raw.id, RawState.failed, f"{type(exc).__name__}: {exc}")
        return _finish(conn, outcome, parsed)

    def _steps(
        self,
        conn: Connection,
        routes: steps.Routes,
        raw: steps.RawView,
        parsed: ParsedMessage,
        classification: Classification,
    ) -> Outcome:
        communities = steps.route(routes, raw, parsed)
        communities = steps.authorize(self._context, communities, parsed, classification)
        letter = steps.letter_from(raw, parsed, classification)
        filed_pks: list[int] = []
        for community in communities:
            try:
                filed = steps.thread_and_store(conn, community, raw, letter, parsed)
            except DuplicateMessage:
                continue
            steps.index(conn, filed, letter)
            steps.fan_out(conn, self._context, routes, raw, filed, letter)
            filed_pks.append(filed.message_pk)
        steps.remember_sender(conn, self._context, letter)
        if not filed_pks:
            return Outcome(raw.id, RawState.duplicate, "Message-ID already filed")
        return Outcome(raw.id, RawState.done, "", filed_pks)


def _finish(conn: Connection, outcome: Outcome, parsed: ParsedMessage | None) -> Outcome:
    values: dict[str, object] = {
        "state": outcome.state,
        "reason": outcome.reason[:2000],
        "attempts": RAW.c.attempts + 1,
        "processed_at": utcnow(),
    }
    if parsed is not None:
        values.update(message_id=(parsed.message_id or "")[:998], subject=parsed.subject[:500])
    conn.execute(update(RAW).where(RAW.c.id == outcome.raw_id).values(values))
    return outcome
