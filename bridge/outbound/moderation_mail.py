"""Moderation by mail: held messages are mailed to moderators, whose answers decide them.

`notify_moderators` (run by the sender role each round) announces each held
message once to the moderators of every community it routes to — or to the
admins where a community has none, and always to the admins for holds only
an admin may release (bridge/pipeline/rules.py ADMIN_ONLY). The first held
message goes out at once; whatever is held in the hour after a community's
last notice waits and goes out as one digest. Each entry carries its own
reply address `moderate+TOKEN@mail_domain`, signed for that message,
community and moderator (mail/tokens.py); a single notice also sets it as
Reply-To, so answering "approve" or "reject REASON" is enough. A digest's
Reply-To names the digest (its numbered entries are kept in
`moderation_digest`): "approve 1 3", "reject 2 REASON" or "approve all".

The same round tells a held message's sender that it waits for a moderator,
at most once a day per address, and only when the sender check proved the
From: a notice to a forged address would be backscatter.

`carry_out` acts on an answer the pipeline held as `moderation`
(bridge/pipeline/moderation_replies.py checked token, From and
authentication): the person must still moderate that community (or be an
admin), the message must still be held and still route there, and the
decision goes through bridge/moderation.py `record_decision`, audited, like
the /admin/held buttons. A replay after the decision finds the message no
longer held and changes nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, or_, select, update

from bridge.errors import Held, UsageError
from bridge.moderation import record_decision, routed_to
from bridge.outbound.language import language_of, recipient_languages
from bridge.outbound.posts import queue_notice_in
from bridge.pipeline import moderation_replies, steps
from bridge.pipeline.rules import ADMIN_ONLY
from bridge.settings import Settings
from mail.compose import ENGLISH, Language
from mail.errors import TokenError
from mail.headers import clean_text
from mail.parse import ParsedMessage, parse_message
from mail.tokens import ModerationClaim, moderation_token, verify_moderation_token
from threads import outbound
from threads.db import insert_ignoring_conflict, writer
from threads.models import (
    Community,
    HoldKind,
    Membership,
    ModerationDigest,
    ModerationNotice,
    Person,
    RawMessage,
    RawState,
    Role,
    utcnow,
)

log = logging.getLogger(__name__)
RAW = RawMessage.__table__
NOTICES = ModerationNotice.__table__
DIGESTS = ModerationDigest.__table__
# Holds a person decides on: the judgement ones for moderators, the rest for admins.
ANNOUNCED = frozenset(
    {HoldKind.posting, HoldKind.sensitivity, HoldKind.confidential, HoldKind.auth_failed}
)
# Holds whose sender is told the message waits (never auth_failed: that From is unproven).
SENDER_TOLD = frozenset({HoldKind.posting, HoldKind.sensitivity, HoldKind.confidential})
DIGEST_WINDOW = timedelta(hours=1)
SENDER_WINDOW = timedelta(days=1)
# As long as the sender role keeps looking at held mail (bridge/outbound/held.py).
HORIZON = timedelta(days=14)
FIRST_LINES, LINE_CHARS = 8, 200
# A flood of held mail makes one readable digest, not a megabyte of it.
DIGEST_MAX = 50


@dataclass(frozen=True, slots=True)
class HeldItem:
    """What a notice says about one held message."""

    raw_id: int
    kind: HoldKind
    sender: str
    subject: str
    reason: str
    first_lines: tuple[str, ...]
    sender_proven: bool


@dataclass(frozen=True, slots=True)
class Moderator:
    person_id: int
    email: str


# Held raw message id -> where it is bound and what a notice says of it. The bytes
# of a held message never change; the cache spares re-parsing the messages that
# wait out a community's digest hour on every sender round.
Seen = dict[int, tuple[tuple[int, ...], "HeldItem"]]


def notify_moderators(engine: Engine, settings: Settings, seen: Seen | None = None) -> int:
    """Mail moderators what is newly held (digests within the hour); returns notices queued.

    `seen` is the caller's cache across rounds (the sender keeps one).
    """
    seen = {} if seen is None else seen
    if not settings.secret_key:
        return 0  # no key, no reply tokens: /admin/held stays the way to decide
    now = utcnow()
    pending: dict[int, list[HeldItem]] = defaultdict(list)
    # Only messages not yet announced anywhere, or first announced lately: one
    # bound for two communities reaches the second within an hour of the first
    # (its digest window), and no round parses the whole held queue again.
    first = (
        select(NOTICES.c.raw_id, func.min(NOTICES.c.notified_at).label("at"))
        .group_by(NOTICES.c.raw_id)
        .subquery()
    )
    with engine.connect() as conn:
        rows = conn.execute(
            select(RAW)
            .outerjoin(first, first.c.raw_id == RAW.c.id)
            .where(RAW.c.state == RawState.held, RAW.c.hold_kind.in_(list(ANNOUNCED)))
            .where(RAW.c.received_at >= now - HORIZON)
            .where(or_(first.c.at.is_(None), first.c.at >= now - 2 * DIGEST_WINDOW))
            .order_by(RAW.c.id)
        ).all()
        if not rows:
            return 0
        told = set(
            conn.execute(
                select(NOTICES.c.raw_id, NOTICES.c.community_id).where(
                    NOTICES.c.raw_id.in_([r.id for r in rows])
                )
            ).tuples()
        )
        recent = set(
            conn.execute(
                select(NOTICES.c.community_id).where(NOTICES.c.notified_at >= now - DIGEST_WINDOW)
            ).scalars()
        )
        routes = steps.load_routes(conn)
    for stale in seen.keys() - {row.id for row in rows}:
        del seen[stale]
    for row in rows:
        if row.id not in seen:
            try:
                parsed = parse_message(row.data)
                seen[row.id] = (routed_to(routes, row, parsed), _item(row, parsed))
            except Held:  # no route any more: /admin/held shows it to admins
                continue
        communities, item = seen[row.id]
        for cid in communities:
            if (row.id, cid) not in told and cid not in recent:
                pending[cid].append(item)
    queued = 0
    for cid, items in pending.items():
        with writer(engine).begin() as conn:
            queued += _announce(conn, settings, cid, items)
    return queued


def _item(row: Any, parsed: ParsedMessage) -> HeldItem:
    lines = [clean_text(line)[:LINE_CHARS] for line in parsed.visible_text.splitlines()]
    auth = row.auth if isinstance(row.auth, dict) else {}
    return HeldItem(
        raw_id=int(row.id),
        kind=HoldKind(row.hold_kind),
        sender=(parsed.from_.address if parsed.from_ else "") or row.mail_from or "(no sender)",
        subject=clean_text(parsed.subject),  # "(no subject)" is written in the reader's language
        reason=clean_text(row.reason),
        first_lines=tuple(line for line in lines if line.strip())[:FIRST_LINES],
        sender_proven=auth.get("proven") is True,
    )


def _announce(conn: Connection, settings: Settings, cid: int, items: list[HeldItem]) -> int:
    """Queue one notice (or digest) per moderator for `items`; record them as announced."""
    # Recorded first, in the same transaction as the mail: an item another sender
    # process announced meanwhile is dropped here rather than mailed twice.
    now = utcnow()
    fresh = []
    for item in items:
        stmt = insert_ignoring_conflict(conn, NOTICES, ["raw_id", "community_id"])
        if conn.execute(
            stmt.values(raw_id=item.raw_id, community_id=cid, notified_at=now)
        ).rowcount:
            fresh.append(item)
    items = fresh
    community = conn.execute(
        select(Community.__table__.c.name).where(Community.__table__.c.id == cid)
    ).scalar()
    moderators, admins = _moderators(conn, cid), _admins(conn)
    by_person: dict[Moderator, list[HeldItem]] = defaultdict(list)
    for item in items:
        for person in admins if item.kind in ADMIN_ONLY or not moderators else moderators:
            by_person[person].append(item)
    expires = datetime.now(UTC).date() + timedelta(days=HORIZON.days)
    languages = recipient_languages(conn, [person.email for person in by_person])
    for person, its in by_person.items():
        entries = [
            (
                item,
                "moderate+"
                + moderation_token(
                    settings.secret_key,
                    raw_id=item.raw_id,
                    community_id=cid,
                    person_id=person.person_id,
                    address=person.email,
                    expires=expires,
                )
                + "@"
                + settings.mail_domain,
            )
            for item in its[:DIGEST_MAX]
        ]
        language = languages[person.email.lower()]
        subject, text = _notice_text(settings, str(community or ""), entries, len(its), language)
        reply_to = entries[0][1]
        if len(entries) > 1:
            reply_to = _digest_address(conn, settings, cid, person, entries, expires)
        queue_notice_in(
            conn,
            settings,
            person.email,
            subject,
            text,
            kind="moderation",
            reply_to=reply_to,
            language=language,
        )
    if items and not by_person:
        log.warning("held mail for community %s: no moderator and no admin to tell", cid)
    for item in items:
        _tell_sender(conn, settings, item, str(community or ""))
    return len(by_person)


def _digest_address(
    conn: Connection,
    settings: Settings,
    cid: int,
    person: Moderator,
    entries: list[tuple[HeldItem, str]],
    expires: date,
) -> str:
    """Record a digest's numbered entries; the address that answers for all of them."""
    digest_id = conn.execute(
        insert(DIGESTS).values(
            community_id=cid,
            person_id=person.person_id,
            raw_ids=[item.raw_id for item, _ in entries],
            created_at=utcnow(),
        )
    ).inserted_primary_key[0]  # type: ignore[index]  # one row inserted: its key is there
    token = moderation_token(
        settings.secret_key,
        raw_id=int(digest_id),
        community_id=cid,
        person_id=person.person_id,
        address=person.email,
        expires=expires,
        digest=True,
    )
    return f"moderate+{token}@{settings.mail_domain}"


