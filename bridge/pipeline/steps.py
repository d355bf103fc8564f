"""The named steps the pipeline runs for one message, each small and testable on its own.

route -> authorize (bridge/pipeline/rules.py) -> (letter) -> consent gate
(bridge/pipeline/consent_gate.py) -> thread_and_store -> index -> fan_out; plus
remember_sender and save_attachments.
Steps raise `Held` with a reason an admin can read; anything else they raise
marks the message failed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select, update

from bridge import copy_audience
from bridge.config import PipelineConfig
from bridge.errors import Held
from bridge.pipeline import moderation_replies, replies
from bridge.pipeline.derived import Derived
from mail.classify import Classification
from mail.headers import Address, impersonated_address
from mail.imap import parse_imap_url
from mail.mime import Attachment as ParsedAttachment
from mail.parse import ParsedMessage
from threads import search
from threads.access import posters_by_community
from threads.db import insert_ignoring_conflict
from threads.models import (
    Attachment,
    Community,
    CopyReview,
    HoldKind,
    ImapFolder,
    Message,
    ModerationDecision,
    Notification,
    Person,
    RawMessage,
    RawState,
    Route,
    RouteKind,
    RoutePolicy,
    utcnow,
)
from threads.people import try_normalize
from threads.store import Filed, Letter, file_letter

# Sources whose mail is live: fan-out mails subscribers. An imported archive is
# history; mailing everyone about messages from 2019 would be a disaster.
LIVE_SOURCES = frozenset({"smtp", "imap", "web"})


@dataclass(frozen=True, slots=True)
class RawView:
    id: int
    data: bytes
    source: str
    mail_from: str
    rcpt_to: list[str]
    community_hint: str
    sha256: str
    source_ref: str = ""  # IMAP: "account/folder/uidvalidity/uid" (the folder's policy)
    received_at: datetime | None = None  # when the bridge accepted it (None: not loaded)


@dataclass(frozen=True, slots=True)
class CommunityRef:
    id: int
    slug: str
    archived: bool
    reply_token: str = ""  # set when routed by a reply token; authorize verifies it
    # Set when the mail answers a held-mail notice (bridge/pipeline/moderation_replies.py).
    moderation_token: str = ""
    # Posting policy (members|org|anyone) and who always may post (members,
    # moderators, admins); `live` and `approved` are set by `route` for one message.
    posting: str = "org"
    posters: frozenset[str] = frozenset()
    live: bool = False
    approved: bool = False
    # The matching route's (or IMAP folder's) policy: open publishes, consent
    # keeps new conversations as candidates (consent_gate) above cc_threshold.
    policy: str = RoutePolicy.open.value
    cc_threshold: int = 0


@dataclass(frozen=True, slots=True)
class Routes:
    by_address: dict[str, CommunityRef]
    by_list_id: dict[str, CommunityRef]
    by_slug: dict[str, CommunityRef]
    # Pending raw messages a moderator approved: published despite a hold.
    approved: frozenset[int] = frozenset()
    # IMAP folders' (policy, cc_threshold) by "account/folder", the prefix of the
    # source_ref the poller gives each message (mail/imap.py _fetch_batch).
    by_folder: dict[str, tuple[str, int]] = field(default_factory=dict)


def load_routes(conn: Connection) -> Routes:
    c, r = Community.__table__, Route.__table__
    posters = posters_by_community(conn)
    communities = {
        row.id: CommunityRef(
            row.id, row.slug, row.archived, posting=row.posting, posters=posters[row.id]
        )
        for row in conn.execute(select(c.c.id, c.c.slug, c.c.archived, c.c.posting))
    }
    by_address: dict[str, CommunityRef] = {}
    by_list_id: dict[str, CommunityRef] = {}
    for kind, value, cid, policy, threshold in conn.execute(
        select(r.c.kind, r.c.value, r.c.community_id, r.c.policy, r.c.cc_threshold)
    ):
        if kind == RouteKind.list_address:
            continue  # where web posts are sent, not a way in (threads/models RouteKind)
        target = by_address if kind == RouteKind.address else by_list_id
        target[value] = dataclasses.replace(
            communities[cid], policy=str(policy), cc_threshold=int(threshold)
        )
    # Import, web posts and reply tokens name the community themselves: open.
    by_slug = {ref.slug: ref for ref in communities.values()}
    raw_, decision = RawMessage.__table__, ModerationDecision.__table__
    approved = conn.execute(
        select(decision.c.raw_id)
        .join(raw_, raw_.c.id == decision.c.raw_id)
        .where(raw_.c.state == RawState.pending, decision.c.decision == "approve")
    ).scalars()
    return Routes(by_address, by_list_id, by_slug, frozenset(approved), _folders(conn))


def _folders(conn: Connection) -> dict[str, tuple[str, int]]:
    f = ImapFolder.__table__
    found: dict[str, tuple[str, int]] = {}
    for url, policy, threshold in conn.execute(select(f.c.url, f.c.policy, f.c.cc_threshold)):
        try:
            parsed = parse_imap_url(url)
        except ValueError:  # stored URLs were validated; an odd one polls nothing anyway
            continue
        found[f"{parsed.account}/{parsed.folder}"] = (str(policy), int(threshold))
    return found


def folder_policy(routes: Routes, raw: RawView) -> tuple[str, int]:
    """The policy of the IMAP folder a message was polled from.

    source_ref is "account/folder/uidvalidity/uid" and folder names may hold
    "/", so the last two parts are cut from the right. A folder no longer
    configured (removed after polling) is consent: a mailbox is someone's inbox.
    """
    folder = raw.source_ref.rsplit("/", 2)[0]
    return routes.by_folder.get(folder, (RoutePolicy.consent.value, 0))


def route(routes: Routes, raw: RawView, parsed: ParsedMessage) -> list[CommunityRef]:
    """The communities this message belongs to, each marked live or history and approved."""
    live = raw.source in LIVE_SOURCES
    approved = raw.id in routes.approved
    found = _find_communities(routes, raw, parsed)
    if raw.community_hint and raw.source.startswith("imap"):
        policy, threshold = folder_policy(routes, raw)
        found = [dataclasses.replace(ref, policy=policy, cc_threshold=threshold) for ref in found]
    return [dataclasses.replace(ref, live=live, approved=approved) for ref in found]


def _add(found: dict[int, CommunityRef], ref: CommunityRef) -> None:
    """One ref per community; an open route wins over a consent one to the same community
    (cc'ing a community's open address is consent to publish there)."""
    if ref.id not in found or ref.policy == RoutePolicy.open:
        found[ref.id] = ref


def _find_communities(routes: Routes, raw: RawView, parsed: ParsedMessage) -> list[CommunityRef]:
    """The communities this message belongs to, most specific evidence first."""
    if raw.community_hint:
        ref = routes.by_slug.get(raw.community_hint)
        if ref is None:
            raise Held(
                HoldKind.no_route, f"no route: community '{raw.community_hint}' does not exist"
            )
        return [ref]
    if (answer := moderation_replies.find_moderation_claim(raw.rcpt_to)) is not None:
        token, moderation = answer
        by_id = {ref.id: ref for ref in routes.by_slug.values()}
        if (ref := by_id.get(moderation.community_id)) is None:
            raise Held(
                HoldKind.no_route,
                "no route: the moderation answer names a community that no longer exists",
            )
        return [dataclasses.replace(ref, moderation_token=token)]
    if (claim := replies.find_reply_claim(raw.rcpt_to)) is not None:
        by_id = {ref.id: ref for ref in routes.by_slug.values()}
        if (ref := by_id.get(claim.community_id)) is None:
            raise Held(
                HoldKind.no_route,
                "no route: the reply token names a community that no longer exists",
            )
        return [dataclasses.replace(ref, reply_token=claim.token)]
    found: dict[int, CommunityRef] = {}
    # The SMTP envelope is what the sending server decided; headers can be anything.
    for addr in raw.rcpt_to:
        if (ref := routes.by_address.get(addr.lower())) is not None:
            _add(found, ref)
    if not found:
        if parsed.list_id and (ref := routes.by_list_id.get(parsed.list_id)) is not None:
            _add(found, ref)
        for mailbox in (*parsed.to, *parsed.cc):
            if (ref := routes.by_address.get(mailbox.address.lower())) is not None:
                _add(found, ref)
    if not found:
        where = ", ".join(raw.rcpt_to) or "none"
        raise Held(
            HoldKind.no_route,
            f"no route: no community is mapped to the recipients ({where}), "
            f"the To/Cc addresses or List-Id {parsed.list_id or '(none)'}",
        )
    return list(found.values())


def letter_from(raw: RawView, parsed: ParsedMessage, classification: Classification) -> Letter:
    sender = parsed.from_ or Address("", "")
    return Letter(
        # A message without Message-ID still needs a stable identity: its content hash.
        message_id=parsed.message_id or f"{raw.sha256[:40]}@sha256.invalid",
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        thread_index=parsed.thread_index,
        subject=parsed.subject,
        from_name=sender.name,
        from_addr=sender.address.lower(),
        to=_addresses(parsed.to),
        cc=_addresses(parsed.cc),
        date=parsed.date.astimezone(UTC) if parsed.date else _arrival(raw),
        visible_text=parsed.visible_text,
        quoted_text=parsed.quoted_text,
        signature=parsed.signature,
        html=parsed.html,
        auto_reply=classification.auto_reply,
        sensitivity=classification.sensitivity,
        attachment_count=len(parsed.attachments),
    )


def _arrival(raw: RawView) -> datetime | None:
    """When the bridge accepted a message that carries no Date of its own.

    RFC 5322 requires a Date, but mail without one arrives (Python's smtplib
    sends a bare EmailMessage as it is): the arrival time is the best date it
    has, and without one it would sort after every dated message and never
    open its thread (a later reply would then give the thread its title)."""
    if raw.received_at is None:
        return None
    return raw.received_at if raw.received_at.tzinfo else raw.received_at.replace(tzinfo=UTC)


def _addresses(addrs: Iterable[Address]) -> list[dict[str, str]]:
    return [{"name": a.name, "address": a.address} for a in addrs if a.address]


def thread_and_store(
    conn: Connection,
    community: CommunityRef,
    raw: RawView,
    letter: Letter,
    parsed: ParsedMessage,
    config: PipelineConfig,
) -> Filed:
    if community.reply_token:
        letter = replies.bind_reply(conn, community.id, community.reply_token, letter)
    filed = file_letter(conn, community_id=community.id, raw_id=raw.id, letter=letter)
    # What only some messages have goes in an update of its own, keeping file_letter lean.
    extra: dict[str, object] = {}
    if parsed.events:
        extra["events"] = [event.to_json() for event in parsed.events]
    if parsed.from_ is not None and (claimed := impersonated_address(parsed.from_)):
        extra["from_impersonates"] = claimed[:320]
    if extra:
        message = Message.__table__
        conn.execute(update(message).where(message.c.id == filed.message_pk).values(**extra))
    if parsed.attachments:
        notes = attachment_notes(config, parsed.attachments)
        conn.execute(
            insert(Attachment.__table__),
            [
                {
                    "message_pk": filed.message_pk,
                    "filename": a.filename or "",
                    "content_type": a.content_type,
                    "size": a.size,
                    "sha256": hashlib.sha256(a.payload).hexdigest(),
                    "content_id": a.content_id,
                    "inline": a.inline,
                    "stored": not note,
                    "note": note,
                    "nested": a.nested.to_json() if a.nested else None,
                }
                for a, note in zip(parsed.attachments, notes, strict=True)
            ],
        )
    return filed


def index(filed: Filed, letter: Letter, derived: Derived | None) -> search.IndexEntry:
    """What the full-text index gets (no addresses); the pipeline writes a batch at once.
    `derived`: the parse process's analysis, used while the letter is what it was made of."""
    entry = derived.entry_for(filed.message_pk, letter) if derived is not None else None
    if entry is not None:
        return entry
    return search.index_entry(
        filed.message_pk, letter.subject, letter.visible_text, letter.from_name
    )


