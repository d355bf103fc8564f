"""Log output: text for people, or JSON lines for collectors (`BRIDGE_LOG_FORMAT=json`).

`configure(settings)` sets the root handler once per process. In JSON each
line is one object: `ts` (UTC, ISO 8601), `level`, `logger`, `message`, and
the fields an event attached (`extra=`), such as `event`, `raw_id` and
`state` on a message's state change (`message_state`). Exceptions go in
`exc` as text, so a traceback never breaks the one-line-per-event rule.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
events = logging.getLogger("bridge.events")


class JsonLines(logging.Formatter):
    """One JSON object per record, with the event's own fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(log_format: str, stream: IO[str] | None = None) -> None:
    """The process's root handler (on stderr unless `stream`): JSON lines or text, at INFO."""
    handler = logging.StreamHandler(stream)
    if log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def message_state(
    raw_id: int, state: str, *, source: str | None = None, hold_kind: str | None = None
) -> None:
    """Log one raw message's move to `state` (after the commit that made it so).

    The reason text is left out: it can quote an address, and logs carry
    none (`bridge log` shows reasons to admins).
    """
    fields: dict[str, Any] = {"event": "message.state", "raw_id": raw_id, "state": state}
    if source:
        fields["source"] = source
    if hold_kind:
        fields["hold_kind"] = hold_kind
    detail = f" ({hold_kind})" if hold_kind else f" from {source}" if source else ""
    events.info("raw message %s: %s%s", raw_id, state, detail, extra=fields)


@contextmanager
def events_muted() -> Iterator[None]:
    """No message events while the block runs: the demo's seeded mail is not news, and
    64 lines of it would bury the login line a new user is looking for."""
    level = events.level
    events.setLevel(logging.WARNING)
    try:
        yield
    finally:
        events.setLevel(level)
