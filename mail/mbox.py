"""Writing mboxrd: messages as they arrived, one file, for mail clients and other archives.

Each message gets a `From ` separator line (envelope sender, UTC asctime)
and every body line starting with `>*From ` gains one more `>` (mboxrd), so
a reader splitting the file gets the original bytes back. The thread
download on the web and `bridge export mbox` write the same format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

_FROM_LINE = re.compile(rb"^(>*From )", re.M)
# Mail with no date of its own (the archive keeps what arrived) still needs a
# separator date; the epoch says plainly that none was known.
_NO_DATE = datetime(1970, 1, 1, tzinfo=UTC)


def mboxrd(messages: Iterable[tuple[bytes, str, datetime | None]]) -> Iterator[bytes]:
    """The mboxrd bytes of (raw bytes, envelope sender, date) messages, one chunk each."""
    for data, sender, when in messages:
        stamp = (when or _NO_DATE).astimezone(UTC)
        asctime = stamp.strftime("%a %b %d %H:%M:%S %Y")
        envelope = (sender or "MAILER-DAEMON").replace(" ", "")
        body = _FROM_LINE.sub(rb">\1", data)
        if not body.endswith(b"\n"):
            body += b"\n"
        yield f"From {envelope} {asctime}\n".encode() + body + b"\n"
