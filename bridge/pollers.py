"""Wires IMAP pollers to the core: one `mail.imap.FolderPoller` per configured folder.

Folders come from the imap_folder table (`bridge route add --imap`) and from
the `imap_folders` setting, which is written into the same table at start, so
both kinds keep a checkpoint and a lease in one place. Every process with the
imap role runs a poller for every folder; the lease in the folder's row lets
exactly one of them read it at a time, and the others stand by to take over.

Why a lease in the row rather than PostgreSQL's `pg_try_advisory_lock`: the
lease works the same on SQLite and PostgreSQL (one code path, tested on both),
an admin can see who holds which folder, and it needs no connection pinned per
folder for hours. An advisory lock lives as long as its session, so it would
need exactly that, and a pool that recycles or re-pings the connection can
drop the lock without the poller noticing. The cost is that a dead holder's
folder is taken over when its lease runs out (`BRIDGE_IMAP_LEASE_SECONDS`)
rather than at once, unless the holder ran on the same host: then a process
starting there frees it at once (bridge/heartbeat.py). Leases compare times
from the processes' clocks, as the worker queue does: hosts sharing a
database need synchronised clocks.
"""

from __future__ import annotations

import logging
import os
import secrets
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, or_, select, update

from bridge import liveness, route_admin
from bridge.config import ImapConfig
from bridge.core import Core
from bridge.settings import Settings
from mail.envelope import Inbox
from mail.errors import LeaseLost
from mail.imap import Checkpoint, FolderPoller, PollerConfig, parse_after_action, parse_imap_url
from mail.oauth import OAuthClient, TokenSource
from threads.db import writer
from threads.models import Community, ImapFolder, as_utc, utcnow

log = logging.getLogger(__name__)

FOLDERS = ImapFolder.__table__


def holder_name() -> str:
    """This process's name on a lease (host, pid, start), a random tail for uniqueness."""
    return liveness.holder_name(secrets.token_hex(4))


class DatabaseFolder:
    """The `CheckpointStore` and `FolderLock` ports on one imap_folder row.

    Every write names the holder, so a poller that lost its lease (it stalled
    past the expiry and another took over) can neither renew nor move the
    checkpoint: it gets False or LeaseLost and stands down.
    """

    def __init__(self, engine: Engine, folder_id: int, holder: str, lease: timedelta) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._id = folder_id
        self.holder = holder
        self._lease = lease

    def load(self) -> Checkpoint | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(FOLDERS.c.uidvalidity, FOLDERS.c.last_uid).where(FOLDERS.c.id == self._id)
            ).one_or_none()
        if row is None or row.uidvalidity is None:
            return None
        return Checkpoint(int(row.uidvalidity), int(row.last_uid))

    def save(self, checkpoint: Checkpoint) -> None:
        values = {"uidvalidity": checkpoint.uidvalidity, "last_uid": checkpoint.last_uid}
        if not self._update(FOLDERS.c.lease_holder == self.holder, values):
            raise LeaseLost("checkpoint not saved: the lease belongs to another process")

    def acquire(self) -> bool:
        now = utcnow()
        free = or_(
            FOLDERS.c.lease_holder == "",
            FOLDERS.c.lease_holder == self.holder,
            FOLDERS.c.lease_until.is_(None),
            FOLDERS.c.lease_until < now,
        )
        # One UPDATE decides: PostgreSQL re-checks the condition on the row it locked,
        # SQLite runs one writer at a time, so two processes never both see success.
        return self._update(free, {"lease_holder": self.holder, "lease_until": now + self._lease})

    def renew(self) -> bool:
        until = utcnow() + self._lease
        return self._update(FOLDERS.c.lease_holder == self.holder, {"lease_until": until})

    def release(self) -> None:
        self._update(
            FOLDERS.c.lease_holder == self.holder, {"lease_holder": "", "lease_until": None}
        )

    def _update(self, condition: Any, values: dict[str, Any]) -> bool:
        stmt = update(FOLDERS).where(FOLDERS.c.id == self._id, condition).values(**values)
        with self._writer.begin() as conn:
            return conn.execute(stmt).rowcount == 1


def secret_reader(password_env: str, secret_file: str) -> Callable[[], str]:
    """Reads the password or token at each login, so a rotated secret needs no restart."""

    def read() -> str:
        if password_env:
            value = os.environ.get(password_env, "")
            if not value:
                raise RuntimeError(f"environment variable {password_env} is not set")
            return value
        # A helper refreshing an OAuth2 token rewrites this file; we read it each time.
        return Path(secret_file).read_text().strip()

    return read


def sync_configured_folders(engine: Engine, settings: Settings) -> None:
    """Write the `imap_folders` setting into the table; rows keep their checkpoints."""
    for item in settings.imap_folders:
        with writer(engine).begin() as conn:
            route_admin.add_imap_route(
                conn,
                item.community,
                item.url,
                password_env=item.password_env,
                secret_file=item.secret_file,
                oauth=item.oauth.client() if item.oauth is not None else None,
                after=item.after,
                policy=item.policy,
                cc_threshold=item.cc_threshold,
                origin="settings",
                replace=True,
            )


