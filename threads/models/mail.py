"""Mail the bridge sends: notifications, the outbound queue, addresses and their
delivery state, subscriptions and preferences."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Column,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlmodel import Field

from threads.models.base import OutboundState, TableModel, ts, utcnow


class Notification(TableModel, table=True):
    # A copy of a message owed to one subscriber; the outbound sender delivers it.
    __table_args__ = (UniqueConstraint("message_pk", "recipient"),)
    id: int | None = Field(default=None, primary_key=True)
    message_pk: int = Field(foreign_key="message.id", index=True)
    recipient: str = Field(max_length=320)
    state: str = Field(default="queued", max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))


class OutboundMail(TableModel, table=True):
    # One composed message to one recipient, queued until the relay or the outbox took it.
    __tablename__ = "outbound_mail"
    __table_args__ = (Index("ix_outbound_mail_state_due", "state", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # post, notice, digest
    recipient: str = Field(index=True, max_length=320)
    message_id: str = Field(max_length=998)
    subject: str = ""
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    community_id: int | None = Field(default=None, foreign_key="community.id")
    thread_id: int | None = Field(default=None, foreign_key="thread.id")
    notification_id: int | None = Field(default=None, foreign_key="notification.id", index=True)
    state: OutboundState = Field(default=OutboundState.queued, sa_type=String(16))
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))
    last_error: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    # A sender's lease while it delivers (same scheme as raw_message, threads/queue.py).
    claimed_by: str = Field(default="", max_length=64)
    claimed_until: datetime | None = Field(default=None, sa_column=ts(nullable=True))


class MailAddress(TableModel, table=True):
    # What delivery learnt about one address: bounces, and whether mail to it stopped.
    __tablename__ = "mail_address"
    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(unique=True, max_length=320)
    hard_bounces: int = 0
    soft_bounces: int = 0
    last_bounce_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    # The first bounce since the address last worked: "bouncing since" on /me.
    first_bounce_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    last_reason: str = ""
    disabled: bool = False
    disabled_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))


class ThreadSubscription(TableModel, table=True):
    # A person's choice for one thread: muted (no mail) or watching (mail without being on cc).
    __tablename__ = "thread_subscription"
    __table_args__ = (UniqueConstraint("thread_id", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="thread.id", index=True)
    address: str = Field(index=True, max_length=320)
    state: str = Field(max_length=16)  # muted, watching
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))


class DeliveryPreference(TableModel, table=True):
    # How one address wants a community's mail: each message, a daily digest, or web only.
    __tablename__ = "delivery_preference"
    __table_args__ = (UniqueConstraint("community_id", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    address: str = Field(max_length=320)
    mode: str = Field(default="each", max_length=16)  # each, digest, web
    last_digest_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))


class MailEvent(TableModel, table=True):
    # A held message the sender acted on (bounce, reply command, forged reply) or looked at.
    __tablename__ = "mail_event"
    id: int | None = Field(default=None, primary_key=True)
    raw_id: int = Field(foreign_key="raw_message.id", unique=True)
    kind: str = Field(max_length=16)  # bounce, command, mismatch, none
    address: str = Field(default="", max_length=320)
    detail: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))