def fan_out(
    conn: Connection,
    config: PipelineConfig,
    routes: Routes,
    raw: RawView,
    filed: Filed,
    letter: Letter,
) -> int:
    """Queue a copy for thread participants this message did not already reach.

    Only addresses that may have copies get them (threads/copies.py); those an
    unverified message put on the thread wait for a moderator in copy_review.
    A reply-all reached everyone on its To/Cc; they must not get it twice.
    Delivery itself (composer, queue runner) is the outbound sender's job.
    """
    if raw.source not in LIVE_SOURCES:
        return 0
    if letter.auto_reply:
        # A moderator may publish an auto-reply; it is never mailed on (RFC 3834 section 2).
        return 0
    reached = {letter.from_addr, *(a["address"].lower() for a in [*letter.to, *letter.cc])}

    def ours(address: str) -> bool:
        return address in routes.by_address or address.endswith("@" + config.mail_domain)

    found = copy_audience.owed(
        conn,
        filed.thread_id,
        org_domains=config.org_domains,
        ours=ours,
        reached=reached,
        web=raw.source == "web",
    )
    owed, unvetted = found.recipients, found.unvetted
    if unvetted:
        stmt = insert_ignoring_conflict(conn, CopyReview.__table__, ["thread_id", "address"])
        now = utcnow()
        conn.execute(
            stmt,
            [
                {
                    "thread_id": filed.thread_id,
                    "address": address[:320],
                    "message_pk": pk,
                    "added_by": by[:320],
                    "state": "pending",
                    "actor": "",
                    "created_at": now,
                }
                for address, pk, by in unvetted
            ],
        )
    if owed:
        stmt = insert_ignoring_conflict(conn, Notification.__table__, ["message_pk", "recipient"])
        conn.execute(stmt, [{"message_pk": filed.message_pk, "recipient": a} for a in owed])
    return len(owed)


