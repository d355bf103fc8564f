"""The SMTP listener (aiosmtpd): a thin, hardened edge that checks recipients and stores bytes.

No business logic lives here. RCPT is checked against a `RecipientPolicy`
port, so unknown addresses are refused before any data is sent; DATA is read
strictly (only CRLF.CRLF ends it; bare CR, bare LF and NUL are refused) and
handed to the `Inbox` port, and 250 goes out only after the bytes are
committed. Anything unexpected is answered 451 4.3.0 so the sending server
retries later instead of bouncing the mail.

One concern per module: replies.py (the named replies), limits.py (what a
listener allows), gate.py (admission: connection caps and the rate limit),
auth.py (SMTP AUTH for trusted relays), trace.py (our Received clause and
the envelope we store), commit.py (group commit of accepted mail),
handler.py (the RCPT and DATA hooks), session.py (the session, the only
module on aiosmtpd's internals) and listener.py (the controller that wires
them). This package exports what the rest of the bridge uses.
"""

from mail.smtp.auth import hash_password, load_auth_users, verify_password
from mail.smtp.handler import RecipientPolicy
from mail.smtp.limits import Limits
from mail.smtp.listener import SMTPListener, tls_context
from mail.smtp.replies import Reply

__all__ = [
    "Limits",
    "RecipientPolicy",
    "Reply",
    "SMTPListener",
    "hash_password",
    "load_auth_users",
    "tls_context",
    "verify_password",
]
