"""Every exception the code raises on purpose, in one tree, and how each boundary answers it.

mail/ and threads/ may not import bridge/, so they keep small roots of their
own (mail/errors.py `MailError`, threads/errors.py `ThreadsError`), drawn here
beside the bridge's. Anything outside the tree (a KeyError, a database error)
is a bug or an outage: the boundaries log it and answer without a traceback.

BridgeError                       (bridge/errors.py)
├── UsageError                    an operator's or a form's request that cannot be done
│   └── ConfigError               settings that cannot work (no signing key): will not start
├── PostRefused                   a web reply that cannot be posted; the reason is the author's
├── Held                          the message is kept, not published; a kind and a reason
├── DeliveryError                 one outbound delivery attempt that did not deliver
│   ├── Deferred                  temporary: retried later
│   └── Refused                   permanent: the relay said 5xx
└── Isolate                       the pipeline's signal to redo a batch one message at a time
MailError                         (mail/errors.py)
├── InvalidInput (ValueError)     an IMAP URL, after-action or AUTH users line that does not parse
├── TokenError (ValueError)       a signed token that must not be acted on
│   ├── TokenMismatch             a genuine token used from another address
│   └── TokenExpired              a genuine token past its day
├── BadArchive                    an import path that is no archive we can read
├── LeaseLost                     an IMAP poller no longer holds its folder
├── OAuthError                    no OAuth2 token for a mailbox could be had
├── LoginRefused                  the IMAP server refused the OAuth2 token
├── SigningKeyError (ValueError)  a DKIM key that cannot sign
├── UnsignableMessage (ValueError) bytes DKIM cannot sign
├── DNSTempError                  a DNS lookup that may succeed later
└── DmarcPermError                a DMARC record that cannot be used
ThreadsError                      (threads/errors.py)
├── InvalidAddress (ValueError)   not an address a person can have
└── DuplicateMessage              the community already holds this Message-ID

The boundaries, one place each:

- HTTP: web/errors.py maps each class to a status and a message: an error page,
  or JSON under /api. Bad input 400, an expired link 410, a token that is not
  valid 404, a duplicate 409; anything else 500 with a logged traceback.
- SMTP: mail/smtp/replies.py `reply_for`. Mail is stored raw before any check
  (the worker is authoritative), so no error in this tree is a verdict on a
  message at the listener: whatever fails there is 451 4.3.0, and the sender
  retries. Verdicts come later, as holds (`Held`) visible to admins.
- CLI: bridge/cli/errors.py turns any error in the tree (and settings that do
  not validate) into one line on stderr and exit status 1.

Inside the pipeline `Held` is not an error to answer: it becomes the raw row's
state `held` with its kind; anything else a step raises marks the row failed
with the reason. Neither loses the raw bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this tree at start; the models are slow to import
    from threads.models import HoldKind


class BridgeError(Exception):
    """Base of every error bridge/ raises on purpose."""


class UsageError(BridgeError):
    """Bad input from an operator or a web form; str(self) is shown to them as it is.

    Raised by the use cases (bridge/admin.py, bridge/route_admin.py, the CLI's
    commands, `bridge serve`'s checks of its settings). Admin forms show it on the
    page they return to; otherwise HTTP 400, or one CLI line and status 1.
    """


class PostRefused(BridgeError):
    """A web reply that cannot be posted (empty, too long, too many, a thread one may
    not reply to); raised by bridge/posting.py, str(self) is for the author.

    The thread page shows it above the kept reply text; the API answers 400.
    """


class Held(BridgeError):
    """The message is stored but waits for an admin; str(self) is the reason.

    Raised by the pipeline's steps and rules (bridge/pipeline/); the pipeline
    records it on the raw row (state `held`, `hold_kind`), so it never reaches a
    person as an error. Code decides by `kind`, never by the reason's wording,
    which may change. A boundary that meets one answers 409 (web) or one line (CLI).
    """

    def __init__(self, kind: HoldKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


class DeliveryError(BridgeError):
    """What one attempt to deliver one outbound message came to, when not delivered.

    A transport (bridge/outbound/delivery.py) returns these as results, one per
    message, and never raises them: one bad address cannot hold up a batch. The
    sender records them on the queued row; no person sees them as errors.
    """


class Deferred(DeliveryError):
    """A temporary failure (the relay is down, slow, or said 4xx): retried later."""


class Refused(DeliveryError):
    """A permanent refusal (5xx); `recipient` says the address itself was refused at RCPT,
    which counts as a bounce for that address."""

    def __init__(self, reason: str, *, recipient: bool = False) -> None:
        super().__init__(reason)
        self.recipient = recipient


class Isolate(BridgeError):
    """Raised out of a pipeline batch's transaction when a write failed part-way, so the
    batch is re-run with a savepoint per message (bridge/pipeline/pipeline.py). Caught
    there; it never leaves the pipeline."""


class ConfigError(UsageError):
    """The settings name something that is not there or not usable (a DKIM selector
    without its key): said once at start, as one line, and the process does not start."""
