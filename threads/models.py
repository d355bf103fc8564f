"""The archive's tables: communities and their routes, people, raw mail, threads, messages.

Raw bytes are the source of truth: every other table can be rebuilt from
`RawMessage` by `bridge reprocess`. Tables follow the SQLModel layering
(`XBase` shared fields -> `X(table=True)`); public output shapes live with the
code that returns them. Times are stored as timezone-aware UTC.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, overload

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy import DateTime as SADateTime
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
@overload
def as_utc(value: datetime | None) -> datetime | None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _ts(*, nullable: bool) -> Column:  # type: ignore[type-arg]
    # Required timestamps default to now on the Python side, for Core inserts too.
    return Column(
        SADateTime(timezone=True), nullable=nullable, default=None if nullable else utcnow
    )


if TYPE_CHECKING:

    class TableModel(SQLModel):
        # SQLModel sets `__table__` on every `table=True` class at run time but
        # does not declare it; the Core queries (threads/queries.py...) use it.
        __table__: ClassVar[Table]

else:
    TableModel = SQLModel


class Visibility(enum.StrEnum):
    org = "org"
    members = "members"
    public = "public"


class RawState(enum.StrEnum):
    """Where a raw message is in the pipeline; every state but done/duplicate needs a look."""

    pending = "pending"
    done = "done"
    duplicate = "duplicate"
    held = "held"
    failed = "failed"
    # Refused at the SMTP edge (bare LF, NUL, overlong line): the sender got a
    # permanent error; the bytes are kept so an admin can see what was refused.
    # Also a held message a moderator rejected (the sender was told why).
    rejected = "rejected"
    # A held message a moderator threw away without a word; the bytes stay.
    discarded = "discarded"
    # Consent routes (threads/consent.py): waiting for its thread's starter to open
    # it, kept private by them, or below the route's cc threshold (never shown).
    candidate = "candidate"
    private = "private"
    ignored = "ignored"
    # Its author withdrew it; the bytes follow BRIDGE_WITHDRAWN_RAW_DAYS.
    withdrawn = "withdrawn"


class HoldKind(enum.StrEnum):
    """Why a message is held: what code branches on. The reason text beside it is for people."""

    auth_failed = "auth_failed"  # an organisation From not proven by DKIM/SPF/DMARC or ARC
    loop = "loop"  # mail the bridge sent itself
    bounce = "bounce"  # a delivery status notification
    auto_reply = "auto_reply"  # out-of-office and other RFC 3834 replies
    confidential = "confidential"  # label, subject tag or encryption: admins only
    sensitivity = "sensitivity"  # a label that is not publishable: a moderator decides
    no_sender = "no_sender"  # no usable From address
    posting = "posting"  # the community's posting policy wants a moderator
    no_route = "no_route"  # no community is mapped to it
    archived = "archived"  # every community it routes to is archived
    invalid_reply = "invalid_reply"  # a reply token that is invalid, expired or unusable
    misused_reply = "misused_reply"  # someone used another person's reply address
    command = "command"  # a reply that is a command (mute, unsubscribe, withdraw)
    moderation = "moderation"  # a moderator's "approve" / "reject" answer to a held-mail notice
    too_large = "too_large"  # over a parse limit (size, MIME depth or parts)
    parse_timeout = "parse_timeout"  # parsing was stopped at BRIDGE_PARSE_TIMEOUT


class SenderCheck(enum.StrEnum):
    """How far a filed message's sender is proven: decides whom its To/Cc may subscribe."""

    verified = "verified"  # authenticated mail, a valid reply token, or a signed-in web post
    unverified = "unverified"  # nothing proved the From (common for outsiders' mail)
    approved = "approved"  # a moderator published it despite a hold
    unchecked = "unchecked"  # filed before senders were checked, or with checks off


class RouteKind(enum.StrEnum):
    address = "address"
    list_id = "list_id"


class Posting(enum.StrEnum):
    """Who may post to a community (by mail or on the web)."""

    members = "members"  # members and moderators; anyone else is held
    org = "org"  # the organisation's addresses and members; anyone else is held
    anyone = "anyone"  # anyone; outsiders' mail waits for a moderator


class RoutePolicy(enum.StrEnum):
    """What happens to mail a route brings in (threads/consent.py)."""

    open = "open"  # published at once: a community address on cc, a list
    consent = "consent"  # a candidate, seen by its participants only, until opened


class CandidateState(enum.StrEnum):
    candidate = "candidate"  # waiting for the starter (or a participant) to decide
    opened = "opened"  # published; later mail of the conversation is too
    private = "private"  # kept private: never published, never nudged again


class Role(enum.StrEnum):
    member = "member"
    moderator = "moderator"


