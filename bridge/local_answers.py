"""What the local socket answers, and the request a client sends for it.

A request: {"v": 1, "command": "experts", "query": str, "community": str|null,
"limit": int, "as": str|null, "database": the client's effective database URL,
"settings": {"org_domains": [...], "mail_domain": str}}. The answer:
{"v": 1, "answer": <bridge/expert_answers.py's payload>}, or a refusal
{"v": 1, "error": str, "kind": str}:

- "usage": the user's mistake (an unknown or unreadable community, a bad
  --as); the client prints it as the in-process command would.
- "database", "settings": the client reads another database, or names other
  organisation domains or another mail domain than the service (which decide
  who counts as an outsider), so the service's answer could differ from the
  client's own: it asks in-process. The service never says what it reads.
- "version", "command", "bad_request": a request this service does not know.

The service answers as the in-process command does, with its own engine and
its in-memory background sample (kept on disk too, for the in-process path).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.local_socket import refusal
from bridge.settings_peek import Peek, normal_database_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bridge.settings import Settings

VERSION = 1


def request_for(place: Peek, command: str, asked: dict[str, Any]) -> dict[str, Any]:
    """A client's request: its question and the settings the answer depends on."""
    return {
        "v": VERSION,
        "command": command,
        **asked,
        "database": normal_database_url(place.database_url, Path.cwd()),
        "settings": {"org_domains": list(place.org_domains), "mail_domain": place.mail_domain},
    }


class Answers:
    """The service's side: `answers(request)` is the answer line's object."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        # The service's working directory, once: it never changes it.
        self.database = normal_database_url(settings.effective_database_url, Path.cwd())
        self.scope = {
            "org_domains": list(settings.org_domains),
            "mail_domain": settings.mail_domain,
        }

    def __call__(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or request.get("v") != VERSION:
            return refusal("version", f"this service speaks version {VERSION}")
        if request.get("command") != "experts":
            return refusal("command", "unknown command")
        database = request.get("database")
        if database is not None and database != self.database:
            return refusal("database", "this service reads another database")
        if request.get("settings") != self.scope:
            return refusal("settings", "this service has other organisation settings")
        asked = _experts_request(request)
        if asked is None:
            return refusal("bad_request", "query, community, limit or as malformed")
        from bridge.errors import UsageError
        from bridge.expert_answers import experts_payload

        try:
            payload = experts_payload(self.settings, self.engine, **asked)
        except UsageError as exc:
            return refusal("usage", str(exc))
        return {"v": VERSION, "answer": payload}


def _experts_request(request: dict[str, Any]) -> dict[str, Any] | None:
    """The question's fields, checked as the command's options are, or None."""
    query, community, limit, as_email = (
        request.get("query"),
        request.get("community"),
        request.get("limit"),
        request.get("as"),
    )
    if not isinstance(query, str) or not all(
        v is None or isinstance(v, str) for v in (community, as_email)
    ):
        return None
    if type(limit) is not int or not 1 <= limit <= 100:
        return None
    return {"query": query, "community": community, "limit": limit, "as_email": as_email}
