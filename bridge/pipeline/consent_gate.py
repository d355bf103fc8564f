"""The consent gate: what a consent route does with one message (threads/consent.py).

Runs after route and authorize, per community, inside the pipeline's write
transaction: publish it, keep it with its candidate, start a candidate, or
ignore it below the route's cc threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, select

from bridge.config import PipelineConfig
from bridge.pipeline.steps import LIVE_SOURCES, CommunityRef, RawView, Routes
from threads import consent
from threads.models import CandidateState, ConsentMessage, Message, RawState, as_utc, utcnow
from threads.people import try_normalize
from threads.store import Letter


@dataclass(frozen=True, slots=True)
class Gate:
    """What consent_gate decided for one message in one consent-routed community.

    publish: file it as usual; `released` names the opened candidate whose held
    mail this is (its participants had it by cc: no copies are mailed). Not
    published: the raw message ends in `state` with `reason`; `new_candidate`
    is set when this message started one whose starter is to be nudged.
    """

    publish: bool
    state: RawState | None = None
    reason: str = ""
    released: int | None = None
    new_candidate: int | None = None


def consent_gate(
    conn: Connection,
    config: PipelineConfig,
    routes: Routes,
    community: CommunityRef,
    raw: RawView,
    letter: Letter,
    *,
    may_start: bool = True,
) -> Gate:
    """Publish, keep as a candidate, or ignore one message in a consent-routed community.

    In order: a raw message already filed under a candidate follows its
    decision (reprocess, and the release of an opened one); mail of a known
    candidate joins it; a reply into a thread already published here is
    published (an opened conversation continues in the open); anything else
    is a new conversation, a candidate when it reached enough colleagues.
    `may_start` is False when the message is also published in an open
    community: then a new conversation is simply left out here.
    """
    if (held := consent.candidate_of_raw(conn, raw.id)) is not None:
        if held.community_id == community.id:
            return _follow(held, released=True)
        return Gate(False, reason=f"consent: already held in candidate {held.id}")
    chain = [letter.message_id, *letter.in_reply_to, *letter.references]
    if (known := consent.candidate_for(conn, community.id, chain)) is not None:
        if known.state == CandidateState.opened:
            return Gate(True)
        if _holds_message(conn, known.id, letter.message_id):
            return Gate(False, RawState.duplicate, f"Message-ID already in candidate {known.id}")
        people = _people(letter, _ours(config, routes, letter))
        consent.add_message(conn, known.id, raw.id, letter.message_id, people)
        return _follow(known, released=False)
    if _replies_to_published(conn, community.id, [*letter.in_reply_to, *letter.references]):
        return Gate(True)
    if not may_start:
        return Gate(False, reason=f"consent: a new conversation, left out of {community.slug}")
    return _start(conn, config, routes, community, raw, letter)


def _follow(candidate: Any, *, released: bool) -> Gate:
    """A message of a known candidate: its decision decides."""
    if candidate.state == CandidateState.opened:
        return Gate(True, released=candidate.id if released else None)
    if candidate.state == CandidateState.private:
        return Gate(False, RawState.private, consent.PRIVATE_REASON)
    return Gate(False, RawState.candidate, _waiting(candidate.starter, candidate.id))


def _waiting(starter: str, candidate_id: int) -> str:
    return f"consent: waiting for {starter} to open this conversation (candidate {candidate_id})"


def _start(
    conn: Connection,
    config: PipelineConfig,
    routes: Routes,
    community: CommunityRef,
    raw: RawView,
    letter: Letter,
) -> Gate:
    """A new conversation: a candidate if it reached enough colleagues, else ignored."""
    ours = _ours(config, routes, letter)
    org = consent.org_recipients(
        (a["address"] for a in [*letter.to, *letter.cc]), config.org_domains, ours
    )
    if len(org) < community.cc_threshold:
        return Gate(
            False,
            RawState.ignored,
            f"below the cc threshold: {len(org)} organisation address"
            f"{'' if len(org) == 1 else 'es'} on To/Cc, the route needs {community.cc_threshold}",
        )
    live = _nudge_worthy(raw)
    candidate_id = consent.start_candidate(
        conn,
        community_id=community.id,
        raw_id=raw.id,
        message_id=letter.message_id,
        starter=letter.from_addr,
        starter_name=letter.from_name,
        subject=letter.subject,
        excerpt=_excerpt(letter.visible_text),
        participants=_people(letter, ours),
        org_count=len(org),
        live=live,
    )
    starter = try_normalize(letter.from_addr) or letter.from_addr
    reason = _waiting(starter, candidate_id)
    return Gate(False, RawState.candidate, reason, None, candidate_id if live else None)


# A conversation that reached the bridge longer ago than this (mail re-read by
# `reprocess` under today's threshold, a retry after a long outage) has moved
# on: it becomes a candidate its participants can open, but nobody is mailed.
NUDGE_WITHIN = timedelta(days=7)


def _nudge_worthy(raw: RawView) -> bool:
    """Mail a mailbox had before it was connected, and old mail, are never nudged about."""
    if raw.source not in LIVE_SOURCES:
        return False
    received = as_utc(raw.received_at)
    return received is None or utcnow() - received <= NUDGE_WITHIN


def _ours(config: PipelineConfig, routes: Routes, letter: Letter) -> set[str]:
    """The bridge's own addresses on this letter: the routes' and its mail domain's."""
    domain = "@" + config.mail_domain.lower()
    on_letter = {
        a["address"].lower() for a in [*letter.to, *letter.cc, {"address": letter.from_addr}]
    }
    return set(routes.by_address) | {a for a in on_letter if a.endswith(domain)}


def _people(letter: Letter, ours: set[str]) -> list[dict[str, str]]:
    """From/To/Cc, without the bridge's own addresses (a route is not a participant)."""
    sender = {"name": letter.from_name, "address": letter.from_addr}
    return [
        p
        for p in consent.participants_of([sender], letter.to, letter.cc)
        if p["address"] not in ours
    ]


def _excerpt(text: str, lines: int = 6) -> str:
    """The opening lines the nudge and the candidate's preview show."""
    kept = [line.rstrip() for line in text.strip().splitlines()[:lines]]
    return "\n".join(kept)[:600]


def _holds_message(conn: Connection, candidate_id: int, message_id: str) -> bool:
    cm = ConsentMessage.__table__
    return (
        conn.execute(
            select(cm.c.id).where(cm.c.candidate_id == candidate_id, cm.c.message_id == message_id)
        ).first()
        is not None
    )


def _replies_to_published(conn: Connection, community_id: int, ids: Sequence[str]) -> bool:
    """Whether a referenced message is published in this community (placeholders do not
    count: a missing parent someone referenced is not a published conversation)."""
    if not ids:
        return False
    m = Message.__table__
    return (
        conn.execute(
            select(m.c.id).where(
                m.c.community_id == community_id,
                m.c.message_id.in_(list(dict.fromkeys(ids))),
                m.c.placeholder.is_(False),
            )
        ).first()
        is not None
    )