def token_source(row: Any, config: ImapConfig) -> TokenSource | None:
    """The folder's OAuth2 token source, if it has a client; tokens live in memory only."""
    client = OAuthClient.from_json(row.oauth)
    if client is None:
        return None
    user = parse_imap_url(row.url).user
    return TokenSource(client, user, backoff_max=config.imap_backoff_max_seconds)


def status_recorder(
    engine: Engine, folder_id: int, source: TokenSource | None
) -> Callable[[str, str], None]:
    """Writes the poller's status into the folder's row, where other processes read it."""
    write = writer(engine)

    def record(status: str, error: str) -> None:
        if source is not None and not error and source.last_error:
            # Logged in with a token still valid, but its successor could not be had.
            error = f"the next token could not be fetched: {source.last_error}"
        expires = source.expires_at if source is not None else None
        values = {
            "status": status,
            "status_error": error[:512],
            "status_at": utcnow(),
            "token_expires_at": datetime.fromtimestamp(expires, UTC) if expires else None,
        }
        with write.begin() as conn:
            conn.execute(update(FOLDERS).where(FOLDERS.c.id == folder_id).values(**values))

    return record


def poller_config(
    row: Any,
    slug: str,
    config: ImapConfig,
    engine: Engine | None = None,
    source: TokenSource | None = None,
) -> PollerConfig:
    """A poller's configuration from its imap_folder row and the pollers' shared settings;
    with `engine`, the poller records its status in the row. `source` defaults to the row's own."""
    context = ssl.create_default_context(cafile=config.imap_ca_file or None)
    url = parse_imap_url(row.url)
    source = source or token_source(row, config)
    return PollerConfig(
        url=url,
        secret=source.token if source else secret_reader(row.password_env, row.secret_file),
        refused=source.refused if source else None,
        relogin_due=source.due if source else None,
        on_status=status_recorder(engine, row.id, source) if engine is not None else None,
        community=slug,
        after=parse_after_action(row.after_action),
        poll_seconds=config.imap_poll_seconds,
        idle_seconds=config.imap_idle_seconds,
        lease_seconds=config.imap_lease_seconds,
        backoff_max_seconds=config.imap_backoff_max_seconds,
        ssl_context=context,
        # The URL's user is often an address; logs name the row, host and folder only.
        name=f"imap#{row.id} {url.host}/{url.folder}",
        connected_at=as_utc(row.created_at),
    )


def configured_folders(engine: Engine, settings: Settings) -> list[tuple[Any, str]]:
    """The rows to poll with their community's slug: every `route add --imap` folder, and
    the settings' folders that are still in the settings (a removed one keeps its row and
    checkpoint, so adding it back resumes where it stopped)."""
    wanted = {str(parse_imap_url(item.url)) for item in settings.imap_folders}
    c = Community.__table__
    stmt = select(FOLDERS, c.c.slug).join(c, c.c.id == FOLDERS.c.community_id)
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(FOLDERS.c.id)).all()
    return [(r, r.slug) for r in rows if r.origin != "settings" or r.url in wanted]


class ImapPollers:
    """Runs a poller thread per folder and notices folders added or removed while running."""

    def __init__(
        self,
        core: Core,
        settings: Settings | None = None,
        *,
        inbox: Inbox | None = None,
        holder: str | None = None,
    ) -> None:
        self._engine = core.engine
        self._settings = settings or core.settings
        self._inbox = inbox or core.inbox
        self.holder = holder or holder_name()
        self.pollers: dict[int, FolderPoller] = {}
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        sync_configured_folders(self._engine, self._settings)
        self.scan()
        self._thread = threading.Thread(target=self._rescan, name="imap-pollers", daemon=True)
        self._thread.start()

    def scan(self) -> None:
        """Start pollers for new folders, stop those of folders that are gone."""
        found = configured_folders(self._engine, self._settings)
        lease = timedelta(seconds=self._settings.imap_lease_seconds)
        for row, slug in found:
            if row.id in self.pollers:
                continue
            folder = DatabaseFolder(self._engine, row.id, self.holder, lease)
            poller = FolderPoller(
                poller_config(row, slug, self._settings.imap, self._engine),
                self._inbox,
                folder,
                folder,
            )
            self.pollers[row.id] = poller
            poller.start()
            log.info("%s: polling into %s", poller.config.label(), slug)
        for gone in self.pollers.keys() - {row.id for row, _ in found}:
            self.pollers.pop(gone).stop()

    def stop(self, timeout: float = 10.0) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout)  # no scan may start a poller after this
        for poller in self.pollers.values():
            poller.stop()
        for poller in self.pollers.values():
            poller.join(timeout)

    def _rescan(self) -> None:
        every = min(30.0, self._settings.imap_lease_seconds)
        while not self._halt.wait(every):
            try:
                self.scan()
            except Exception:  # a database hiccup must not end the rescans
                log.exception("IMAP folder rescan failed; trying again shortly")
