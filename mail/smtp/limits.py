"""What one SMTP listener allows: sizes, counts, timeouts, connection caps and the rate.

A plain frozen dataclass shared by the admission gate (gate.py), the session
(session.py) and the listener (listener.py); `bridge serve` fills it from the
BRIDGE_SMTP_* settings.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """What one listener allows; `bridge serve` fills it from the BRIDGE_SMTP_* settings."""

    max_size: int = 25 * 1024 * 1024
    max_recipients: int = 100  # RFC 5321 4.5.3.1.8: at least 100 must be accepted
    max_line_length: int = 1000  # octets with CRLF, without the transparency dot (4.5.3.1.6)
    idle_timeout: float = 300.0  # RFC 5321 4.5.3.2.7: a server waits at least 5 minutes
    data_timeout: float = 600.0  # the whole DATA transfer, however slowly it trickles
    max_connections: int = 100
    max_per_client: int = 10  # open sessions from one client address; 0: no limit
    rate_per_minute: int = 600  # messages (MAIL commands) per client address; 0: no limit
