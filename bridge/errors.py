"""The bridge's exceptions, one tree, each carrying what the edge needs to answer.

BridgeError
├── Rejected            the message is refused; carries an SMTP reply
│   ├── UnknownRecipient    550 5.1.1
│   └── NotPermitted        550 5.7.1
├── Held                kept, not published; a kind for code, a reason for people
└── UsageError          a CLI or web request that cannot be carried out
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this tree at start; the models are slow to import
    from threads.models import HoldKind


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class Rejected(BridgeError):
    smtp_reply = "550 5.7.1 Message rejected"


class UnknownRecipient(Rejected):
    smtp_reply = "550 5.1.1 No such community address here"


class NotPermitted(Rejected):
    smtp_reply = "550 5.7.1 Sender not permitted to post here"


class Held(BridgeError):
    """The message is stored but waits for an admin; str(self) is the reason.

    Code decides by `kind` (stored in `raw_message.hold_kind`), never by the
    reason's wording, which may change.
    """

    def __init__(self, kind: HoldKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


class UsageError(BridgeError):
    """Bad input from an operator or a web form; str(self) is shown to them."""