def remember_sender(conn: Connection, known: set[str], letter: Letter) -> None:
    """Senders become people without logging in, under the address's normal form.

    `known` is the caller's cache of senders already written (cleared when a batch
    is rolled back), so a busy sender costs one insert per process, not per message.
    """
    if not letter.from_addr or letter.from_addr in known:
        return
    # The same key a login uses (threads/people.py), so a sender who later logs in
    # is the same person; an address that is not one (invisible characters) is skipped.
    key = try_normalize(letter.from_addr)
    if key is not None:
        stmt = insert_ignoring_conflict(conn, Person.__table__, ["email"])
        conn.execute(stmt.values(email=key, name=letter.from_name, created_at=utcnow()))
    known.add(letter.from_addr)


def save_attachments(config: PipelineConfig, parsed: Iterable[ParsedMessage]) -> None:
    """Write attachment bytes content-addressed (DATA/attachments/ab/abcdef…), idempotently.

    Done before the transaction that references them: a crash in between
    leaves an unreferenced file, never a row pointing at nothing.
    """
    for message in parsed:
        notes = attachment_notes(config, message.attachments)
        for att, note in zip(message.attachments, notes, strict=True):
            if note:
                continue  # over a size limit: the raw message keeps the bytes
            digest = hashlib.sha256(att.payload).hexdigest()
            path = config.attachments_dir / digest[:2] / digest
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(att.payload)
            os.replace(tmp, path)


def attachment_notes(config: PipelineConfig, attachments: Sequence[ParsedAttachment]) -> list[str]:
    """For each attachment, "" when it is stored, or why not (the size limits in settings).

    Attachments count against the message's total in the order they appear, so
    the first ones are kept when a message carries too much. Pure: the store
    step and the attachment writer each call it and agree.
    """
    notes: list[str] = []
    total = 0
    for attachment in attachments:
        if attachment.size > config.attachment_max_bytes:
            notes.append(
                f"not stored: {_size(attachment.size)} is over the limit of "
                f"{_size(config.attachment_max_bytes)} per attachment"
            )
        elif total + attachment.size > config.message_attachments_max_bytes:
            notes.append(
                "not stored: the message's attachments are over the limit of "
                f"{_size(config.message_attachments_max_bytes)} in all"
            )
        else:
            total += attachment.size
            notes.append("")
    return notes


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB" if size < 10 * 1024 else f"{size / 1024:.0f} KB"
    return f"{size} bytes"
