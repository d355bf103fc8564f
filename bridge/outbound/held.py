"""Held mail the outbound sender has a job for: bounces, reply commands, misused reply addresses.

The pipeline holds these (bridge/pipeline/replies.py, mail/classify.py) and
writes nothing for them; the sender role reads held messages it has not
looked at yet (`mail_event` keeps which) and acts:
- a delivery report to our bounce address marks the failed address
  (threads/outbound.py: after `bounce_limit` hard bounces, mail to it stops).
  With a VERP address the report is tied to the exact message we sent; a
  report to the plain bounce address is believed only for addresses we
  mailed lately, so a forged report cannot stop anyone's mail;
- a reply command ("mute", "unsubscribe", "withdraw") is carried out and the
  message marked done; "withdraw" only for a message of the token's thread
  that the token's own person wrote (the token already proved the sender);
- when someone used another person's reply address, that person is told,
  at most once per `mismatch_notice_hours`;
- a moderator's "approve" / "reject" answer to a held-mail notice decides
  that message (bridge/outbound/moderation_mail.py).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlmodel import col

from bridge.outbound import moderation_mail
from bridge.outbound.language import language_of
from bridge.outbound.posts import bounce_local, queue_notice_in
from bridge.pipeline import replies
from bridge.settings import Settings
from mail.bounce import Bounce
from mail.classify import classify
from mail.errors import TokenError
from mail.parse import parse_message
from mail.tokens import ReplyClaim, verify_bounce_token
from threads import outbound
from threads.db import insert_ignoring_conflict, writer
from threads.models import HoldKind, MailEvent, Message, Person, RawMessage, RawState, utcnow
from threads.withdraw import remove_unreferenced_files, withdraw_message

log = logging.getLogger(__name__)
RAW = RawMessage.__table__
EVENTS = MailEvent.__table__
# Held mail older than this is not looked at again for bounces and commands.
HELD_HORIZON = timedelta(days=14)
# Holds decided after the message parsed: reading it again is safe. A report held
# for a parse time or size limit is left alone (parsing it here could hang the sender).
_PARSED_HOLDS = frozenset({HoldKind.bounce, HoldKind.no_route, HoldKind.auto_reply})


class HeldReader:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._writer = writer(engine)

    def read(self, limit: int = 200) -> int:
        """Act on up to `limit` held messages not seen before; returns how many were read."""
        since = utcnow() - HELD_HORIZON
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(RAW.c.id, RAW.c.data, RAW.c.rcpt_to, RAW.c.reason, RAW.c.hold_kind)
                .outerjoin(EVENTS, EVENTS.c.raw_id == RAW.c.id)
                .where(RAW.c.state == RawState.held, RAW.c.received_at >= since)
                .where(EVENTS.c.id.is_(None))
                .order_by(RAW.c.id)
                .limit(limit)
            ).all()
        for row in rows:
            try:
                kind, address, detail = self._act_on_held(row)
            except Exception as exc:  # one odd message must not stop the sender
                log.exception("sender: could not act on held message %s", row.id)
                kind, address, detail = "error", "", f"{type(exc).__name__}: {exc}"
            with self._writer.begin() as conn:
                stmt = insert_ignoring_conflict(conn, EVENTS, ["raw_id"])
                conn.execute(
                    stmt.values(
                        raw_id=row.id,
                        kind=kind,
                        address=address[:320],
                        detail=detail[:2000],
                        created_at=utcnow(),
                    )
                )
        return len(rows)

    def _act_on_held(self, row: Any) -> tuple[str, str, str]:
        s = self.settings
        rcpt = [str(a) for a in row.rcpt_to or []]
        verp = [a for a in rcpt if bounce_local(a, s.mail_domain) is not None]
        kind = row.hold_kind
        if kind == HoldKind.bounce or (verp and kind in _PARSED_HOLDS):
            return self._bounce(row.data, verp)
        if kind == HoldKind.command:
            # The command is read from the message again, not from the reason's wording.
            command = replies.reply_command(parse_message(row.data)) or ""
            return self._command(row.id, rcpt, command)
        if kind == HoldKind.misused_reply:
            return self._mismatch(row.data, rcpt)
        if kind == HoldKind.moderation:
            return moderation_mail.carry_out(self.engine, s, row.id, row.data, rcpt)
        return "none", "", ""

    def _bounce(self, data: bytes, verp: list[str]) -> tuple[str, str, str]:
        parsed = parse_message(data)
        verdict = classify(parsed)
        report: Bounce | None = verdict.bounce_report
        failed = {r.address.lower(): r for r in (report.failed if report else ())}
        known: dict[str, tuple[bool, str]] = {}
        with self.engine.connect() as conn:
            for address in verp:
                token = bounce_local(address, self.settings.mail_domain)
                try:
                    mail_id = verify_bounce_token(self.settings.secret_key, token or "")
                except TokenError:
                    continue
                recipient = conn.execute(
                    select(outbound.OUT.c.recipient).where(outbound.OUT.c.id == mail_id)
                ).scalar()
                if recipient:
                    # The VERP address says who; the report only says how badly.
                    entry = failed.get(recipient)
                    permanent = verdict.bounce and (entry is None or entry.permanent)
                    status = entry.status if entry and entry.status else ""
                    known[recipient] = (permanent, status)
            tokens = [bounce_local(a, self.settings.mail_domain) for a in verp]
            if not known and not any(tokens):
                # A report to the plain bounce address: believed only for addresses
                # we really mailed lately, so a forged DSN cannot stop anyone's mail.
                since = utcnow() - timedelta(days=7)
                for address, entry in failed.items():
                    if outbound.recent_to(conn, address, "post", since) or outbound.recent_to(
                        conn, address, "digest", since
                    ):
                        known[address] = (entry.permanent, entry.status or "")
        if not known:
            return "bounce", "", "delivery report naming no address we mailed"
        stopped = []
        with self._writer.begin() as conn:
            for address, (permanent, status) in known.items():
                reason = "hard bounce" if permanent else "temporary failure"
                reason += f" {status}" if status else ""
                if outbound.record_bounce(
                    conn,
                    address,
                    permanent=permanent,
                    reason=reason,
                    limit=self.settings.bounce_limit,
                ):
                    stopped.append(address)
        detail = "; ".join(
            f"{a}: {'hard' if p else 'soft'} {st}".strip() for a, (p, st) in known.items()
        )
        if stopped:
            detail += " — mail stopped to " + ", ".join(stopped)
        return "bounce", next(iter(known)), detail

    def _command(self, raw_id: int, rcpt: list[str], command: str) -> tuple[str, str, str]:
        claim = replies.find_reply_claim(rcpt)
        if claim is None:
            return "command", "", "no reply token to act on"
        if command == "withdraw":
            return self._withdraw(raw_id, claim)
        with self._writer.begin() as conn:
            address = conn.execute(
                select(col(Person.email)).where(col(Person.id) == claim.person_id)
            ).scalar()
            if not address:
                return "command", "", "the token's person is unknown"
            if command == "mute":
                outbound.set_thread_choice(conn, claim.thread_id, address, "muted")
                done = f"thread {claim.thread_id} muted for {address}"
            elif command != "unsubscribe":
                return "command", address, "no command in the message"
            else:
                outbound.set_preference(conn, claim.community_id, address, "web")
                done = f"no more mail from community {claim.community_id} to {address}"
            conn.execute(
                update(RAW)
                .where(RAW.c.id == raw_id, RAW.c.state == RawState.held)
                .values(state=RawState.done, reason=f"reply command carried out: {done}")
            )
        return "command", address, done

    def _withdraw(self, raw_id: int, claim: ReplyClaim) -> tuple[str, str, str]:
        """Withdraw the sender's own message their "withdraw" answers (its In-Reply-To)."""
        with self.engine.connect() as conn:
            data = conn.execute(select(RAW.c.data).where(RAW.c.id == raw_id)).scalar()
        answered = parse_message(bytes(data or b"")).in_reply_to
        done = None
        with self._writer.begin() as conn:
            address = conn.execute(
                select(col(Person.email)).where(col(Person.id) == claim.person_id)
            ).scalar()
            if not address:
                return "command", "", "the token's person is unknown"
            target = own_message_in_thread(conn, claim.thread_id, answered, address)
            if target is None:
                return "command", address, "withdraw: In-Reply-To names none of their messages"
            done = withdraw_message(conn, target, f"mail:{address}")
            conn.execute(
                update(RAW)
                .where(RAW.c.id == raw_id, RAW.c.state == RawState.held)
                .values(
                    state=RawState.done,
                    reason=f"reply command carried out: message {target} withdrawn",
                )
            )
        if done is not None and done.file_digests:
            with self.engine.connect() as conn:
                remove_unreferenced_files(conn, done.file_digests, self.settings.attachments_dir)
        return "command", address, f"message {target} withdrawn by its author"

    def _mismatch(self, data: bytes, rcpt: list[str]) -> tuple[str, str, str]:
        claim = replies.find_reply_claim(rcpt)
        if claim is None:
            return "mismatch", "", "no reply token"
        parsed = parse_message(data)
        forged_from = parsed.from_.address if parsed.from_ else "(no From)"
        since = utcnow() - timedelta(hours=self.settings.mismatch_notice_hours)
        with self._writer.begin() as conn:
            owner = conn.execute(
                select(col(Person.email)).where(col(Person.id) == claim.person_id)
            ).scalar()
            if not owner:
                return "mismatch", "", f"from {forged_from}; the token's owner is unknown"
            if outbound.recent_to(conn, owner, "warning", since):
                return "mismatch", owner, f"from {forged_from}; owner already told recently"
            language = language_of(conn, owner)
            gettext = language.translator.gettext
            values = {"sender": forged_from, "subject": parsed.subject or gettext("(none)")}
            text = (
                gettext(
                    "A message was sent to the bridge with the personal reply address we gave "
                    "you, but it came from %(sender)s, not from you."
                )
                % values
                + "\n\n"
                + gettext("Subject: %(subject)s") % values
                + "\n\n"
                + gettext(
                    "It was held and not published. If you forwarded one of our messages, "
                    "that explains it and nothing needs doing. If not, someone may be trying "
                    "to post in your name; an administrator can see the held message."
                )
            )
            queue_notice_in(
                conn,
                self.settings,
                owner,
                gettext("A reply in your name was held"),
                text,
                kind="warning",
                language=language,
            )
        return "mismatch", owner, f"from {forged_from}; owner told"


def own_message_in_thread(
    conn: Connection, thread_id: int, message_ids: list[str], author: str
) -> int | None:
    """The real message among `message_ids` in this thread that `author` wrote, or None."""
    if not message_ids:
        return None
    m = Message.__table__
    pk = conn.execute(
        select(m.c.id)
        .where(m.c.thread_id == thread_id, m.c.message_id.in_(message_ids))
        .where(m.c.placeholder.is_(False), m.c.from_addr == author)
        .limit(1)
    ).scalar()
    return int(pk) if pk is not None else None
