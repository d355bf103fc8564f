"""What the listener records of a session: the peer, our Received clause, the stored envelope.

What is stored is exactly the bytes the peer sent (after SMTP dot-unstuffing),
so the Received and Authentication-Results headers of the hops before us are
kept for later checks, and a client that retries after losing our 250 sends
identical bytes that the inbox stores once. Our own trace is not prepended to
the bytes (its time stamp would make every retry a different message); it is
recorded in the envelope's `source_ref` in the form of an RFC 5321 4.4
Received clause, with the RFC 3848 protocol name: `ESMTPS` after STARTTLS,
`ESMTPA`/`ESMTPSA` when the peer authenticated, which marks a trusted relay.
"""

from __future__ import annotations

import re

from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SMTPEnvelope

from mail.envelope import Envelope

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def storable(value: str) -> str:
    """Peer-supplied text made storable: invalid UTF-8 and control characters replaced.

    aiosmtpd decodes commands with surrogateescape when SMTPUTF8 is on, so a
    HELO or MAIL FROM with stray 8-bit bytes arrives as lone surrogates, which
    neither SQLite nor PostgreSQL will store (nor NUL); the commit would fail,
    we would answer 451 and the sender would retry for days.
    """
    fixed = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _CONTROL.sub("\ufffd", fixed)


def peer_ip(session: Session) -> str:
    """The client's address as text (an IP address, or whatever the transport reported)."""
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) else str(peer)


def _address_literal(ip: str) -> str:
    # RFC 5321 4.1.3: [192.0.2.1], or [IPv6:2001:db8::1].
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"


def trace(session: Session, by: str) -> str:
    """Our Received clause for this session (RFC 5321 4.4, protocol names of RFC 3848)."""
    protocol = "SMTP"
    if session.extended_smtp:
        tls = "S" if session.ssl is not None else ""
        protocol = f"ESMTP{tls}{'A' if session.authenticated else ''}"
    helo = storable(session.host_name or "")
    stamp = f"from {helo} ({_address_literal(peer_ip(session))}) by {by} with {protocol}"
    if session.authenticated:
        stamp += f" (authenticated as {storable(str(session.auth_data))})"
    return stamp


def envelope_of(server: SMTP, session: Session, envelope: SMTPEnvelope) -> Envelope:
    """The envelope handed to the inbox: sender, recipients and our trace, made storable."""
    return Envelope(
        source="smtp",
        mail_from=storable(envelope.mail_from or ""),
        rcpt_to=tuple(storable(a) for a in envelope.rcpt_tos),
        source_ref=trace(session, server.hostname),
    )
