"""What every table shares: UTC times, the typed table base, and the enumerations
stored in columns."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar, overload

from sqlalchemy import (
    Column,
    Table,
)
from sqlalchemy import DateTime as SADateTime
from sqlmodel import SQLModel


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


def ts(*, nullable: bool) -> Column:  # type: ignore[type-arg]
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
    # The posting address of an outside mailing list the community mirrors: the list's
    # mail comes in by its List-Id (or an address route); threads started on the web
    # go out to it. Never used to route incoming mail.
    list_address = "list"


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


# --- Outbound mail (bridge/outbound/sender.py) ----------------------------------------


class OutboundState(enum.StrEnum):
    queued = "queued"  # waiting for its next attempt
    sent = "sent"  # the relay (or the outbox) took it
    failed = "failed"  # given up: permanent refusal, or retried past the give-up time
    cancelled = "cancelled"  # the address was disabled before delivery


class TokenKind(enum.StrEnum):
    # What a personal token opens: the JSON API (as its owner), or only feed URLs.
    api = "api"
    feed = "feed"