def _moderators(conn: Connection, cid: int) -> list[Moderator]:
    p, ms = Person.__table__, Membership.__table__
    rows = conn.execute(
        select(p.c.id, p.c.email)
        .join(ms, ms.c.person_id == p.c.id)
        .where(ms.c.community_id == cid, ms.c.role == Role.moderator, p.c.disabled.is_(False))
        .order_by(p.c.id)
    )
    return [Moderator(int(r.id), str(r.email)) for r in rows]


def _admins(conn: Connection) -> list[Moderator]:
    p = Person.__table__
    rows = conn.execute(
        select(p.c.id, p.c.email)
        .where(p.c.is_admin.is_(True), p.c.disabled.is_(False))
        .order_by(p.c.id)
    )
    return [Moderator(int(r.id), str(r.email)) for r in rows]


def _notice_text(
    settings: Settings,
    community: str,
    entries: list[tuple[HeldItem, str]],
    total: int,
    language: Language = ENGLISH,
) -> tuple[str, str]:
    """Subject and text of a notice: one held message, or a numbered digest of several.

    A digest lists at most DIGEST_MAX of the `total` held messages; the rest
    are counted and left to the web page. The answer words ("approve",
    "reject", "all") stay English in every language: they are what
    bridge/pipeline/moderation_replies.py reads.
    """
    web = settings.public_url.rstrip("/")
    translator = language.translator
    values: dict[str, object] = {"community": community, "num": total}

    def gettext(message: str) -> str:
        # Filled in right away: what people wrote (subjects, reasons) is never formatted.
        return translator.gettext(message) % values

    example = gettext("Off topic for this list")
    on_web = gettext("Or decide on the web:")
    approve, reject, reply = gettext("Approve:"), gettext("Reject:"), gettext("Reply address:")
    if len(entries) == 1:
        item, address = entries[0]
        values["subject"] = _subject(item, language)
        subject = gettext("Held for moderation: %(subject)s")[:200]
        text = (
            gettext("A message to %(community)s is held and waits for a moderator.")
            + "\n\n"
            + _describe(item, language)
            + "\n"
            + gettext("To publish it, reply to this message with the single word:")
            + "\n\n  approve\n\n"
            + gettext(
                "To refuse it, reply with a first line like this "
                "(the reason is mailed to the sender):"
            )
            + f"\n\n  reject {example}\n"
            + (f"\n{on_web} {web}/admin/held/{item.raw_id}\n" if web else "")
        )
        return subject, text
    subject = (
        translator.ngettext(
            "%(num)s message held for moderation in %(community)s",
            "%(num)s messages held for moderation in %(community)s",
            total,
        )
        % values
    )[:200]
    parts = [
        translator.ngettext(
            "%(num)s message to %(community)s is held and waits for a moderator.",
            "%(num)s messages to %(community)s are held and wait for a moderator.",
            total,
        )
        % values
        + "\n\n"
        + gettext(
            "Answer this message with a line per decision, naming the entries by number "
            "(a rejection's reason is mailed to its sender):"
        )
        + f"\n\n  approve 1 3\n  reject 2 {example}\n  approve all\n\n"
        + gettext(
            "Or write to an entry's own address with the first line “approve”, "
            "or “reject” and your reason."
        )
        + "\n"
    ]
    for number, (item, address) in enumerate(entries, start=1):
        parts.append(
            f"\n{number}.\n"
            + _describe(item, language)
            + f"\n{approve} mailto:{address}?subject=approve&body=approve\n"
            f"{reject} mailto:{address}?subject=reject&body=reject%20\n"
            f"{reply} {address}\n"
        )
    if total > len(entries):
        values["num"] = total - len(entries)
        more = translator.ngettext(
            "... and %(num)s more, listed on the web only.",
            "... and %(num)s more, listed on the web only.",
            total - len(entries),
        )
        parts.append(f"\n{more % values}\n")
    if web:
        parts.append(f"\n{on_web} {web}/admin/held\n")
    return subject, "".join(parts)