class CommunityBase(SQLModel):
    # Fields an admin sets.
    slug: str = Field(index=True, unique=True, max_length=64)
    name: str = Field(max_length=200)
    description: str = ""
    # Stored as plain strings: adding a value later needs no enum-type migration.
    visibility: Visibility = Field(default=Visibility.org, sa_type=String(16))
    posting: Posting = Field(
        default=Posting.org, sa_type=String(16), sa_column_kwargs={"server_default": "org"}
    )


class Community(CommunityBase, table=True):
    if TYPE_CHECKING:
        __table__: ClassVar[Table]
    # A place where bridged threads are filed; private unless an admin says otherwise.
    id: int | None = Field(default=None, primary_key=True)
    archived: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    # Kept by triggers on `thread` (migration 0012); never written by the application.
    thread_total: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    message_total: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Route(TableModel, table=True):
    # Maps a list address or List-Id to a community; values are stored lower-cased.
    __table_args__ = (UniqueConstraint("kind", "value"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    kind: RouteKind = Field(sa_type=String(16))
    value: str = Field(max_length=320)
    policy: RoutePolicy = Field(
        default=RoutePolicy.open, sa_type=String(16), sa_column_kwargs={"server_default": "open"}
    )
    # Consent routes: a conversation needs this many distinct organisation
    # addresses on To/Cc to become a candidate; below it the mail is ignored.
    cc_threshold: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Person(TableModel, table=True):
    # Someone seen in mail or logged in; identified by a normalised address
    # (threads/people.py: normalize_email).
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True, unique=True, max_length=320)
    name: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    is_admin: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    # A disabled person cannot log in, loses every session and reads only public communities.
    disabled: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})


