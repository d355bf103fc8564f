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
from dataclasses import dataclass, field, replace

from sqlalchemy import Connection, Engine, bindparam, func, select, update

from bridge import logs
from bridge.config import PipelineConfig
from bridge.errors import Held, Isolate
from bridge.outbound import opened
from bridge.pipeline import consent_gate, echoes, nudges, rules, steps
from bridge.pipeline.derived import Derived
from bridge.pipeline.parsepool import Batch, Failed, ParsePool, Prepared, Result, TimedOut
from bridge.pipeline.sender_trust import CHECKED_SOURCES, SenderChecker, Trust
from mail.classify import Classification
from mail.parse import ParsedMessage
from threads import queue, search, signatures
from threads.db import serialize_on, writer
from threads.errors import DuplicateMessage
from threads.models import HoldKind, RawMessage, RawState, RoutePolicy, SenderCheck, utcnow
from threads.store import Letter, conversation_keys

log = logging.getLogger(__name__)
RAW = RawMessage.__table__


@dataclass(slots=True)
class Outcome:
    raw_id: int
    state: RawState
    reason: str = ""
    message_pks: list[int] = field(default_factory=list)
    index_entries: list[search.IndexEntry] = field(default_factory=list)
    # Opened candidates whose held mail this message was (bridge/outbound/opened.py).
    released: set[int] = field(default_factory=set)
    hold_kind: HoldKind | None = None
    # The sender address whose learnt signature this message made new or changed.
    relearned: str | None = None


@dataclass(slots=True)
class _Prepared:
    raw: steps.RawView
    parsed: ParsedMessage | None = None
    classification: Classification | None = None
    error: str = ""
    # Held rather than failed: the message is sound but over a limit (time, size, depth).
    held: HoldKind | None = None
    trust: Trust = field(default_factory=Trust)
    derived: Derived | None = None


