"""Held mail and the incoming log: what admins and moderators see and decide about raw mail.

A moderator approves, rejects or discards a held message (`decide`, whose
writes are `record_decision`); `reprocess` runs failed, held or all raw mail
again after a fix (its write is `mark_pending`); `held_messages` and
`incoming_log` show what arrived and why it stopped. Shared by the CLI and the
admin pages. Every decision writes an audit entry in its own transaction
(bridge/admin.py `audit`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from bridge import logs
from bridge.admin import audit
from bridge.core import Core
from bridge.errors import UsageError
from bridge.pipeline.rules import ADMIN_ONLY
from bridge.settings import Settings
from mail.headers import clean_text
from threads import search
from threads.db import writer
from threads.models import (
    Attachment,
    HoldKind,
    Message,
    ModerationDecision,
    RawMessage,
    RawState,
    utcnow,
)
from threads.people import try_normalize
from threads.store import refresh_thread


def reprocess(core: Core, which: str) -> Counter[str]:
    """Set the chosen raw messages pending again and run them; filed ones are re-filed.

    Takes the core, not a connection: the pipeline runs them after the commit
    that marks them pending, in transactions of its own.
    """
    with writer(core.engine).begin() as conn:
        ids = mark_pending(conn, which)
    for raw_id in ids:
        logs.message_state(raw_id, "pending")
    counts: Counter[str] = Counter()
    for start in range(0, len(ids), 200):
        counts.update(o.state.value for o in core.pipeline.run(ids[start : start + 200]))
    return counts


def mark_pending(conn: Connection, which: str) -> list[int]:
    """Set the raw messages `which` names (failed, held, all) pending again; their ids.

    With `all`, their filed messages become placeholders again, to be re-filed.
    """
    raw = RawMessage.__table__
    states = {
        "failed": [RawState.failed],
        "held": [RawState.held],
        "all": [
            RawState.failed,
            RawState.held,
            RawState.done,
            RawState.duplicate,
            RawState.pending,
            # Consent: decisions are kept (threads/consent.py rows outlive a re-run),
            # and ignored mail meets the route's threshold of today.
            RawState.candidate,
            RawState.private,
            RawState.ignored,
        ],
    }[which]
    ids = list(conn.execute(select(raw.c.id).where(raw.c.state.in_(states))).scalars())
    if which == "all":
        _unfile(conn, ids)
    if ids:
        conn.execute(update(raw).where(raw.c.id.in_(ids)).values(state=RawState.pending))
    return ids


def _unfile(conn: Connection, raw_ids: list[int]) -> None:
    """Turn the messages of these raws back into placeholders, keeping threads joined."""
    m, a = Message.__table__, Attachment.__table__
    rows = conn.execute(select(m.c.id, m.c.thread_id).where(m.c.raw_id.in_(raw_ids))).all()
    for pk, _ in rows:
        search.unindex_message(conn, pk)
    pks = [pk for pk, _ in rows]
    if pks:
        conn.execute(a.delete().where(a.c.message_pk.in_(pks)))
        conn.execute(
            update(m)
            .where(m.c.id.in_(pks))
            .values(
                placeholder=True,
                raw_id=None,
                visible_text="",
                quoted_text="",
                signature="",
                html=None,
                subject="",
                norm_subject="",
                reply_without_refs=False,
            )
        )
    for tid in {tid for _, tid in rows}:
        refresh_thread(conn, tid)


# --- held mail: approve, reject, discard -----------------------------------------------

DECISIONS = ("approve", "reject", "discard")


@dataclass(frozen=True, slots=True)
class HeldMessage:
    id: int
    received_at: Any
    source: str
    sender: str
    subject: str
    reason: str
    community_ids: tuple[int, ...]  # where it would go; empty when it has no route
    kind: HoldKind | None = None
    auth: str = ""  # the sender-authentication verdict, as `bridge log` shows it


def held_messages(core: Core, *, limit: int = 200) -> list[HeldMessage]:
    """Held raw messages, newest first, each with the communities it routes to."""
    from bridge.pipeline import steps
    from mail.parse import parse_message

    raw = RawMessage.__table__
    with core.engine.connect() as conn:
        rows = conn.execute(
            select(raw).where(raw.c.state == RawState.held).order_by(raw.c.id.desc()).limit(limit)
        ).all()
        routes = steps.load_routes(conn)
    out = []
    for row in rows:
        try:
            parsed = parse_message(row.data)
            sender = parsed.from_.address if parsed.from_ else row.mail_from
            ids = routed_to(routes, row, parsed)
        except Exception:  # no route, or unparseable: admins only
            sender, ids = row.mail_from, ()
        kind = HoldKind(row.hold_kind) if row.hold_kind else None
        out.append(
            HeldMessage(
                row.id,
                row.received_at,
                row.source,
                sender,
                row.subject,
                row.reason,
                ids,
                kind,
                auth_summary(row.auth),
            )
        )
    return out


def routed_to(routes: Any, row: Any, parsed: Any) -> tuple[int, ...]:
    """The communities a held raw message (a `raw_message` row) would be filed in.

    Raises `Held` when it has no route (such mail is for admins only).
    """
    from bridge.pipeline import steps

    view = steps.RawView(
        row.id,
        row.data,
        row.source,
        row.mail_from,
        list(row.rcpt_to or []),
        row.community_hint,
        row.sha256,
        row.source_ref,
    )
    return tuple(ref.id for ref in steps.route(routes, view, parsed))


def decide(
    core: Core,
    raw_id: int,
    decision: str,
    *,
    actor: str,
    actor_is_admin: bool,
    reason: str = "",
) -> str:
    """A moderator's answer to a held message; returns the message's state afterwards.

    approve: run it again with the judgement holds lifted (bridge/pipeline/steps.py
    authorize). reject: mark it rejected and mail the sender the reason.
    discard: mark it discarded, silently. The raw bytes are always kept.
    Confidential holds are released by admins only.

    Takes the core, not a connection: after the decision commits, an approved
    message runs through the pipeline and a rejection's notice is delivered.
    """
    from bridge.outbound.notices import deliver_if_local

    with writer(core.engine).begin() as conn:
        done = record_decision(
            conn,
            core.settings,
            raw_id,
            decision,
            actor=actor,
            actor_is_admin=actor_is_admin,
            reason=reason,
        )
    if decision == "approve":
        outcomes = core.pipeline.run([raw_id])  # which logs the state it reaches
        return str(outcomes[0].state) if outcomes else str(RawState.pending)
    logs.message_state(raw_id, done.state)
    if done.notice is not None:
        deliver_if_local(core.engine, core.settings, done.notice)
    return str(done.state)


@dataclass(frozen=True, slots=True)
class Decided:
    state: RawState  # the raw message's state once the decision commits
    notice: int | None  # the queued rejection notice, to deliver after the commit


def record_decision(
    conn: Connection,
    settings: Settings,
    raw_id: int,
    decision: str,
    *,
    actor: str,
    actor_is_admin: bool,
    reason: str = "",
) -> Decided:
    """Record a decision on a held message in the caller's transaction (see `decide`)."""
    from bridge.outbound.language import language_of
    from bridge.outbound.posts import queue_notice_in

    if decision not in DECISIONS:
        raise UsageError(f"decision '{decision}': choose approve, reject or discard")
    reason = reason.strip()
    if decision == "reject" and not reason:
        raise UsageError("a rejection needs a reason: it is mailed to the sender")
    raw, md = RawMessage.__table__, ModerationDecision.__table__
    notice: int | None = None
    row = conn.execute(
        select(
            raw.c.state,
            raw.c.reason,
            raw.c.hold_kind,
            raw.c.subject,
            raw.c.mail_from,
            raw.c.data,
        ).where(raw.c.id == raw_id)
    ).first()
    if row is None or row.state != RawState.held:
        raise UsageError(f"message {raw_id} is not held")
    if row.hold_kind in ADMIN_ONLY and not actor_is_admin:
        what = {HoldKind.confidential: "confidential mail"}.get(
            row.hold_kind, "mail whose sender is not authenticated"
        )
        raise UsageError(f"{what} is released or rejected by an admin only")
    conn.execute(
        insert(md).values(raw_id=raw_id, decision=decision, actor=actor, reason=reason, at=utcnow())
    )
    state, why = {
        "approve": (RawState.pending, ""),
        "reject": (RawState.rejected, f"rejected by a moderator: {reason}"),
        "discard": (RawState.discarded, "discarded by a moderator"),
    }[decision]
    conn.execute(
        update(raw).where(raw.c.id == raw_id).values(state=state, reason=why, hold_kind=None)
    )
    audit(
        conn,
        actor,
        f"held.{decision}",
        f"raw {raw_id}",
        {"state": str(row.state), "reason": row.reason},
        {"state": str(state), "reason": why or reason},
    )
    if decision == "reject" and (to := _sender_of(row.data, row.mail_from)):
        # Queued in the rejection's own transaction: both happen, or neither.
        language = language_of(conn, to)
        gettext = language.translator.gettext
        values = {"subject": clean_text(row.subject)}
        notice, _ = queue_notice_in(
            conn,
            settings,
            to,
            (gettext("Not published: %(subject)s") % values)[:200],
            gettext("Your message “%(subject)s” was not published.") % values
            + "\n\n"
            + gettext("The moderator’s reason:")
            + f"\n\n  {reason}\n",
            kind="notice",
            language=language,
        )
    return Decided(state, notice)