class Membership(TableModel, table=True):
    # A person's role in one community: member or moderator.
    __table_args__ = (UniqueConstraint("community_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    role: Role = Field(default=Role.member, sa_type=String(16))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class LoginToken(TableModel, table=True):
    # A magic link mailed to an address: only hashes are stored, it works once,
    # before it expires, in the browser that asked for it (browser_hash).
    __tablename__ = "login_token"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    email: str = Field(index=True, max_length=320)
    browser_hash: str = Field(max_length=64)
    client: str = Field(default="", index=True, max_length=64)  # the asking client's address
    next_path: str = Field(default="/", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    expires_at: datetime = Field(sa_column=_ts(nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class WebSession(TableModel, table=True):
    # A logged-in browser; the cookie carries the signed id, the row its hash.
    # Deleting the row ends the session (logout, a disabled person).
    __tablename__ = "web_session"
    id: int | None = Field(default=None, primary_key=True)
    id_hash: str = Field(unique=True, max_length=64)
    person_id: int = Field(foreign_key="person.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    expires_at: datetime = Field(sa_column=_ts(nullable=False))


class ModerationDecision(TableModel, table=True):
    # A moderator's answer to a held message: approve (publish despite the hold),
    # reject (with a reason mailed to the sender) or discard.
    __tablename__ = "moderation_decision"
    id: int | None = Field(default=None, primary_key=True)
    raw_id: int = Field(foreign_key="raw_message.id", index=True)
    decision: str = Field(max_length=16)
    actor: str = Field(max_length=320)
    reason: str = ""
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class ModerationNotice(TableModel, table=True):
    # That a held message was mailed to one community's moderators (or the admins):
    # each held message is announced once, and the last one's time paces the digests.
    __tablename__ = "moderation_notice"
    __table_args__ = (UniqueConstraint("raw_id", "community_id"),)
    id: int | None = Field(default=None, primary_key=True)
    raw_id: int = Field(foreign_key="raw_message.id", index=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    notified_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class ModerationDigest(TableModel, table=True):
    # One digest of held messages mailed to one moderator: its numbered entries, so an
    # answer to the digest ("approve 1 3", "reject 2 off topic") names them by number.
    __tablename__ = "moderation_digest"
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    raw_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class AuditEntry(TableModel, table=True):
    # One admin action: who did what to which object, when, and the state before and after.
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    actor: str = Field(max_length=320)  # an address, or "cli:USER" from the shell
    action: str = Field(index=True, max_length=64)
    target: str = Field(default="", max_length=400)
    before: dict[str, object] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, object] | None = Field(default=None, sa_column=Column(JSON))


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
    received_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
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
    processed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # A worker's lease on a pending message (threads/queue.py); an expired lease
    # means its worker died, and another worker takes the message over.
    claimed_by: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    claimed_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class Thread(TableModel, table=True):
    # One conversation in one community; counters are kept by the store.
    __table_args__ = (Index("ix_thread_community_last", "community_id", "last_activity_at"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    subject: str = ""
    started_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_activity_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
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
    date: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
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
    withdrawn_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


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


class Notification(TableModel, table=True):
    # A copy of a message owed to one subscriber; the outbound sender delivers it.
    __table_args__ = (UniqueConstraint("message_pk", "recipient"),)
    id: int | None = Field(default=None, primary_key=True)
    message_pk: int = Field(foreign_key="message.id", index=True)
    recipient: str = Field(max_length=320)
    state: str = Field(default="queued", max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


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
    lease_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    # OAuth2 client (mail/oauth.py OAuthClient as JSON): token URL, client id, and the
    # names of the secret's variable or key files; never a secret or a token.
    oauth: str = Field(default="", max_length=2048)
    # What the polling process last saw, for `bridge route list` and the admin pages:
    # connected or retrying, the last error in plain words, and the token's expiry.
    status: str = Field(default="", max_length=32)
    status_error: str = Field(default="", max_length=512)
    status_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    token_expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


# --- Outbound mail (bridge/outbound/sender.py) ----------------------------------------


class OutboundState(enum.StrEnum):
    queued = "queued"  # waiting for its next attempt
    sent = "sent"  # the relay (or the outbox) took it
    failed = "failed"  # given up: permanent refusal, or retried past the give-up time
    cancelled = "cancelled"  # the address was disabled before delivery


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
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    last_error: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # A sender's lease while it delivers (same scheme as raw_message, threads/queue.py).
    claimed_by: str = Field(default="", max_length=64)
    claimed_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class MailAddress(TableModel, table=True):
    # What delivery learnt about one address: bounces, and whether mail to it stopped.
    __tablename__ = "mail_address"
    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(unique=True, max_length=320)
    hard_bounces: int = 0
    soft_bounces: int = 0
    last_bounce_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # The first bounce since the address last worked: "bouncing since" on /me.
    first_bounce_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_reason: str = ""
    disabled: bool = False
    disabled_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class ThreadSubscription(TableModel, table=True):
    # A person's choice for one thread: muted (no mail) or watching (mail without being on cc).
    __tablename__ = "thread_subscription"
    __table_args__ = (UniqueConstraint("thread_id", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="thread.id", index=True)
    address: str = Field(index=True, max_length=320)
    state: str = Field(max_length=16)  # muted, watching
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


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
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class DeliveryPreference(TableModel, table=True):
    # How one address wants a community's mail: each message, a daily digest, or web only.
    __tablename__ = "delivery_preference"
    __table_args__ = (UniqueConstraint("community_id", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    address: str = Field(max_length=320)
    mode: str = Field(default="each", max_length=16)  # each, digest, web
    last_digest_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class MailEvent(TableModel, table=True):
    # A held message the sender acted on (bounce, reply command, forged reply) or looked at.
    __tablename__ = "mail_event"
    id: int | None = Field(default=None, primary_key=True)
    raw_id: int = Field(foreign_key="raw_message.id", unique=True)
    kind: str = Field(max_length=16)  # bounce, command, mismatch, none
    address: str = Field(default="", max_length=320)
    detail: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


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
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    nudged_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    decided_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    decided_by: str = Field(default="", max_length=320)
    decided_via: str = Field(default="", max_length=16)  # web, mail, cli, admin
    # The thread its mail was filed into once opened, and when participants were told.
    thread_id: int | None = Field(default=None, foreign_key="thread.id")
    announced_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class ConsentMessage(TableModel, table=True):
    # One raw message of a candidate; `message_id` finds the candidate a reply belongs to.
    __tablename__ = "consent_message"
    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="consent_candidate.id", index=True)
    raw_id: int = Field(foreign_key="raw_message.id", unique=True)
    message_id: str = Field(index=True, max_length=998)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class ConsentParticipant(TableModel, table=True):
    # Who is on a candidate, one row per address: "my candidates" is an index lookup.
    __tablename__ = "consent_participant"
    __table_args__ = (UniqueConstraint("candidate_id", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    candidate_id: int = Field(foreign_key="consent_candidate.id")
    address: str = Field(index=True, max_length=320)


class ThreadRead(TableModel, table=True):
    # A logged-in reader opened a thread (first time only): the managers' reach figure.
    __tablename__ = "thread_read"
    __table_args__ = (UniqueConstraint("thread_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="thread.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    first_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class ExpertOptOut(TableModel, table=True):
    # Someone who asked not to be listed as an expert (/me): never in "who knows X".
    __tablename__ = "expert_opt_out"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, max_length=320)  # normalised (threads/people.py)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class TokenKind(enum.StrEnum):
    # What a personal token opens: the JSON API (as its owner), or only feed URLs.
    api = "api"
    feed = "feed"


class AccessToken(TableModel, table=True):
    # A personal token for scripts (API) or feed readers (feeds only); only the
    # sha256 of the secret is kept, so a copy of the database opens nothing.
    __tablename__ = "access_token"
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    kind: TokenKind = Field(sa_type=String(8))
    name: str = Field(default="", max_length=200)
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