class Pipeline:
    """Runs raw messages to a final state; one instance per process is enough."""

    def __init__(
        self, engine: Engine, config: PipelineConfig, senders: SenderChecker, parser: ParsePool
    ) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._config = config
        self._senders = senders
        self._parser = parser
        # Senders already written as people by this process (steps.remember_sender).
        self._known_senders: set[str] = set()

    def close(self) -> None:
        self._parser.close()

    def run(self, raw_ids: Sequence[int], *, worker: str | None = None) -> list[Outcome]:
        """Run these raw messages; a worker passes its name and only runs what it still holds.

        Messages no longer pending (another process finished them) are skipped
        and have no outcome in the result.
        """
        return self.finish(self.submit(raw_ids), worker=worker)

    def submit(self, raw_ids: Sequence[int]) -> Submitted:
        """Hand these messages to the parse children and return at once; `finish` files them.

        Bulk import submits batch n+1 before finishing batch n, so the
        children parse while this process writes to the database.
        """
        raws = self._load(raw_ids)
        return Submitted(raws, self._parser.start([r.data for r in raws]))

    def finish(self, submitted: Submitted, *, worker: str | None = None) -> list[Outcome]:
        """Wait for what `submit` handed out, then file it."""
        results = self._parser.collect(submitted.batch)
        outcomes = self._file_prepared(self._prepare(submitted.raws, results), worker)
        for o in outcomes:  # committed: each message's new state, one event each
            logs.message_state(o.raw_id, o.state, hold_kind=o.hold_kind)
        return outcomes

    def _file_prepared(self, prepared: list[_Prepared], worker: str | None) -> list[Outcome]:
        steps.save_attachments(
            self._config, [p.parsed for p in prepared if p.parsed and not p.held]
        )
        try:
            return self._run_batch(prepared, worker, isolate=False)
        except Isolate:
            # A write failed part-way: redo the batch with a savepoint per message,
            # so the failure stays with its message. Savepoints cost ~10% on bulk
            # import, hence only on this path.
            self._known_senders.clear()
            return self._run_batch(prepared, worker, isolate=True)

    def _run_batch(
        self, prepared: list[_Prepared], worker: str | None, *, isolate: bool
    ) -> list[Outcome]:
        with self._writer.begin() as conn:
            live = queue.lock_pending(conn, [p.raw.id for p in prepared], worker)
            prepared = [p for p in prepared if p.raw.id in live]
            routes = steps.load_routes(conn)
            decided = [
                self._answer(conn, item, isolate) or self._decide(routes, item) for item in prepared
            ]
            serialize_on(
                conn,
                (
                    key
                    for d in decided
                    if isinstance(d, _Decision)
                    for c in d.communities
                    for key in conversation_keys(c.id, d.letter)
                ),
            )
            learner = signatures.Learner.load(
                conn, (d.letter for d in decided if isinstance(d, _Decision))
            )
            outcomes = [
                d if isinstance(d, Outcome) else self._file(conn, routes, item, d, learner, isolate)
                for item, d in zip(prepared, decided, strict=True)
            ]
            learner.write(conn)
            search.index_messages(conn, [e for o in outcomes for e in o.index_entries])
            # A new or changed learnt signature trims the sender's latest mail too, after
            # the index entries above (some of that mail may be in this batch).
            signatures.refresh(
                conn,
                (o.relearned for o in outcomes if o.relearned),
                skip={pk for o in outcomes if o.relearned for pk in o.message_pks},
            )
            if outcomes:
                conn.execute(
                    _FINISH, [_finish(o, p) for o, p in zip(outcomes, prepared, strict=True)]
                )
            # After _FINISH: the announcement waits until none of a candidate's mail is pending.
            opened.announce(conn, self._config, {c for o in outcomes for c in o.released})
        return outcomes

    def _answer(self, conn: Connection, item: _Prepared, isolate: bool) -> Outcome | None:
        """An answer to a consent nudge ("open" / "keep private") is acted on, not filed.

        Before routing: the answer goes to the bridge's own address, which no
        community route maps. Its writes are part of the batch's transaction.
        """
        if item.held or item.parsed is None:
            return None
        try:
            if isolate:
                with conn.begin_nested():
                    said = nudges.consent_reply(
                        conn, self._config.consent, item.raw, item.parsed, item.trust
                    )
            else:
                said = nudges.consent_reply(
                    conn, self._config.consent, item.raw, item.parsed, item.trust
                )
        except Exception as exc:
            if not isolate:
                raise Isolate from exc
            return _failed(item.raw.id, exc)
        return None if said is None else Outcome(item.raw.id, RawState.done, said)

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
                    RAW.c.source_ref,
                    RAW.c.received_at,
                ).where(RAW.c.id.in_(raw_ids))
            ).all()
        return sorted((steps.RawView(*row) for row in rows), key=lambda r: r.id)

    def _prepare(self, raws: list[steps.RawView], results: list[Result]) -> list[_Prepared]:
        """What parsing and classifying (pure, outside any transaction) gave each message."""
        prepared: list[_Prepared] = []
        for raw, result in zip(raws, results, strict=True):
            if isinstance(result, Prepared):
                prepared.append(
                    _Prepared(raw, result.parsed, result.classification, derived=result.derived)
                )
                if result.parsed.limit:
                    prepared[-1].error, prepared[-1].held = result.parsed.limit, HoldKind.too_large
                else:
                    prepared[-1].trust = self._senders.check(
                        raw.data,
                        result.parsed,
                        source=raw.source,
                        source_ref=raw.source_ref,
                        mail_from=raw.mail_from,
                    )
            elif isinstance(result, TimedOut):
                reason = (
                    f"parse time limit: parsing took longer than {result.seconds:g} s "
                    "and was stopped (BRIDGE_PARSE_TIMEOUT)"
                )
                prepared.append(_Prepared(raw, error=reason, held=HoldKind.parse_timeout))
            else:
                assert isinstance(result, Failed)
                log.error("parse failed for raw %s: %s", raw.id, result.reason)
                prepared.append(_Prepared(raw, error=result.reason))
        return prepared

    def _decide(self, routes: steps.Routes, item: _Prepared) -> Outcome | _Decision:
        """Route and authorize: reads settings and routes only, writes nothing."""
        raw, parsed, classification = item.raw, item.parsed, item.classification
        if item.held:
            return Outcome(raw.id, RawState.held, item.error, hold_kind=item.held)
        if parsed is None or classification is None:
            return Outcome(raw.id, RawState.failed, item.error)
        communities: list[steps.CommunityRef] = []
        try:
            communities = steps.route(routes, raw, parsed)
            facts = rules.Facts(
                self._config, communities, parsed, classification, item.trust, raw.source
            )
            communities = rules.authorize(facts)
            letter = steps.letter_from(raw, parsed, classification)
            return _Decision(communities, replace(letter, sender_check=_sender_check(facts)))
        except Held as held:
            if held.kind == HoldKind.loop and self._echo(communities, parsed.message_id):
                return Outcome(raw.id, RawState.duplicate, echoes.REASON)
            return Outcome(raw.id, RawState.held, str(held), hold_kind=held.kind)
        except Exception as exc:
            return _failed(raw.id, exc)

    def _echo(self, communities: list[steps.CommunityRef], message_id: str | None) -> bool:
        # Only mail that carries our loop header gets here: a read, rarely.
        with self._engine.connect() as conn:
            return echoes.already_filed(conn, [c.id for c in communities], message_id)

    def _file(
        self,
        conn: Connection,
        routes: steps.Routes,
        item: _Prepared,
        decision: _Decision,
        learner: signatures.Learner,
        isolate: bool,
    ) -> Outcome:
        if not isolate:
            try:
                return self._write(conn, routes, item, decision, learner)
            except Exception as exc:
                raise Isolate from exc
        try:
            with conn.begin_nested():
                return self._write(conn, routes, item, decision, learner)
        except Held as held:
            return Outcome(item.raw.id, RawState.held, str(held), hold_kind=held.kind)
        except Exception as exc:
            return _failed(item.raw.id, exc)

    def _write(
        self,
        conn: Connection,
        routes: steps.Routes,
        item: _Prepared,
        decision: _Decision,
        learner: signatures.Learner,
    ) -> Outcome:
        """Thread, store, index and fan out in each community the message belongs to.

        Consent-routed communities go through the consent gate first; a message
        also routed to an open community is published there, and a new
        conversation is left out of the consent-routed ones (cc'ing an open
        community address is consent to publish).
        """
        raw, parsed, derived = item.raw, item.parsed, item.derived
        communities = decision.communities
        assert parsed is not None  # a decision is only made for parsed mail
        tail = derived.tail_for(decision.letter) if derived is not None else None
        learning = learner.trim(decision.letter, source=raw.source, tail=tail)
        letter = learning.letter
        filed_pks: list[int] = []
        entries: list[search.IndexEntry] = []
        released: set[int] = set()
        kept: list[consent_gate.Gate] = []
        any_open = any(c.policy == RoutePolicy.open for c in communities)
        for community in communities:
            gate = consent_gate.Gate(True)
            if community.policy == RoutePolicy.consent:
                gate = consent_gate.consent_gate(
                    conn, self._config, routes, community, raw, letter, may_start=not any_open
                )
                if gate.new_candidate is not None and community.live:
                    nudges.queue_nudge(conn, self._config.consent, gate.new_candidate)
            if not gate.publish:
                kept.append(gate)
                continue
            try:
                filed = steps.thread_and_store(conn, community, raw, letter, parsed, self._config)
            except DuplicateMessage:
                continue
            entries.append(steps.index(filed, letter, derived))
            if gate.released is None:
                steps.fan_out(conn, self._config, routes, raw, filed, letter)
            else:
                # Participants had the released mail by cc: no copies; they are told once.
                opened.mark_filed(conn, gate.released, filed.thread_id)
                released.add(gate.released)
            filed_pks.append(filed.message_pk)
        steps.remember_sender(conn, self._known_senders, letter)
        if filed_pks:
            relearned = learner.remember(learning, filed_pks)
            return Outcome(
                raw.id, RawState.done, "", filed_pks, entries, released, relearned=relearned
            )
        return _kept_outcome(raw.id, kept)