def _subject(item: HeldItem, language: Language) -> str:
    return item.subject or language.translator.gettext("(no subject)")


def _describe(item: HeldItem, language: Language = ENGLISH) -> str:
    gettext = language.translator.gettext
    no_text = gettext("(no text)")
    quoted = "".join(f"  | {line}\n" for line in item.first_lines) or f"  | {no_text}\n"
    return (
        gettext("From: %(sender)s") % {"sender": item.sender}
        + "\n"
        + gettext("Subject: %(subject)s") % {"subject": _subject(item, language)}
        + "\n"
        + gettext("Why it is held: %(reason)s") % {"reason": item.reason}
        + "\n\n"
        + gettext("It begins:")
        + f"\n{quoted}"
    )


def _tell_sender(conn: Connection, settings: Settings, item: HeldItem, community: str) -> None:
    """Tell a proven sender their message waits; once a day per address at most."""
    if item.kind not in SENDER_TOLD or not item.sender_proven or "@" not in item.sender:
        return
    if outbound.recent_to(conn, item.sender, "held", utcnow() - SENDER_WINDOW):
        return
    language = language_of(conn, item.sender)
    gettext = language.translator.gettext
    values = {"subject": _subject(item, language), "community": community}
    queue_notice_in(
        conn,
        settings,
        item.sender,
        (gettext("Waiting for a moderator: %(subject)s") % values)[:200],
        gettext(
            "Your message “%(subject)s” to %(community)s is waiting for a moderator. "
            "You will hear from us if a moderator rejects it."
        )
        % values
        + "\n\n"
        + gettext("This notice is sent at most once a day.")
        + "\n",
        kind="held",
        language=language,
    )


