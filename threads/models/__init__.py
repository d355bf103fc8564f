"""The archive's tables: communities and their routes, people, raw mail, threads, messages.

Raw bytes are the source of truth: every other table can be rebuilt from
`RawMessage` by `bridge reprocess`. Tables follow the SQLModel layering
(`XBase` shared fields -> `X(table=True)`); public output shapes live with the
code that returns them. Times are stored as timezone-aware UTC.

The parts: base.py (times, the table base, enumerations), people.py, archive.py,
mail.py (what the bridge sends), consent.py. Importing this package defines every
table on SQLModel's metadata.
"""

from threads.models.archive import (
    Attachment,
    CopyReview,
    ImapFolder,
    LearnedSignature,
    Message,
    ModerationDecision,
    ModerationDigest,
    ModerationNotice,
    RawMessage,
    Thread,
    ThreadRead,
    ThreadSeen,
)
from threads.models.base import (
    CandidateState,
    HoldKind,
    OutboundState,
    Posting,
    RawState,
    Role,
    RouteKind,
    RoutePolicy,
    SenderCheck,
    TableModel,
    TokenKind,
    Visibility,
    as_utc,
    ts,
    utcnow,
)
from threads.models.consent import ConsentCandidate, ConsentMessage, ConsentParticipant
from threads.models.mail import (
    DeliveryPreference,
    MailAddress,
    MailEvent,
    Notification,
    OutboundMail,
    ThreadSubscription,
)
from threads.models.people import (
    AccessToken,
    AuditEntry,
    Community,
    CommunityBase,
    ExpertOptOut,
    LoginToken,
    Membership,
    Person,
    Route,
    WebSession,
)

__all__ = [
    "AccessToken",
    "Attachment",
    "AuditEntry",
    "CandidateState",
    "Community",
    "CommunityBase",
    "ConsentCandidate",
    "ConsentMessage",
    "ConsentParticipant",
    "CopyReview",
    "DeliveryPreference",
    "ExpertOptOut",
    "HoldKind",
    "ImapFolder",
    "LearnedSignature",
    "LoginToken",
    "MailAddress",
    "MailEvent",
    "Membership",
    "Message",
    "ModerationDecision",
    "ModerationDigest",
    "ModerationNotice",
    "Notification",
    "OutboundMail",
    "OutboundState",
    "Person",
    "Posting",
    "RawMessage",
    "RawState",
    "Role",
    "Route",
    "RouteKind",
    "RoutePolicy",
    "SenderCheck",
    "TableModel",
    "Thread",
    "ThreadRead",
    "ThreadSeen",
    "ThreadSubscription",
    "TokenKind",
    "Visibility",
    "WebSession",
    "as_utc",
    "ts",
    "utcnow",
]