@dataclass(frozen=True, slots=True)
class Submitted:
    """Messages whose parsing `Pipeline.submit` started."""

    raws: list[steps.RawView]
    batch: Batch


@dataclass(frozen=True, slots=True)
class _Decision:
    communities: list[steps.CommunityRef]
    letter: Letter


def _kept_outcome(raw_id: int, kept: list[consent_gate.Gate]) -> Outcome:
    """Nothing was filed: the consent gate's verdict, else a duplicate.

    With several consent-routed communities the most telling verdict wins: a
    candidate (someone may still open it) over private, ignored or duplicate.
    """
    order = [RawState.candidate, RawState.private, RawState.ignored, RawState.duplicate]
    verdicts = [g for g in kept if g.state is not None]
    if verdicts:
        best = min(verdicts, key=lambda g: order.index(g.state) if g.state in order else 99)
        assert best.state is not None
        return Outcome(raw_id, best.state, best.reason)
    if kept:  # left out of consent-routed communities, and a duplicate elsewhere (or nowhere)
        return Outcome(raw_id, RawState.duplicate, "; ".join(g.reason for g in kept))
    return Outcome(raw_id, RawState.duplicate, "Message-ID already filed")


def _sender_check(facts: rules.Facts) -> SenderCheck:
    """What the filed message records of its sender (threads/copies.py reads it)."""
    if facts.source == "web" or facts.trust.proven:
        return SenderCheck.verified
    if facts.approved:
        return SenderCheck.approved
    if facts.source not in CHECKED_SOURCES:
        return SenderCheck.unchecked  # imported history: recorded, never judged
    if any(c.reply_token for c in facts.communities):
        # rules.authorize verified the token: it was mailed to this very From address.
        return SenderCheck.verified
    return SenderCheck.unverified if facts.trust.checked else SenderCheck.unchecked


def _failed(raw_id: int, exc: Exception) -> Outcome:
    log.error("pipeline failed for raw %s: %s", raw_id, traceback.format_exc())
    return Outcome(raw_id, RawState.failed, f"{type(exc).__name__}: {exc}")


_FINISH = (
    update(RAW)
    .where(RAW.c.id == bindparam("raw_id"))
    .values(
        state=bindparam("state"),
        reason=bindparam("reason"),
        hold_kind=bindparam("hold_kind"),
        auth=func.coalesce(bindparam("auth", type_=RAW.c.auth.type), RAW.c.auth),
        attempts=RAW.c.attempts + 1,
        processed_at=bindparam("at"),
        message_id=func.coalesce(bindparam("mid"), RAW.c.message_id),
        subject=func.coalesce(bindparam("subject"), RAW.c.subject),
    )
)


def _finish(outcome: Outcome, prepared: _Prepared) -> dict[str, object]:
    """Parameters of `_FINISH` for one message."""
    parsed = prepared.parsed
    return {
        "raw_id": outcome.raw_id,
        "state": outcome.state,
        "reason": outcome.reason[:2000],
        "hold_kind": outcome.hold_kind if outcome.state == RawState.held else None,
        "auth": prepared.trust.to_json(),
        "at": utcnow(),
        "mid": (parsed.message_id or "")[:998] if parsed else None,
        "subject": parsed.subject[:500] if parsed else None,
    }