def _sender_of(data: bytes, mail_from: str) -> str:
    """Where a rejection goes: the From address (the envelope sender if there is none)."""
    from email.parser import BytesHeaderParser
    from email.utils import parseaddr

    header = BytesHeaderParser().parsebytes(data).get("From", "")
    return try_normalize(parseaddr(str(header))[1]) or try_normalize(mail_from) or ""


def incoming_log(
    conn: Connection,
    *,
    state: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
) -> list[Any]:
    """Each raw message's time, source, envelope, subject, state and reason (newest first).

    The admin pages' incoming log and `bridge log` (one row of JSON each) read this.
    """
    raw = RawMessage.__table__
    stmt = (
        select(
            raw.c.id,
            raw.c.received_at,
            raw.c.source,
            raw.c.source_ref,
            raw.c.mail_from,
            raw.c.rcpt_to,
            raw.c.message_id,
            raw.c.subject,
            raw.c.state,
            raw.c.reason,
            raw.c.hold_kind,
            raw.c.auth,
        )
        .order_by(raw.c.id.desc())
        .limit(limit)
    )
    if state:
        stmt = stmt.where(raw.c.state == state)
    if since is not None:
        stmt = stmt.where(raw.c.received_at >= since)
    return list(conn.execute(stmt))


def auth_summary(auth: Any) -> str:
    """'auth: dkim=pass spf=pass dmarc=pass' from a stored verdict ('' when none was made)."""
    if not auth:
        return ""
    note = str(auth.get("note", ""))
    if auth.get("from_domain") is None:
        return f"auth: {note}" if note else ""
    from mail.sender_auth.verdict import Verdict

    text = Verdict.from_json(auth).summary()
    return f"auth: {text}" + (f" ({note})" if note else "")