# -- answers -----------------------------------------------------------------


def carry_out(
    engine: Engine, settings: Settings, answer_id: int, data: bytes, rcpt: list[str]
) -> tuple[str, str, str]:
    """Decide the held messages a `moderation` answer names; (event kind, address, detail)."""
    parsed = parse_message(data)
    sender = parsed.from_.address if parsed.from_ else ""
    found = moderation_replies.find_moderation_claim(rcpt)
    if found is None:
        return "moderation", sender, "no moderation token"
    try:
        claim = verify_moderation_token(
            settings.secret_key, found[0], address=sender, today=datetime.now(UTC).date()
        )
    except TokenError as exc:
        return "moderation", sender, f"refused: {exc}"
    with writer(engine).begin() as conn:
        language = language_of(conn, sender)
        wanted = _wanted(conn, claim, parsed)
        if isinstance(wanted, str):
            results = [(False, wanted, wanted)]
        else:
            results = [
                _decide_one(conn, settings, claim, sender, raw_id, decision, reason, language)
                for raw_id, decision, reason in wanted
            ]
        done = "; ".join(text for _, text, _ in results)
        if all(ok for ok, _, _ in results):
            conn.execute(
                update(RAW)
                .where(RAW.c.id == answer_id, RAW.c.state == RawState.held)
                .values(
                    state=RawState.done, reason=f"moderation answer: {done}"[:2000], hold_kind=None
                )
            )
        else:
            conn.execute(
                update(RAW)
                .where(RAW.c.id == answer_id)
                .values(reason=f"moderation answer: {done}"[:2000])
            )
        gettext = language.translator.gettext
        queue_notice_in(
            conn,
            settings,
            sender,
            (gettext("Moderation: %(done)s") % {"done": "; ".join(m for _, _, m in results)})[:200],
            gettext("Your answer was read:")
            + "\n\n"
            + "".join(f"  {line}\n" for _, _, line in results),
            kind="notice",
            language=language,
        )
    return "moderation", sender, done


