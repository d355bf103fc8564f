"""The archive: raw mail as received, threads, messages, attachments, connected mailbox
folders, moderation and reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlmodel import Field

from threads.models.base import HoldKind, RawState, RoutePolicy, SenderCheck, TableModel, ts, utcnow


class ModerationDecision(TableModel, table=True):
    # A moderator's answer to a held message: approve (publish despite the hold),
    # reject (with a reason mailed to the sender) or discard.
    __tablename__ = "moderation_decision"
    id: int | None = Field(default=None, primary_key=True)
    raw_id: int = Field(foreign_key="raw_message.id", index=True)
    decision: str = Field(max_length=16)
    actor: str = Field(max_length=320)
    reason: str = ""
    at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))


class ModerationNotice(TableModel, table=True):
    # That a held message was mailed to one community's moderators (or the admins):
    # each held message is announced once, and the last one's time paces the digests.
    __tablename__ = "moderation_notice"
    __table_args__ = (UniqueConstraint("raw_id", "community_id"),)
    id: int | None = Field(default=None, primary_key=True)
    raw_id: int = Field(foreign_key="raw_message.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    notified_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))


class ModerationDigest(TableModel, table=True):
    # One digest of held messages mailed to one moderator: its numbered entries, so an
    # answer to the digest ("approve 1 3", "reject 2 off topic") names them by number.
    __tablename__ = "moderation_digest"
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    raw_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))


class RawMessage(TableModel, table=True):
    # Exactly what arrived, with its envelope; written before anything else happens.
    __tablename__ = "raw_message"
    __table_args__ = (
        Index("ix_raw_message_state_id", "state", "id"),
        # Counts by state and source (/metrics) from the index alone: the row itself
        # holds the raw bytes, which a scan would have to read through.
        Index("ix_raw_message_state_source", "state", "source"),
    )
    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(unique=True, max_length=64)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int
    source: str = Field(max_length=32)  # smtp, imap, import, web, demo
    source_ref: str = ""  # e.g. the file an import read, or the IMAP folder and UID
    # A community chosen by the source itself (import --community, a mapped IMAP folder).
    community_hint: str = Field(default="", max_length=64)
    mail_from: str = ""
    rcpt_to: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))
    state: RawState = Field(default=RawState.pending, sa_type=String(16))
    reason: str = ""
    # Set with state held (else NULL): what the hold is, for code; `reason` says it for people.
    hold_kind: HoldKind | None = Field(default=None, sa_type=String(16), nullable=True)
    # The sender-authentication verdict (mail/sender_auth Verdict.to_json), when one was made.
    auth: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    attempts: int = 0
    # Filled by the parse step so `bridge log` can show them without re-parsing.
    message_id: str = Field(default="", max_length=998)
    subject: str = ""
    processed_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    # A worker's lease on a pending message (threads/queue.py); an expired lease
    # means its worker died, and another worker takes the message over.
    claimed_by: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    claimed_until: datetime | None = Field(default=None, sa_column=ts(nullable=True))


class Thread(TableModel, table=True):
    # One conversation in one community; counters are kept by the store.
    __table_args__ = (Index("ix_thread_community_last", "community_id", "last_activity_at"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    subject: str = ""
    started_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    last_activity_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    message_count: int = 0
    # How many distinct people the first message reached by To/Cc: the thread's original audience.
    original_recipients: int = 0


class Message(TableModel, table=True):
    # A message filed in a community; a placeholder stands for a referenced but missing one.
    __table_args__ = (
        UniqueConstraint("community_id", "message_id"),
        Index("ix_message_thread_date", "thread_id", "date"),
        # Subject fallback (threads/store.py) reads one subject within a date window.
        Index("ix_message_subject_date", "community_id", "norm_subject", "date"),
        Index("ix_message_thread_key", "community_id", "thread_key"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    thread_id: int = Field(foreign_key="thread.id")
    raw_id: int | None = Field(default=None, foreign_key="raw_message.id", index=True)
    placeholder: bool = False
    message_id: str = Field(max_length=998)
    chain: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    thread_key: str | None = Field(default=None, max_length=64)
    subject: str = ""
    norm_subject: str = ""
    # Subject fallback state (threads/threading/): a reference-less reply, an
    # opening message, and whether this row was placed in its thread by subject.
    reply_without_refs: bool = False
    opens_thread: bool = False
    subject_linked: bool = False
    from_name: str = ""
    from_addr: str = Field(default="", index=True, max_length=320)
    to_addrs: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON))
    cc_addrs: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON))
    date: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    visible_text: str = ""
    quoted_text: str = ""
    signature: str = ""
    html: str | None = None
    auto_reply: bool = False
    sensitivity: str | None = None
    attachment_count: int = 0
    # Calendar invites the message carries (mail/calendar.py CalendarEvent.to_json).
    events: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    # The address the From display name claims when it is not the sender's own.
    from_impersonates: str | None = Field(default=None, max_length=320)
    # Whether the From was proven (bridge/pipeline/rules.py); an unverified message's To/Cc
    # subscribes nobody without a moderator (threads/copies.py).
    sender_check: SenderCheck = Field(
        default=SenderCheck.unchecked,
        sa_type=String(16),
        sa_column_kwargs={"server_default": "unchecked"},
    )
    # Set when its author withdrew it: the row stays a placeholder (threading
    # keeps its place), its text, attachments and index entry are gone.
    withdrawn_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))


class Attachment(TableModel, table=True):
    # A file sent with a message; the bytes live content-addressed under DATA/attachments.
    id: int | None = Field(default=None, primary_key=True)
    message_pk: int = Field(foreign_key="message.id", index=True)
    filename: str = ""
    content_type: str = "application/octet-stream"
    size: int = 0
    sha256: str = Field(max_length=64)
    content_id: str | None = None
    inline: bool = False
    # False when over a size limit: listed with its size and `note`, bytes only in the raw mail.
    stored: bool = Field(default=True, sa_column_kwargs={"server_default": "1"})
    note: str = Field(default="", sa_column_kwargs={"server_default": ""})
    # Forwarded mail (message/rfc822) summarised (mail/mime.py ForwardedMessage.to_json).
    nested: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class ImapFolder(TableModel, table=True):
    # A mailbox folder polled into a community (mail/imap.py), with its checkpoint and
    # the lease of the one process polling it. Secrets are named here, never stored.
    __tablename__ = "imap_folder"
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    # imap[s]://user[;AUTH=XOAUTH2]@host:port/FOLDER, normalised; never with a password.
    url: str = Field(unique=True, max_length=512)
    password_env: str = Field(default="", max_length=128)  # the variable's name
    secret_file: str = Field(default="", max_length=1024)  # the file's path
    after_action: str = Field(default="leave", max_length=256)  # leave, flag[:KW], move:FOLDER
    origin: str = Field(default="cli", max_length=16)  # cli (route add) or settings
    # A connected mailbox is someone's inbox: consent unless an admin says open.
    # (The server default keeps folders added before policies existed open.)
    policy: RoutePolicy = Field(
        default=RoutePolicy.consent,
        sa_type=String(16),
        sa_column_kwargs={"server_default": "open"},
    )
    cc_threshold: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # UIDs and UIDVALIDITY are unsigned 32-bit: beyond PostgreSQL's INTEGER.
    uidvalidity: int | None = Field(default=None, sa_type=BigInteger)
    last_uid: int = Field(default=0, sa_type=BigInteger)
    lease_holder: str = Field(default="", max_length=64)
    lease_until: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))
    # OAuth2 client (mail/oauth.py OAuthClient as JSON): token URL, client id, and the
    # names of the secret's variable or key files; never a secret or a token.
    oauth: str = Field(default="", max_length=2048)
    # What the polling process last saw, for `bridge route list` and the admin pages:
    # connected or retrying, the last error in plain words, and the token's expiry.
    status: str = Field(default="", max_length=32)
    status_error: str = Field(default="", max_length=512)
    status_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    token_expires_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))


class CopyReview(TableModel, table=True):
    # An address an unverified message put on a thread's To/Cc: it gets no copies
    # until a moderator approves it (threads/copies.py).
    __tablename__ = "copy_review"
    __table_args__ = (UniqueConstraint("thread_id", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="thread.id", index=True)
    address: str = Field(max_length=320)
    # The message that added it, and its sender, as moderators are shown them.
    message_pk: int | None = Field(default=None, foreign_key="message.id")
    added_by: str = Field(default="", max_length=320)
    state: str = Field(default="pending", max_length=16)  # pending, approved, denied
    actor: str = Field(default="", max_length=320)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))


class ThreadRead(TableModel, table=True):
    # A logged-in reader opened a thread (first time only): the managers' reach figure.
    __tablename__ = "thread_read"
    __table_args__ = (UniqueConstraint("thread_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="thread.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    first_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))


class ThreadSeen(TableModel, table=True):
    # How far a logged-in reader has read a thread: every message whose raw mail id is up
    # to this was on a page they opened. Raw ids grow with arrival (a message's own row id
    # does not: a parent arriving after its reply fills an older placeholder row).
    __tablename__ = "thread_seen"
    __table_args__ = (UniqueConstraint("person_id", "thread_id"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    thread_id: int = Field(foreign_key="thread.id", index=True)
    seen_up_to: int = 0
    seen_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))


class LearnedSignature(TableModel, table=True):
    # What the trimmer learnt of one sender address's undelimited signature
    # (mail/trim/learned.py): the line keys of their latest messages' tails and the
    # block those share. Keys are hashes: nothing here can be shown as text.
    __tablename__ = "learned_signature"
    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(max_length=320, unique=True)
    # One entry per message, oldest first: {"m": message key, "p": [message pks],
    # "k": [line keys], "a": text above them}.
    tails: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    block: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))
