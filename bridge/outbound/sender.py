"""The outbound sender (`bridge serve --role sender`): from owed copies to delivered mail.

Each round, in this order:
1. Notifications (rows the pipeline's fan-out step wrote) become composed
   mail in the outbound queue, one per recipient, with that recipient's reply
   token and unsubscribe links; unless the address is disabled by bounces,
   muted the thread since, or chose web only or a daily digest.
2. Daily digests are composed for those who chose them.
3. Consent nudges the daily cap held back are sent once it allows
   (bridge/pipeline/nudges.py `nudge_waiting`).
4. Held mail the sender has a job for is read: delivery reports to our bounce
   address mark the failed address, reply commands ("mute") are carried out,
   and the owner of a misused reply address is told (at most once per
   `mismatch_notice_hours`).
5. Due mail is signed (DKIM, when a selector is set: bridge/dkim_keys.py) and
   delivered (bridge/outbound/delivery.py): to the relay, or
   into the Maildir outbox when none is configured. A temporary failure is
   retried with doubling waits; a permanent one, or one past
   `outbound_give_up_hours`, is given up with the reason recorded.

Composition happens outside write transactions; the write that follows
re-checks each notification is still queued, so two senders never both mail
one copy. Delivery is claimed with leases, renewed while a batch is out, like
pipeline work.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from bridge import copy_audience
from bridge.config import TransportConfig
from bridge.core import Core
from bridge.dkim_keys import signer_for
from bridge.errors import Deferred, Refused
from bridge.heartbeat import renewing
from bridge.outbound.delivery import (
    MaildirTransport,
    Outgoing,
    RelayConfig,
    RelayTransport,
    Result,
    Transport,
)
from bridge.outbound.held import HeldReader
from bridge.outbound.language import recipient_languages
from bridge.outbound.moderation_mail import Seen, notify_moderators
from bridge.outbound.posts import (
    PostRow,
    addressing,
    as_bytes,
    ensure_people,
    load_posts,
    queue_notice_in,
)
from bridge.pipeline import nudges, replies
from bridge.settings import Settings
from bridge.worker import worker_name
from mail.compose import (
    ENGLISH,
    Addressing,
    Digest,
    DigestItem,
    Language,
    compose_digest,
    compose_post,
)
from mail.errors import UnsignableMessage
from mail.tokens import (
    bounce_token,
    reply_token,
)
from threads import leases, outbound
from threads.db import writer
from threads.models import (
    Message,
    Notification,
    Person,
    as_utc,
    utcnow,
)

log = logging.getLogger(__name__)
N = Notification.__table__
M = Message.__table__


def transport_for(config: TransportConfig) -> Transport:
    if not config.smtp_relay:
        return MaildirTransport(config.outbox_dir)
    return RelayTransport(
        RelayConfig.parse(
            config.smtp_relay,
            tls=config.smtp_relay_tls,
            user=config.smtp_relay_user,
            password=config.smtp_relay_password,
            timeout=config.smtp_relay_timeout,
            ca_file=config.smtp_relay_ca_file,
            local_hostname=config.mail_domain,
        )
    )


@dataclass(slots=True)
class RoundReport:
    composed: int = 0
    skipped: int = 0
    digests: int = 0
    events: int = 0
    nudges: int = 0
    moderation: int = 0  # held-mail notices to moderators (bridge/outbound/moderation_mail.py)
    sent: int = 0
    deferred: int = 0
    failed: int = 0


class Sender:
    """One process's outbound sender; `run_once` is a full round (tests call it directly)."""

    def __init__(
        self, engine: Engine, settings: Settings, transport: Transport | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.transport = transport or transport_for(settings.transport)
        # Signed when handed over, not when queued: a queued copy gets the key in
        # use at delivery (a rotated selector applies at once), and the bytes kept
        # in the queue are the ones composed. Raises ConfigError without a usable key.
        self.signer = signer_for(settings)
        self.name = worker_name()
        self._writer = writer(engine)
        self._held_seen: Seen = {}  # held mail already parsed for moderation notices

    def run_once(self) -> RoundReport:
        report = RoundReport()
        report.composed, report.skipped = self.compose_notifications()
        report.digests = self.compose_digests()
        report.nudges = nudges.nudge_waiting(self.engine, self.settings.consent)
        report.events = HeldReader(self.engine, self.settings).read()
        report.moderation = notify_moderators(self.engine, self.settings, self._held_seen)
        report.sent, report.deferred, report.failed = self.deliver_due()
        return report

    # --- 1. notifications -> composed mail ------------------------------------

    def compose_notifications(self, limit: int = 200) -> tuple[int, int]:
        with self.engine.connect() as conn:
            owed = conn.execute(
                select(N.c.id, N.c.message_pk, N.c.recipient)
                .where(N.c.state == "queued")
                .order_by(N.c.id)
                .limit(limit)
            ).all()
        if not owed:
            return 0, 0
        recipients = sorted({row.recipient.lower() for row in owed})
        with self._writer.begin() as conn:
            people = ensure_people(conn, recipients)
        with self.engine.connect() as conn:
            posts = load_posts(conn, {row.message_pk for row in owed}, self.settings)
            disabled = outbound.disabled_addresses(conn, recipients) | _disabled_people(
                conn, recipients
            )
            languages = recipient_languages(conn, recipients)  # the words we add, per reader
            modes = outbound.preferences(
                conn,
                [(posts[r.message_pk].community_id, r.recipient.lower()) for r in owed],
            )
            muted = {
                thread_id: replies.thread_choices(conn, thread_id)[0]
                for thread_id in {p.thread_id for p in posts.values()}
            }
            lists = {
                thread_id: copy_audience.list_addresses(conn, thread_id)
                for thread_id in {p.thread_id for p in posts.values()}
            }
        decisions: list[tuple[int, str, dict[str, Any] | None]] = []
        for row in owed:
            post = posts[row.message_pk]
            address = row.recipient.lower()
            mode = modes.get((post.community_id, address), "each")
            if address in disabled:
                decisions.append((row.id, "disabled", None))
            elif address in muted[post.thread_id]:
                decisions.append((row.id, "muted", None))
            elif mode in ("web", "digest"):
                decisions.append((row.id, "web-only" if mode == "web" else "digest", None))
            else:
                try:
                    mail = self._post_mail(
                        post,
                        address,
                        people,
                        languages[address],
                        to_list=address in lists[post.thread_id],
                    )
                except Exception:  # one copy that cannot be built must not block the rest
                    log.exception("could not compose notification %s", row.id)
                    decisions.append((row.id, "failed", None))
                else:
                    decisions.append((row.id, "mailed", mail))
        composed = skipped = 0
        with self._writer.begin() as conn:
            for notification_id, state, built in decisions:
                taken = conn.execute(
                    update(N)
                    .where(N.c.id == notification_id, N.c.state == "queued")
                    .values(state=state)
                ).rowcount
                if not taken:
                    continue  # another sender got here first
                if built is None:
                    skipped += 1
                    continue
                outbound.enqueue(conn, [{**built, "notification_id": notification_id}])
                composed += 1
        return composed, skipped

    def _post_mail(
        self,
        post: PostRow,
        address: str,
        people: dict[str, int],
        language: Language,
        *,
        to_list: bool = False,
    ) -> dict[str, Any]:
        s = self.settings
        if to_list:
            # A mailing list's members answer on the list (which brings the answer back
            # to us by its List-Id); reply tokens and unsubscribe links are one person's.
            to = Addressing(recipient=address, reply_to=address, to_list=True)
        else:
            token = reply_token(
                s.secret_key,
                community_id=post.community_id,
                thread_id=post.thread_id,
                person_id=people.get(address, 0),
                address=address,
                expires=date.today() + timedelta(days=s.reply_token_days),
            )
            reply_to = f"{replies.REPLY_PREFIX}+{token}@{s.mail_domain}"
            to = addressing(s, address, reply_to, post.community_id, post.thread_id)
        msg = compose_post(post.post, post.list, to, language)
        return {
            "kind": "post",
            "recipient": address,
            "message_id": post.post.message_id,
            "subject": post.post.subject[:500],
            "data": as_bytes(msg),
            "community_id": post.community_id,
            "thread_id": post.thread_id,
        }

    # --- 2. digests ------------------------------------------------------------

    def compose_digests(self) -> int:
        now = utcnow()
        with self.engine.connect() as conn:
            due = outbound.digests_due(conn, now - timedelta(days=1))
            if not due:
                return 0
            languages = recipient_languages(conn, [pref.address for pref in due])
            batches = []
            for pref in due:
                rows = conn.execute(
                    select(N.c.id, N.c.message_pk)
                    .join(M, M.c.id == N.c.message_pk)
                    .where(
                        N.c.state == "digest",
                        N.c.recipient == pref.address,
                        M.c.community_id == pref.community_id,
                    )
                    .order_by(N.c.id)
                ).all()
                if rows:
                    posts = load_posts(conn, {r.message_pk for r in rows}, self.settings)
                    batches.append(
                        (pref, [r.id for r in rows], [posts[r.message_pk] for r in rows])
                    )
        made = 0
        for pref, notification_ids, entries in batches:
            items = [
                DigestItem(p.post.subject, p.post.author_name, p.post.text, p.post.date, p.url)
                for p in entries
            ]
            lst = entries[0].list
            to = addressing(self.settings, pref.address, lst.address, pref.community_id, None)
            message_id = f"digest.{pref.id}.{int(now.timestamp())}@{self.settings.mail_domain}"
            digest = Digest(lst, items, message_id, now)
            msg = compose_digest(digest, to, languages[pref.address.lower()])
            with self._writer.begin() as conn:
                taken = conn.execute(
                    update(N)
                    .where(N.c.id.in_(notification_ids), N.c.state == "digest")
                    .values(state="digested")
                ).rowcount
                if not taken:
                    continue
                outbound.enqueue(
                    conn,
                    [
                        {
                            "kind": "digest",
                            "recipient": pref.address,
                            "message_id": message_id,
                            "subject": str(msg["Subject"]),
                            "data": as_bytes(msg),
                            "community_id": pref.community_id,
                        }
                    ],
                )
                conn.execute(
                    update(outbound.PREFS)
                    .where(outbound.PREFS.c.id == pref.id)
                    .values(last_digest_at=now)
                )
                made += 1
        return made

    # --- 4. delivery ------------------------------------------------------------

    def deliver_due(self, limit: int = 20, only: list[int] | None = None) -> tuple[int, int, int]:
        """Deliver what is due (or just `only`, if due); returns (sent, deferred, failed).

        The lease is renewed while the batch is with the transport, however long a
        slow relay takes over it; a sender that dies leaves the batch to another
        once the lease lapses (at once on its own host, bridge/heartbeat.py), and
        the queue row is marked only by its holder.
        """
        s = self.settings
        lease = timedelta(seconds=s.claim_seconds)
        sent = deferred = failed = 0
        while True:
            with self._writer.begin() as conn:
                ids = outbound.claim_due(conn, self.name, limit=limit, lease=lease, only=only)
                rows = outbound.load(conn, ids) if ids else []
                blocked = outbound.disabled_addresses(conn, [r.recipient for r in rows])
            if not rows:
                return sent, deferred, failed
            batch, refused = self._outgoing(rows, blocked)
            with renewing(self.engine, leases.OUTBOUND_CLAIMS, self.name, lease):
                results = self.transport.send(batch) if batch else {}
            results.update(refused)
            now = utcnow()
            with self._writer.begin() as conn:
                for r in rows:
                    attempts = r.attempts + 1
                    if r.recipient in blocked:
                        outbound.mark_failed(
                            conn,
                            r.id,
                            self.name,
                            r.attempts,
                            "address disabled after repeated bounces",
                            cancel=True,
                        )
                        failed += 1
                        continue
                    result = results.get(r.id, Deferred("not attempted"))
                    if result is None:
                        outbound.mark_sent(conn, r.id, self.name, attempts)
                        sent += 1
                    elif isinstance(result, Refused):
                        outbound.mark_failed(conn, r.id, self.name, attempts, str(result))
                        if result.recipient:
                            outbound.record_bounce(
                                conn,
                                r.recipient,
                                permanent=True,
                                reason=str(result),
                                limit=s.bounce_limit,
                            )
                        failed += 1
                    else:
                        wait = min(
                            s.outbound_retry_seconds * 2 ** (attempts - 1),
                            s.outbound_retry_max_seconds,
                        )
                        created = as_utc(r.created_at) or now
                        if now + timedelta(seconds=wait) - created > timedelta(
                            hours=s.outbound_give_up_hours
                        ):
                            reason = (
                                f"gave up after {attempts} attempts over "
                                f"{(now - created).total_seconds() / 3600:.1f} h: {result}"
                            )
                            outbound.mark_failed(conn, r.id, self.name, attempts, reason)
                            failed += 1
                        else:
                            outbound.mark_deferred(
                                conn,
                                r.id,
                                self.name,
                                attempts,
                                str(result),
                                now + timedelta(seconds=wait),
                            )
                            deferred += 1

    def _outgoing(
        self, rows: list[Any], blocked: set[str]
    ) -> tuple[list[Outgoing], dict[int, Result]]:
        """The batch to hand over, signed when signing is on. A message that cannot be
        signed is refused with the reason, never sent unsigned."""
        s = self.settings
        batch: list[Outgoing] = []
        refused: dict[int, Result] = {}
        for r in rows:
            if r.recipient in blocked:
                continue
            data = bytes(r.data)
            if self.signer is not None:
                try:
                    data = self.signer.sign(data)
                except UnsignableMessage as exc:
                    refused[r.id] = Refused(f"cannot be DKIM-signed: {exc}")
                    continue
            verp = f"{replies.BOUNCE_PREFIX}+{bounce_token(s.secret_key, r.id)}@{s.mail_domain}"
            batch.append(Outgoing(r.id, verp, r.recipient, data))
        return batch, refused


class SenderThread(threading.Thread):
    """Runs sender rounds every `sender_poll_seconds`, or sooner when woken.

    A round that found work is followed by the next at once, so a backlog of
    notifications is worked off at full speed rather than a batch per poll.
    """

    def __init__(self, core: Core) -> None:
        super().__init__(name="outbound-sender", daemon=True)
        self._sender = Sender(core.engine, core.settings)
        self._idle = core.settings.sender_poll_seconds
        self._wake = threading.Event()
        self._halt = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()

    def run(self) -> None:
        while not self._halt.is_set():
            self._wake.clear()
            try:
                report = self._sender.run_once()
            except Exception:  # the sender must outlive any one bad round
                log.exception("outbound sender error; retrying shortly")
            else:
                if report.composed or report.skipped or report.digests or report.events:
                    continue
                if report.nudges:
                    continue
            self._wake.wait(self._idle)


def queue_notice(
    engine: Engine,
    settings: Settings,
    to: str,
    subject: str,
    text: str,
    language: Language = ENGLISH,
) -> tuple[int, str]:
    """Queue a system notice written in `language`; returns (outbound id, Message-ID)."""
    with writer(engine).begin() as conn:
        return queue_notice_in(conn, settings, to, subject, text, kind="notice", language=language)


def _disabled_people(conn: Connection, addresses: list[str]) -> set[str]:
    """Addresses of people an admin disabled (left the organisation): never mailed."""
    p = Person.__table__
    rows = conn.execute(select(p.c.email).where(p.c.email.in_(addresses), p.c.disabled.is_(True)))
    return set(rows.scalars())
