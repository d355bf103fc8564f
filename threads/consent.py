"""Candidates: conversations a consent route brought in, kept private until opened.

A consent route (an IMAP-connected mailbox by default) does not publish what
it receives. The first message of a conversation starts a *candidate*; its
mail stays raw (RawState.candidate), seen by nobody but the conversation's
participants, until the starter (or, per BRIDGE_CONSENT_OPENERS, any
participant) opens it or keeps it private. Opening hands the raw messages
back to the pipeline, which files them like any other mail; later mail of an
opened conversation is published as it arrives, of a private one never.

This module is the candidates' bookkeeping, free of mail and web protocols.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from threads.db import insert_ignoring_conflict
from threads.models import (
    CandidateState,
    ConsentCandidate,
    ConsentMessage,
    ConsentParticipant,
    RawMessage,
    RawState,
    utcnow,
)
from threads.people import is_org_address, try_normalize

CAND = ConsentCandidate.__table__
CMSG = ConsentMessage.__table__
PEOPLE = ConsentParticipant.__table__
RAW = RawMessage.__table__


def org_recipients(
    recipients: Iterable[str], org_domains: Iterable[str], ours: Iterable[str] = ()
) -> set[str]:
    """The distinct organisation addresses among To/Cc, the bridge's own left out.

    With no organisation domains configured every address counts (the bridge
    cannot tell colleagues from outsiders), as for posting.
    """
    domains = list(org_domains)
    skip = {a.lower() for a in ours}
    found: set[str] = set()
    for address in recipients:
        key = try_normalize(address)
        if key is None or key in skip:
            continue
        if not domains or is_org_address(key, domains):
            found.add(key)
    return found


def participants_of(*groups: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """From/To/Cc entries merged, one per normalised address, first name seen kept."""
    seen: dict[str, str] = {}
    for group in groups:
        for entry in group:
            key = try_normalize(entry.get("address", ""))
            if key is not None and (key not in seen or not seen[key]):
                seen[key] = entry.get("name", "") or seen.get(key, "")
    return [{"name": name, "address": address} for address, name in seen.items()]


def candidate_for(conn: Connection, community_id: int, message_ids: Sequence[str]) -> Any:
    """The candidate in this community holding any of these Message-IDs (own or referenced)."""
    if not message_ids:
        return None
    return conn.execute(
        select(CAND)
        .join(CMSG, CMSG.c.candidate_id == CAND.c.id)
        .where(CAND.c.community_id == community_id, CMSG.c.message_id.in_(list(message_ids)))
        .order_by(CAND.c.id)
        .limit(1)
    ).first()


def candidate_of_raw(conn: Connection, raw_id: int) -> Any:
    """The candidate a raw message belongs to, if any."""
    return conn.execute(
        select(CAND).join(CMSG, CMSG.c.candidate_id == CAND.c.id).where(CMSG.c.raw_id == raw_id)
    ).first()


def start_candidate(
    conn: Connection,
    *,
    community_id: int,
    raw_id: int,
    message_id: str,
    starter: str,
    starter_name: str,
    subject: str,
    excerpt: str,
    participants: list[dict[str, str]],
    org_count: int,
    live: bool,
) -> int:
    """A new candidate holding its first message; returns its id."""
    candidate_id: int = conn.execute(
        insert(CAND)
        .values(
            community_id=community_id,
            starter=try_normalize(starter) or starter.lower(),
            starter_name=starter_name,
            subject=subject[:500],
            excerpt=excerpt[:600],
            participants=participants,
            org_recipients=org_count,
            live=live,
            state=CandidateState.candidate.value,
            created_at=utcnow(),
            decided_by="",
            decided_via="",
        )
        .returning(CAND.c.id)
    ).scalar_one()
    add_message(conn, candidate_id, raw_id, message_id, [])
    _index_people(conn, candidate_id, participants)
    return candidate_id


def add_message(
    conn: Connection,
    candidate_id: int,
    raw_id: int,
    message_id: str,
    participants: list[dict[str, str]],
) -> None:
    """File one more raw message under a candidate; its people join the participants."""
    conn.execute(
        insert(CMSG).values(
            candidate_id=candidate_id, raw_id=raw_id, message_id=message_id, created_at=utcnow()
        )
    )
    if participants:
        known = conn.execute(select(CAND.c.participants).where(CAND.c.id == candidate_id)).scalar()
        merged = participants_of(known or [], participants)
        if len(merged) != len(known or []):
            conn.execute(update(CAND).where(CAND.c.id == candidate_id).values(participants=merged))
            _index_people(conn, candidate_id, merged)


def _index_people(conn: Connection, candidate_id: int, people: list[dict[str, str]]) -> None:
    addresses = sorted({p["address"] for p in people if p.get("address")})
    if addresses:
        stmt = insert_ignoring_conflict(conn, PEOPLE, ["candidate_id", "address"])
        conn.execute(stmt, [{"candidate_id": candidate_id, "address": a} for a in addresses])


def is_participant(candidate: Any, address: str | None) -> bool:
    key = try_normalize(address or "")
    return key is not None and any(p["address"] == key for p in candidate.participants)


def may_decide(
    candidate: Any, address: str | None, openers: str, org_domains: Iterable[str] = ()
) -> bool:
    """Whether `address` may open or keep private this candidate (BRIDGE_CONSENT_OPENERS).

    Only the organisation's people decide what its communities publish: when
    an outsider started the conversation, its colleagues on it decide instead.
    """
    key = try_normalize(address or "")
    if key is None:
        return False
    domains = list(org_domains)
    if domains and not is_org_address(key, domains):
        return False
    if key == candidate.starter:
        return True
    outsider_started = bool(domains) and not is_org_address(candidate.starter, domains)
    return (openers == "participants" or outsider_started) and is_participant(candidate, key)


def nudges_starter(candidate: Any, org_domains: Iterable[str]) -> bool:
    """Whether the starter gets the nudge: not an outsider (they cannot decide)."""
    domains = list(org_domains)
    return not domains or is_org_address(candidate.starter, domains)


def decide(conn: Connection, candidate_id: int, decision: str, actor: str, via: str) -> bool:
    """Open a candidate or keep it private; False when that is no longer possible.

    A candidate may be opened or kept private; a private one may still be
    opened (its starter changed their mind); an opened one stays opened
    (withdrawing messages is how published mail goes away). Opening hands the
    candidate's raw messages back to the pipeline.
    """
    target = CandidateState(decision)
    allowed = {
        CandidateState.opened: (CandidateState.candidate, CandidateState.private),
        CandidateState.private: (CandidateState.candidate,),
    }.get(target, ())
    changed = conn.execute(
        update(CAND)
        .where(CAND.c.id == candidate_id, CAND.c.state.in_([s.value for s in allowed]))
        .values(state=target.value, decided_at=utcnow(), decided_by=actor[:320], decided_via=via)
    ).rowcount
    if not changed:
        return False
    raw_ids = select(CMSG.c.raw_id).where(CMSG.c.candidate_id == candidate_id)
    if target is CandidateState.opened:
        conn.execute(
            update(RAW)
            .where(RAW.c.id.in_(raw_ids))
            .values(state=RawState.pending.value, reason="", claimed_by="", claimed_until=None)
        )
    else:
        conn.execute(
            update(RAW)
            .where(RAW.c.id.in_(raw_ids))
            .values(state=RawState.private.value, reason=PRIVATE_REASON)
        )
    return True


PRIVATE_REASON = "consent: kept private by a participant; never published"


def candidates_of(conn: Connection, address: str, *, limit: int = 100) -> list[Any]:
    """The candidates `address` takes part in, newest first (their own page)."""
    key = try_normalize(address)
    if key is None:
        return []
    rows = conn.execute(
        select(CAND)
        .join(PEOPLE, PEOPLE.c.candidate_id == CAND.c.id)
        .where(PEOPLE.c.address == key, CAND.c.state != CandidateState.opened.value)
        .order_by(CAND.c.created_at.desc(), CAND.c.id.desc())
        .limit(limit)
    )
    return list(rows)


def waiting_count(conn: Connection, address: str) -> int | None:
    """None if `address` takes part in no unopened candidate, else how many still wait."""
    key = try_normalize(address)
    if key is None:
        return None
    states = conn.execute(
        select(CAND.c.state)
        .join(PEOPLE, PEOPLE.c.candidate_id == CAND.c.id)
        .where(PEOPLE.c.address == key, CAND.c.state != CandidateState.opened.value)
    ).scalars()
    found = list(states)
    return sum(s == CandidateState.candidate.value for s in found) if found else None


def nudges_sent_since(conn: Connection, starter: str, since: datetime) -> int:
    """How many nudges `starter` was sent since `since` (the daily cap)."""
    return int(
        conn.execute(
            select(func.count()).where(CAND.c.starter == starter, CAND.c.nudged_at >= since)
        ).scalar_one()
    )