def _wanted(
    conn: Connection, claim: ModerationClaim, parsed: ParsedMessage
) -> list[tuple[int, str, str]] | str:
    """(held raw id, decision, reason) for each decision the answer makes, or why none."""
    if not claim.digest:
        command = moderation_replies.moderation_command(parsed)
        return [(claim.raw_id, *command)] if command else "no decision in the answer"
    row = conn.execute(select(DIGESTS).where(DIGESTS.c.id == claim.raw_id)).first()
    if row is None or (row.community_id, row.person_id) != (claim.community_id, claim.person_id):
        return f"digest {claim.raw_id} is unknown"
    entries = [int(r) for r in row.raw_ids]
    wanted: list[tuple[int, str, str]] = []
    for line in moderation_replies.digest_commands(parsed):
        for number in line.numbers or range(1, len(entries) + 1):
            if not 1 <= number <= len(entries):
                return f"the digest has no entry {number} (1 to {len(entries)})"
            wanted.append((entries[number - 1], line.decision, line.reason))
    return wanted or "no decision in the answer"


def _decide_one(
    conn: Connection,
    settings: Settings,
    claim: ModerationClaim,
    sender: str,
    raw_id: int,
    decision: str,
    reason: str,
    language: Language = ENGLISH,
) -> tuple[bool, str, str]:
    """One decision, in a savepoint: (carried out, what happened, the same for the moderator)."""
    with conn.begin_nested():
        refusal = _refusal(conn, raw_id, claim.community_id, claim.person_id, sender)
        if refusal is None:
            try:
                record_decision(
                    conn,
                    settings,
                    raw_id,
                    decision,
                    actor=f"mail:{sender.lower()}",
                    actor_is_admin=_is_admin(conn, claim.person_id),
                    reason=reason,
                )
            except UsageError as exc:
                refusal = str(exc)
    # The audit keeps English; the moderator reads it in their language (the answer
    # word quoted as written, the refusal's reason as the check states it).
    gettext = language.translator.gettext
    values = {"decision": decision, "id": raw_id, "reason": refusal}
    if refusal is None:
        said = gettext("%(decision)s message %(id)s carried out") % values
        return True, f"{decision} message {raw_id} carried out", said
    said = gettext("%(decision)s message %(id)s refused: %(reason)s") % values
    return False, f"{decision} message {raw_id} refused: {refusal}", said


def _refusal(
    conn: Connection, raw_id: int, community_id: int, person_id: int, sender: str
) -> str | None:
    """Why this person may not decide this message for this community now, or None."""
    p = Person.__table__
    person = conn.execute(
        select(p.c.email, p.c.is_admin, p.c.disabled).where(p.c.id == person_id)
    ).first()
    if person is None or person.disabled or person.email.lower() != sender.lower():
        return "the token's person is unknown, disabled or not the sender"
    row = conn.execute(select(RAW).where(RAW.c.id == raw_id)).first()
    if row is None or row.state != RawState.held:
        return f"message {raw_id} is not held (already decided?)"
    try:
        routed = set(routed_to(steps.load_routes(conn), row, parse_message(row.data)))
    except Held:  # no route any more: admins decide on the web
        routed = set()
    if community_id not in routed:
        return f"message {raw_id} is not held for that community"
    if person.is_admin:
        return None
    # As on /admin/held: a moderator decides only mail bound for their communities alone.
    ms = Membership.__table__
    moderated = set(
        conn.execute(
            select(ms.c.community_id).where(
                ms.c.person_id == person_id, ms.c.role == Role.moderator
            )
        ).scalars()
    )
    if not routed <= moderated:
        return "the sender does not moderate every community the message is bound for"
    return None


def _is_admin(conn: Connection, person_id: int) -> bool:
    p = Person.__table__
    return bool(conn.execute(select(p.c.is_admin).where(p.c.id == person_id)).scalar())
