"""The envelope every intake adapter hands over with the raw bytes, and the port it hands it to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Envelope:
    """How a message reached us: SMTP envelope, or where an import or poll found it."""

    source: str  # smtp, imap, import, web, demo
    mail_from: str = ""
    rcpt_to: tuple[str, ...] = ()
    source_ref: str = ""  # file path, IMAP folder/UID, peer address...
    community_hint: str = ""  # slug, when the source itself says where the mail belongs


@dataclass(frozen=True, slots=True)
class Receipt:
    """What `Inbox.accept` promises: the bytes are committed under this queue id."""

    raw_id: int
    duplicate: bool

    @property
    def queue_id(self) -> str:
        return f"CB{self.raw_id:08d}"


class Inbox(Protocol):
    """The one entry point for mail: durable before it returns."""

    def accept(self, raw: bytes, envelope: Envelope) -> Receipt: ...


@runtime_checkable
class RejectLog(Protocol):
    """Where an edge records mail it refused, for the admin log (never published)."""

    def record_rejected(self, raw: bytes, envelope: Envelope, reason: str) -> None: ...


@runtime_checkable
class BatchInbox(Inbox, Protocol):
    """An inbox that can also commit several messages in one transaction (same promise each).

    The SMTP listener uses it for group commit: sessions that finish DATA while a
    commit is in flight share the next one, so concurrent senders pay for one
    fsync instead of one each.
    """

    def accept_many(self, items: Iterable[tuple[bytes, Envelope]]) -> list[Receipt]: ...
