"""`bridge experts` answered: the one computation the command and the running service share.

`experts_payload` is what the command printed from: the question, the people
(as threads/expert_reads.py shows them to this reader) and the companion
words it also looked for, as plain JSON data. The command computes it itself
or receives it from `bridge serve` over the local socket
(bridge/local_answers.py); bridge/cli/experts.py prints it the same way in
both cases, so the two paths cannot drift apart.

Without `as_email` the reader is the shell's local admin (every community,
every address); with it, only what that address may read counts and
addresses it may not see are left out. A community the reader may not read
is reported exactly like a missing one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from bridge.settings import Settings
    from threads.access import Viewer


def experts_payload(
    settings: Settings,
    engine: Engine,
    *,
    query: str,
    community: str | None,
    limit: int,
    as_email: str | None,
) -> dict[str, Any]:
    """Who knows `query`, as the command prints it; UsageError for the user's mistakes."""
    from threads import queries
    from threads.access import readable_community_ids
    from threads.expert_reads import find_experts
    from threads.privacy import reader_privacy

    with engine.connect() as conn:
        reader = viewer_as(conn, as_email, settings.org_domains)
        readable = readable_community_ids(conn, reader)
        if community is not None:
            row = queries.community_by_slug(conn, community)
            if row is None or row.id not in readable:
                raise UsageError(f"no community '{community}'")
            readable = [row.id]
        shield = reader_privacy(
            conn,
            org_domains=settings.org_domains,
            mail_domain=settings.mail_domain,
            reveal=reader.is_admin,
        )
        found = find_experts(
            conn,
            query,
            community_ids=readable,
            privacy=shield,
            limit=limit,
            store=FileSamples(settings.data / "cache"),
        )
    return {**found.to_json(), "expanded": list(found.expanded)}


def viewer_as(conn: Connection, as_email: str | None, org_domains: list[str]) -> Viewer:
    """The viewer a shell command acts for: `--as EMAIL`, or the shell's local admin."""
    from threads.access import LOCAL_ADMIN, viewer_for
    from threads.people import try_normalize

    if as_email is None:
        return LOCAL_ADMIN
    if try_normalize(as_email) is None:
        raise UsageError(f"--as '{as_email}' is not an e-mail address")
    return viewer_for(conn, as_email, org_domains)


class FileSamples:
    """Background samples as files (owner-only: they hold the archive's words), one a key.

    Each `bridge experts` run is a process of its own, so the sample of the
    archive's common words (threads/expert_reads.py) is kept between runs in the
    data directory's cache/ folder rather than built on every run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / f"experts-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def load(self, key: str) -> str | None:
        try:
            return self._path(key).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def save(self, key: str, value: str) -> None:
        # A sample not kept is built again next time: a read-only data directory is no error.
        path = self._path(key)
        # One part file per writer: the service answers from several threads at once.
        part = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(value)
            part.replace(path)
        except OSError:
            with contextlib.suppress(OSError):
                part.unlink(missing_ok=True)
