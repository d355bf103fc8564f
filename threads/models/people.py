"""Communities and their routes, people and memberships, sessions and tokens, the audit
trail."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import (
    JSON,
    Column,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel

from threads.models.base import (
    Posting,
    Role,
    RouteKind,
    RoutePolicy,
    TableModel,
    TokenKind,
    Visibility,
    ts,
    utcnow,
)


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
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))
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
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))
    is_admin: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    # A disabled person cannot log in, loses every session and reads only public communities.
    disabled: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    # The language they chose for pages and mail (bridge/i18n.py LOCALES); None: not chosen.
    locale: str | None = Field(default=None, max_length=16)


class Membership(TableModel, table=True):
    # A person's role in one community: member or moderator.
    __table_args__ = (UniqueConstraint("community_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    role: Role = Field(default=Role.member, sa_type=String(16))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))


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
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))
    expires_at: datetime = Field(sa_column=ts(nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))


class WebSession(TableModel, table=True):
    # A logged-in browser; the cookie carries the signed id, the row its hash.
    # Deleting the row ends the session (logout, a disabled person).
    __tablename__ = "web_session"
    id: int | None = Field(default=None, primary_key=True)
    id_hash: str = Field(unique=True, max_length=64)
    person_id: int = Field(foreign_key="person.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))
    expires_at: datetime = Field(sa_column=ts(nullable=False))


class AuditEntry(TableModel, table=True):
    # One admin action: who did what to which object, when, and the state before and after.
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))
    actor: str = Field(max_length=320)  # an address, or "cli:USER" from the shell
    action: str = Field(index=True, max_length=64)
    target: str = Field(default="", max_length=400)
    before: dict[str, object] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, object] | None = Field(default=None, sa_column=Column(JSON))


class ExpertOptOut(TableModel, table=True):
    # Someone who asked not to be listed as an expert (/me): never in "who knows X".
    __tablename__ = "expert_opt_out"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, max_length=320)  # normalised (threads/people.py)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))


class AccessToken(TableModel, table=True):
    # A personal token for scripts (API) or feed readers (feeds only); only the
    # sha256 of the secret is kept, so a copy of the database opens nothing.
    __tablename__ = "access_token"
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    kind: TokenKind = Field(sa_type=String(8))
    name: str = Field(default="", max_length=200)
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts(nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=ts(nullable=True))
