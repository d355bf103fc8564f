"""Consent before a private cc thread is opened: candidates, their messages and
participants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Column,
    Index,
    String,
    UniqueConstraint,
)
from sqlmodel import Field

from threads.models.base import CandidateState, TableModel, ts, utcnow

# --- Consent (threads/consent.py) --------------------------------------------


class ConsentCandidate(TableModel, table=True):
    # A conversation a consent route brought in, waiting for its starter's decision.
    # Its mail stays raw (state candidate) until opened; then it runs the pipeline.
    __tablename__ = "consent_candidate"
    __table_args__ = (
        Index("ix_consent_candidate_community_created", "community_id", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    starter: str = Field(index=True, max_length=320)  # the first message's From, normalised
    starter_name: str = ""
    subject: str = ""
    excerpt: str = ""  # the opening message's first lines, for the nudge and the preview
    # Everyone on From/To/Cc of its messages: [{"name": .., "address": ..}], addresses normalised.
    participants: list[dict[str, str]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    org_recipients: int = 0  # distinct organisation addresses on the opening To/Cc
    # False for mail a mailbox had before it was connected: kept, never nudged.
    live: bool = True
    state: CandidateState = Field(default=CandidateState.candidate, sa_type=String(16), index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))
    nudged_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    decided_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    decided_by: str = Field(default="", max_length=320)
    decided_via: str = Field(default="", max_length=16)  # web, mail, cli, admin
    # The thread its mail was filed into once opened, and when participants were told.
    thread_id: int | None = Field(default=None, foreign_key="thread.id")
    announced_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))


class ConsentMessage(TableModel, table=True):
    # One raw message of a candidate; `message_id` finds the candidate a reply belongs to.
    __tablename__ = "consent_message"
    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="consent_candidate.id", index=True)
    raw_id: int = Field(foreign_key="raw_message.id", unique=True)
    message_id: str = Field(index=True, max_length=998)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))


class ConsentParticipant(TableModel, table=True):
    # Who is on a candidate, one row per address: "my candidates" is an index lookup.
    __tablename__ = "consent_participant"
    __table_args__ = (UniqueConstraint("candidate_id", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="consent_candidate.id")
    address: str = Field(index=True, max_length=320)
