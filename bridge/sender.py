"""The outbound sender (`bridge serve --role sender`): from owed copies to delivered mail.

Each round, in this order:
1. Notifications (rows the pipeline's fan-out step wrote) become composed
   mail in the outbound queue, one per recipient, with that recipient's reply
   token and unsubscribe links; unless the address is disabled by bounces,
   muted the thread since, or chose web only or a daily digest.
2. Daily digests are composed for those who chose them.
3. Held mail the sender has a job for is read: delivery reports to our bounce
   address mark the failed address, reply commands ("mute") are carried out,
   and the owner of a misused reply address is told (at most once per
   `mismatch_notice_hours`).
4. Due mail is delivered (bridge/outbound_delivery.py): to the relay, or
   into the Maildir outbox when none is configured. A temporary failure is
   retried with doubling waits; a permanent one, or one past
   `outbound_give_up_hours`, is given up with the reason recorded.

Composition happens outside write transactions; the write that follows
re-checks each notification is still queued, so two senders never both mail
one copy. Delivery is claimed with leases, like pipeline work.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from email import policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, select, update

from bridge import outbound_replies as replies
from bridge.core import Core
from bridge.outbound_delivery import (
    Deferred,
    MaildirTransport,
    Outgoing,
    Refused,
    RelayConfig,
    RelayTransport,
    Transport,
)
from bridge.settings import Settings
from bridge.worker import worker_name
from mail.bounce import Bounce
from mail.classify import classify
from mail.compose import (
    Addressing,
    Digest,
    DigestItem,
    ListInfo,
    Post,
    compose_digest,
    compose_notice,
    compose_post,
    thread_index_header,
)
from mail.parse import parse_message
from mail.tokens import (
    TokenError,
    bounce_token,
    reply_token,
    unsubscribe_token,
    verify_bounce_token,
)
from threads import outbound
from threads.db import insert_ignoring_conflict, writer
from threads.models import (
    Attachment,
    Community,
    MailEvent,
    Message,
    Notification,
    Person,
    RawMessage,
    RawState,
    Route,
    RouteKind,
    Thread,
    as_utc,
    utcnow,
)

log = logging.getLogger(__name__)
N = Notification.__table__
M = Message.__table__
RAW = RawMessage.__table__
EVENTS = MailEvent.__table__
# Held mail older than this is not looked at again for bounces and commands.
HELD_HORIZON = timedelta(days=14)


def transport_for(settings: Settings) -> Transport:
    if not settings.smtp_relay:
        return MaildirTransport(settings.outbox_dir)
    return RelayTransport(
        RelayConfig.parse(
            settings.smtp_relay,
            tls=settings.smtp_relay_tls,
            user=settings.smtp_relay_user,
            password=settings.smtp_relay_password,
            timeout=settings.smtp_relay_timeout,
            ca_file=settings.smtp_relay_ca_file,
            local_hostname=settings.mail_domain,
        )
    )


def as_bytes(msg: EmailMessage) -> bytes:
    """What goes on the wire: CRLF line endings, long lines folded (RFC 5322)."""
    return msg.as_bytes(policy=policy.SMTP)


@dataclass(slots=True)
class RoundReport:
    composed: int = 0
    skipped: int = 0
    digests: int = 0
    events: int = 0
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
        self.transport = transport or transport_for(settings)
        self.name = worker_name()
        self._writer = writer(engine)

    def run_once(self) -> RoundReport:
        report = RoundReport()
        report.composed, report.skipped = self.compose_notifications()
        report.digests = self.compose_digests()
        report.events = self.read_held()
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
            people = _ensure_people(conn, recipients)
        with self.engine.connect() as conn:
            posts = _load_posts(conn, {row.message_pk for row in owed}, self.settings)
            disabled = outbound.disabled_addresses(conn, recipients)
            modes = outbound.preferences(
                conn,
                [(posts[r.message_pk].community_id, r.recipient.lower()) for r in owed],
            )
            muted = {
                thread_id: replies.thread_choices(conn, thread_id)[0]
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
                decisions.append((row.id, "mailed", self._post_mail(post, address, people)))
        composed = skipped = 0
        with self._writer.begin() as conn:
            for notification_id, state, mail in decisions:
                taken = conn.execute(
                    update(N)
                    .where(N.c.id == notification_id, N.c.state == "queued")
                    .values(state=state)
                ).rowcount
                if not taken:
                    continue  # another sender got here first
                if mail is None:
                    skipped += 1
                    continue
                outbound.enqueue(conn, [{**mail, "notification_id": notification_id}])
                composed += 1
        return composed, skipped

    def _post_mail(self, post: _PostRow, address: str, people: dict[str, int]) -> dict[str, Any]:
        s = self.settings
        token = reply_token(
            s.secret_key,
            community_id=post.community_id,
            thread_id=post.thread_id,
            person_id=people.get(address, 0),
            address=address,
            expires=date.today() + timedelta(days=s.reply_token_days),
        )
        reply_to = f"{replies.REPLY_PREFIX}+{token}@{s.mail_domain}"
        addressing = _addressing(s, address, reply_to, post.community_id, post.thread_id)
        msg = compose_post(post.post, post.list, addressing)
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
                    posts = _load_posts(conn, {r.message_pk for r in rows}, self.settings)
                    batches.append(
                        (pref, [r.id for r in rows], [posts[r.message_pk] for r in rows])
                    )
        made = 0
        for pref, notification_ids, posts in batches:
            items = [
                DigestItem(p.post.subject, p.post.author_name, p.post.text, p.post.date, p.url)
                for p in posts
            ]
            lst = posts[0].list
            addressing = _addressing(
                self.settings, pref.address, lst.address, pref.community_id, None
            )
            message_id = f"digest.{pref.id}.{int(now.timestamp())}@{self.settings.mail_domain}"
            msg = compose_digest(Digest(lst, items, message_id, now), addressing)
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

    # --- 3. held mail the sender acts on ---------------------------------------

    def read_held(self, limit: int = 200) -> int:
        since = utcnow() - HELD_HORIZON
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(RAW.c.id, RAW.c.data, RAW.c.rcpt_to, RAW.c.reason)
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
        verp = [a for a in rcpt if _local(a, s.mail_domain, replies.BOUNCE_PREFIX) is not None]
        if verp or row.reason.startswith("bounce:"):
            return self._bounce(row.data, verp)
        if row.reason.startswith(replies.COMMAND_REASON):
            return self._command(row.id, rcpt, row.reason[len(replies.COMMAND_REASON) :])
        if replies.MISMATCH_REASON in row.reason:
            return self._mismatch(row.data, rcpt)
        return "none", "", ""

    def _bounce(self, data: bytes, verp: list[str]) -> tuple[str, str, str]:
        parsed = parse_message(data)
        verdict = classify(parsed)
        report: Bounce | None = verdict.bounce_report
        failed = {r.address.lower(): r for r in (report.failed if report else ())}
        known: dict[str, tuple[bool, str]] = {}
        with self.engine.connect() as conn:
            for address in verp:
                token = _local(address, self.settings.mail_domain, replies.BOUNCE_PREFIX)
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
            if not known:
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
        with self._writer.begin() as conn:
            address = conn.execute(
                select(Person.email).where(Person.id == claim.person_id)
            ).scalar()
            if not address:
                return "command", "", "the token's person is unknown"
            if command == "mute":
                outbound.set_thread_choice(conn, claim.thread_id, address, "muted")
                done = f"thread {claim.thread_id} muted for {address}"
            else:
                outbound.set_preference(conn, claim.community_id, address, "web")
                done = f"no more mail from community {claim.community_id} to {address}"
            conn.execute(
                update(RAW)
                .where(RAW.c.id == raw_id, RAW.c.state == RawState.held)
                .values(state=RawState.done, reason=f"reply command carried out: {done}")
            )
        return "command", address, done

    def _mismatch(self, data: bytes, rcpt: list[str]) -> tuple[str, str, str]:
        claim = replies.find_reply_claim(rcpt)
        if claim is None:
            return "mismatch", "", "no reply token"
        parsed = parse_message(data)
        forged_from = parsed.from_.address if parsed.from_ else "(no From)"
        since = utcnow() - timedelta(hours=self.settings.mismatch_notice_hours)
        with self._writer.begin() as conn:
            owner = conn.execute(select(Person.email).where(Person.id == claim.person_id)).scalar()
            if not owner:
                return "mismatch", "", f"from {forged_from}; the token's owner is unknown"
            if outbound.recent_to(conn, owner, "warning", since):
                return "mismatch", owner, f"from {forged_from}; owner already told recently"
            text = (
                f"A message was sent to the bridge with the personal reply address we gave "
                f"you, but it came from {forged_from}, not from you.\n\n"
                f"Subject: {parsed.subject or '(none)'}\n\n"
                "It was held and not published. If you forwarded one of our messages, "
                "that explains it and nothing needs doing. If not, someone may be trying "
                "to post in your name; an administrator can see the held message."
            )
            _queue_notice(
                conn,
                self.settings,
                owner,
                "A reply in your name was held",
                text,
                kind="warning",
            )
        return "mismatch", owner, f"from {forged_from}; owner told"

    # --- 4. delivery ------------------------------------------------------------

    def deliver_due(self, limit: int = 50, only: list[int] | None = None) -> tuple[int, int, int]:
        """Deliver what is due (or just `only`, if due); returns (sent, deferred, failed)."""
        s = self.settings
        lease = timedelta(seconds=max(60.0, s.smtp_relay_timeout * 4 * limit))
        sent = deferred = failed = 0
        while True:
            with self._writer.begin() as conn:
                ids = outbound.claim_due(conn, self.name, limit=limit, lease=lease, only=only)
                rows = outbound.load(conn, ids) if ids else []
                blocked = outbound.disabled_addresses(conn, [r.recipient for r in rows])
            if not rows:
                return sent, deferred, failed
            batch = [
                Outgoing(
                    r.id,
                    f"{replies.BOUNCE_PREFIX}+{bounce_token(s.secret_key, r.id)}@{s.mail_domain}",
                    r.recipient,
                    bytes(r.data),
                )
                for r in rows
                if r.recipient not in blocked
            ]
            results = self.transport.send(batch) if batch else {}
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


class SenderThread(threading.Thread):
    """Runs sender rounds every `sender_poll_seconds`, or sooner when woken."""

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
                self._sender.run_once()
            except Exception:  # the sender must outlive any one bad round
                log.exception("outbound sender error; retrying shortly")
            self._wake.wait(self._idle)


# --- helpers -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PostRow:
    community_id: int
    thread_id: int
    list: ListInfo
    post: Post
    url: str


def _load_posts(conn: Connection, pks: Iterable[int], settings: Settings) -> dict[int, _PostRow]:
    """The composer's view of each message: the post, its thread's headers, its community."""
    pks = sorted(pks)
    rows = conn.execute(select(M).where(M.c.id.in_(pks))).all()
    thread_ids = {r.thread_id for r in rows}
    threads = {
        t.id: t
        for t in conn.execute(select(Thread.__table__).where(Thread.__table__.c.id.in_(thread_ids)))
    }
    keys: dict[int, str] = {}
    for thread_id, key in conn.execute(
        select(M.c.thread_id, M.c.thread_key)
        .where(M.c.thread_id.in_(thread_ids), M.c.thread_key.is_not(None))
        .order_by(M.c.id)
    ):
        keys.setdefault(thread_id, key)
    lists = _lists(conn, {r.community_id for r in rows}, settings)
    files: dict[int, list[tuple[str, int]]] = {}
    a = Attachment.__table__
    for message_pk, filename, size in conn.execute(
        select(a.c.message_pk, a.c.filename, a.c.size).where(a.c.message_pk.in_(pks))
    ):
        files.setdefault(message_pk, []).append((filename, size))
    base = settings.public_url.rstrip("/")
    out: dict[int, _PostRow] = {}
    for r in rows:
        thread = threads[r.thread_id]
        chain = list(r.chain or [])
        root = chain[0] if chain else r.message_id
        started = as_utc(thread.started_at) or as_utc(r.date) or utcnow()
        url = f"{base}/t/{r.thread_id}" if base else ""
        post = Post(
            message_id=_outgoing_id(r.message_id, r.id, settings.mail_domain),
            subject=r.subject or thread.subject,
            author_name=r.from_name,
            author_address=r.from_addr,
            text=r.visible_text or "",
            date=as_utc(r.date) or utcnow(),
            references=chain,
            thread_topic=thread.subject,
            thread_index_header=thread_index_header(keys.get(r.thread_id), root, started),
            thread_url=url,
            attachments=files.get(r.id, []),
        )
        out[r.id] = _PostRow(r.community_id, r.thread_id, lists[r.community_id], post, url)
    return out


def _lists(conn: Connection, ids: Iterable[int], settings: Settings) -> dict[int, ListInfo]:
    c, rt = Community.__table__, Route.__table__
    addresses: dict[int, str] = {}
    for community_id, value in conn.execute(
        select(rt.c.community_id, rt.c.value)
        .where(rt.c.community_id.in_(list(ids)), rt.c.kind == RouteKind.address)
        .order_by(rt.c.id)
    ):
        addresses.setdefault(community_id, value)
    return {
        row.id: ListInfo(
            name=row.name,
            slug=row.slug,
            address=addresses.get(row.id) or f"{row.slug}@{settings.mail_domain}",
            mail_domain=settings.mail_domain,
            public_url=settings.public_url,
        )
        for row in conn.execute(select(c.c.id, c.c.slug, c.c.name).where(c.c.id.in_(list(ids))))
    }


def _outgoing_id(message_id: str, pk: int, mail_domain: str) -> str:
    """The Message-ID a copy goes out under.

    A web post's id is already ours. Mail relayed to subscribers keeps its
    author's id, as mailing lists do: replies then name the id the archive
    files, and a recipient who also got the original sees one message, not
    two. A message that came without an id gets one of ours.
    """
    if message_id and not message_id.endswith(".invalid"):
        return message_id
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:16]
    return f"cb.{pk}.{digest}@{mail_domain}"


def _addressing(
    settings: Settings, address: str, reply_to: str, community_id: int, thread_id: int | None
) -> Addressing:
    base = settings.public_url.rstrip("/")
    token = unsubscribe_token(
        settings.secret_key, address=address, community_id=community_id, thread_id=thread_id
    )
    url = f"{base}/unsubscribe/{token}" if base else ""
    mute = f"{url}?do=mute" if url and thread_id is not None else ""
    mailto = ""
    if reply_to.startswith(replies.REPLY_PREFIX + "+"):
        mailto = f"mailto:{reply_to}?subject={quote('unsubscribe')}"
    return Addressing(
        recipient=address,
        reply_to=reply_to,
        unsubscribe_url=url,
        unsubscribe_mailto=mailto,
        mute_url=mute,
    )


def _ensure_people(conn: Connection, addresses: list[str]) -> dict[str, int]:
    """Person ids for the recipients (reply tokens name people); created as senders are."""
    p = Person.__table__
    stmt = insert_ignoring_conflict(conn, p, ["email"])
    conn.execute(stmt, [{"email": a, "name": "", "created_at": utcnow()} for a in addresses])
    return dict(conn.execute(select(p.c.email, p.c.id).where(p.c.email.in_(addresses))).all())


def _local(address: str, mail_domain: str, prefix: str) -> str | None:
    """TOKEN of `prefix+TOKEN@mail_domain`, '' for `prefix@mail_domain`, None otherwise."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not at or domain.lower() != mail_domain.lower():
        return None
    local = local.lower()
    if local == prefix:
        return ""
    if local.startswith(prefix + "+"):
        return local[len(prefix) + 1 :]
    return None


def _queue_notice(
    conn: Connection, settings: Settings, to: str, subject: str, text: str, *, kind: str
) -> tuple[int, str]:
    now = utcnow()
    message_id = f"notice.{uuid.uuid4().hex}@{settings.mail_domain}"
    msg = compose_notice(
        mail_domain=settings.mail_domain,
        to=to,
        subject=subject,
        text=text,
        message_id=message_id,
        date=now,
    )
    (mail_id,) = outbound.enqueue(
        conn,
        [
            {
                "kind": kind,
                "recipient": to.strip().lower(),
                "message_id": message_id,
                "subject": subject[:500],
                "data": as_bytes(msg),
            }
        ],
    )
    return mail_id, message_id


def queue_notice(
    engine: Engine, settings: Settings, to: str, subject: str, text: str
) -> tuple[int, str]:
    """Queue a system notice; returns (outbound id, Message-ID)."""
    with writer(engine).begin() as conn:
        return _queue_notice(conn, settings, to, subject, text, kind="notice")
