"""The SMTP replies the listener words itself, in one table, so tests compare names.

Also the few replies of aiosmtpd's own that we word differently; the session
translates them as it pushes them (session.py); and `reply_for`, the one place
an exception becomes an SMTP reply.
"""

from __future__ import annotations

from enum import StrEnum


class Reply(StrEnum):
    """Every reply the listener words itself, by name, so tests compare names.

    Placeholders are filled with `.format(...)`. The enhanced status codes are
    RFC 3463's; the texts are close to Postfix's where Postfix has one, because
    that is what postmasters search for.
    """

    RECIPIENT_OK = "250 2.1.5 Recipient ok"
    QUEUED = "250 2.0.0 Ok: queued as {queue_id}"
    START_DATA = "354 End data with <CR><LF>.<CR><LF>"
    TOO_MANY_CONNECTIONS = "421 4.7.0 {host} Too many connections, try again later"
    TOO_MANY_FROM_CLIENT = (
        "421 4.7.0 {host} Too many connections from {client}, "
        "close some before opening more, or try again later"
    )
    TIMEOUT = "421 4.4.2 {host} Timeout exceeded, closing connection"
    RATE_LIMITED = "450 4.7.1 Too much mail from {client}, try again in {seconds} seconds"
    TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please try again later"
    TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
    LINE_TOO_LONG = "500 5.5.2 Line too long (RFC 5321 4.5.3.1.6: {limit} octets with CRLF)"
    BAD_ADDRESS = "501 5.1.3 Bad address syntax"
    DATA_SYNTAX = "501 5.5.4 Syntax: DATA"
    AUTH_UNAVAILABLE = "502 5.5.1 AUTH not available"
    NEED_RCPT = "503 5.5.1 Error: need RCPT command"
    UNKNOWN_RECIPIENT = (
        "550 5.1.1 <{address}>: Recipient address rejected: "
        "no community, reply or bounce address here"
    )
    BARE_LF = "550 5.5.2 Message rejected: bare <LF> received, lines must end in <CR><LF>"
    BARE_CR = "550 5.5.2 Message rejected: bare <CR> received, lines must end in <CR><LF>"
    NUL = "550 5.5.2 Message rejected: NUL byte received"
    TOO_BIG = "552 5.3.4 Message too big for system (limit {limit} bytes)"


# aiosmtpd's own replies that we word differently. The issue asks for 501 on an
# address that does not parse; aiosmtpd answers 553 (mailbox name not allowed).
TRANSLATED = {b"553 5.1.3 Error: malformed address": Reply.BAD_ADDRESS.encode()}


def reply_for(error: BaseException) -> Reply:
    """The reply to a session whose recipient check, commit or command raised `error`.

    The SMTP boundary's one translation (bridge/errors.py draws the tree). Mail
    is stored raw before anything judges it, so an exception here is never a
    verdict on the message: an outage or a bug. A 5xx would bounce good mail and
    aiosmtpd's default 500 would show our internals; 451 4.3.0 makes the sending
    server retry, and the caller logs the error. Verdicts are holds, made later.
    """
    del error  # every error, of the tree or not, gets the same answer (see above)
    return Reply.TEMPORARY_FAILURE
