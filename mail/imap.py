"""The IMAP poller: fetches new mail from one mailbox folder and hands it to the inbox.

One `FolderPoller` per folder, in its own thread. It polls only while it
holds the folder's lease (the `FolderLock` port), so one process at a time
reads a folder however many run. It reads incrementally by UID, remembers
(UIDVALIDITY, last UID) through the `CheckpointStore` port, waits in IDLE
(RFC 2177) where the server offers it and sleeps between polls otherwise,
and reconnects with capped, jittered exponential backoff after any failure.

Ordering is what makes it lossless: a message is handed to `Inbox.accept`
(committed before it returns), then the after-action runs, then the
checkpoint moves. A crash anywhere in between re-fetches the message on the
next run; the server returns the same bytes, which `accept` stores once.
Nothing is ever deleted to mark progress. Like the SMTP listener, this
module imports nothing of `bridge`, `threads` or `web`.
"""

from __future__ import annotations

import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
from imapclient.imapclient import DELETED, SocketTimeout

from mail.envelope import Envelope, Inbox
from mail.errors import InvalidInput, LeaseLost, LoginRefused, OAuthError
from mail.oauth import is_loopback

log = logging.getLogger(__name__)

# RFC 2177 asks clients to re-issue IDLE at least every 29 minutes.
MAX_IDLE_SECONDS = 29 * 60
SIZE_CHUNK = 500  # UIDs per size FETCH: about 6 KB of command line at most
_ATOM = re.compile(r"^\\?[A-Za-z0-9$_.\-]+$")  # a flag or keyword: no spaces, quotes, (){}%*]


@dataclass(frozen=True, slots=True)
class ImapUrl:
    """A mailbox folder as `imap[s]://user[;AUTH=XOAUTH2]@host[:port]/FOLDER` (RFC 5092 style).

    Never carries a secret: the password or token is named elsewhere and read
    at connect time.
    """

    tls: bool  # imaps: TLS from the first byte; imap: STARTTLS when the server offers it
    user: str
    host: str
    port: int
    folder: str
    xoauth2: bool = False

    @property
    def account(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def __str__(self) -> str:
        scheme = "imaps" if self.tls else "imap"
        auth = ";AUTH=XOAUTH2" if self.xoauth2 else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        folder = quote(self.folder, safe="/")
        return f"{scheme}://{quote(self.user, safe='')}{auth}@{host}:{self.port}/{folder}"


def parse_imap_url(text: str) -> ImapUrl:
    """Validate and normalise a folder URL; InvalidInput says what is wrong."""
    try:
        parts = urlsplit(text.strip())
    except ValueError as exc:
        raise InvalidInput(f"not a valid IMAP URL: {exc}") from exc
    if parts.password is not None:
        # Checked first, so no message below echoes it. In the URL a password would end
        # up in the database, in logs and in shell history.
        raise InvalidInput(
            "put no password in the URL: name it with --password-env or --secret-file"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"'{text}' is not a valid IMAP URL: {exc}") from exc
    if parts.scheme not in ("imap", "imaps"):
        raise InvalidInput(f"'{text}': use imaps://user@host[:port]/FOLDER or imap://...")
    if parts.query or parts.fragment:
        raise InvalidInput(f"'{text}': no ?query or #fragment in an IMAP folder URL")
    if not parts.username or not parts.hostname:
        raise InvalidInput(f"'{text}': the URL needs a user and a host (imaps://user@host/FOLDER)")
    user, _, auth = parts.username.partition(";")
    xoauth2 = False
    if auth:
        mech = auth.upper().removeprefix("AUTH=")
        if not auth.upper().startswith("AUTH=") or mech not in ("XOAUTH2", "*", "LOGIN", "PLAIN"):
            raise InvalidInput(f"';{auth}': the only mechanisms are ;AUTH=XOAUTH2 and a password")
        xoauth2 = mech == "XOAUTH2"
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    # INBOX is case-insensitive (RFC 3501 5.1); every other name is taken as written.
    if folder.upper() == "INBOX":
        folder = "INBOX"
    tls = parts.scheme == "imaps"
    return ImapUrl(
        tls=tls,
        user=unquote(user),
        host=parts.hostname.lower(),
        port=port or (993 if tls else 143),
        folder=folder,
        xoauth2=xoauth2,
    )


@dataclass(frozen=True, slots=True)
class AfterAction:
    """What happens to a message in the folder once it is stored: leave, flag or move."""

    kind: str = "leave"  # leave | flag | move
    target: str = ""  # the flag or keyword to set, or the folder to move to

    def __str__(self) -> str:
        if self.kind == "flag":
            return "flag" if self.target == "\\Seen" else f"flag:{self.target}"
        return f"move:{self.target}" if self.kind == "move" else "leave"


def parse_after_action(text: str) -> AfterAction:
    """`leave`, `flag` (sets \\Seen), `flag:KEYWORD` or `move:FOLDER`; InvalidInput otherwise."""
    kind, sep, target = text.strip().partition(":")
    kind = kind.lower()
    if kind == "leave" and not sep:
        return AfterAction()
    if kind == "flag":
        flag = target if sep else "\\Seen"
        if not _ATOM.match(flag):
            raise InvalidInput(f"'{flag}' is not an IMAP flag or keyword (letters, digits, $_.-)")
        return AfterAction("flag", flag)
    if kind == "move" and target.strip():
        return AfterAction("move", target.strip())
    raise InvalidInput(f"after-action '{text}': use leave, flag, flag:KEYWORD or move:FOLDER")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far a folder has been read: UIDs are only comparable within one UIDVALIDITY."""

    uidvalidity: int
    last_uid: int


class CheckpointStore(Protocol):
    """Where one folder's checkpoint is kept; `save` raises LeaseLost if we no longer hold it."""

    def load(self) -> Checkpoint | None: ...

    def save(self, checkpoint: Checkpoint) -> None: ...


class FolderLock(Protocol):
    """One folder's lease: only its holder polls. `renew` is False once someone else took it."""

    def acquire(self) -> bool: ...

    def renew(self) -> bool: ...

    def release(self) -> None: ...


@dataclass
class PollerConfig:
    """One folder's settings; `secret` is called at every login so rotated secrets are seen."""

    url: ImapUrl
    secret: Callable[[], str]
    community: str
    after: AfterAction = field(default_factory=AfterAction)
    poll_seconds: float = 60.0
    idle_seconds: float = 300.0
    lease_seconds: float = 60.0
    backoff_max_seconds: float = 300.0
    batch: int = 50
    batch_bytes: int = 32 * 1024 * 1024
    timeout: float = 60.0
    ssl_context: ssl.SSLContext | None = None
    name: str = ""  # for logs; the URL's user is an address, so it is not logged
    # When the folder was connected to the bridge. Mail the mailbox received before
    # then is history: archived with source "imap-history", so it is never announced
    # to anyone (connecting a mailbox must not mail its whole past to its participants).
    connected_at: datetime | None = None
    # OAuth2: called when the server refuses a login, so the next one gets a fresh token.
    refused: Callable[[], None] | None = None
    # True once the session should log in again (its token is near the end of its life):
    # servers end sessions whose token ran out, and a clean re-login loses no mail.
    relogin_due: Callable[[], bool] | None = None
    # Told "connected" after each login and "retrying" with the error in plain words
    # after each failure, so admins in other processes can see how the folder is doing.
    on_status: Callable[[str, str], None] | None = None

    def label(self) -> str:
        return self.name or f"imap {self.url.host}/{self.url.folder}"


def log_in(cfg: PollerConfig, *, warn_plaintext: bool = True) -> tuple[IMAPClient, bool]:
    """A connection to the folder's server, logged in (STARTTLS first where offered), and
    whether it is unencrypted."""
    url = cfg.url
    plaintext = False
    client = IMAPClient(
        url.host,
        port=url.port,
        ssl=url.tls,
        ssl_context=cfg.ssl_context,
        timeout=SocketTimeout(connect=min(cfg.timeout, 30.0), read=cfg.timeout),
    )
    try:
        if not url.tls:
            plaintext = not client.has_capability("STARTTLS")
            if not plaintext:
                client.starttls(cfg.ssl_context)
            elif url.xoauth2 and not is_loopback(url.host):
                # A token is the mailbox for an hour, to whoever reads it on the path
                # (or strips STARTTLS from the greeting): never sent in clear off-host.
                raise ConnectionError(
                    "the server offers no STARTTLS, and an access token is never sent"
                    " unencrypted: use imaps://"
                )
            elif warn_plaintext:
                # What the issue asks of imap://; imaps:// is the safe choice off-host.
                log.warning("%s: no STARTTLS offered; logging in unencrypted", cfg.label())
        secret = cfg.secret()
        if not url.xoauth2:
            client.login(url.user, secret)
            return client, plaintext
        try:
            client.oauth2_login(url.user, secret)
        except LoginError as exc:
            if cfg.refused is not None:
                cfg.refused()
            raise LoginRefused(
                "the mail server refused the access token; if a new one is refused"
                " too, check the app's permission on the mailbox"
            ) from exc
    except BaseException:
        _close(client)
        raise
    return client, plaintext


def probe(cfg: PollerConfig) -> dict[str, int]:
    """Log in and open the folder read-only, as the poller would; its size and UIDVALIDITY."""
    client, _ = log_in(cfg)
    try:
        info = client.select_folder(cfg.url.folder, readonly=True)
        return {
            "messages": int(info.get(b"EXISTS", 0)),
            "uidvalidity": int(info.get(b"UIDVALIDITY", 0)),
        }
    finally:
        _close(client)


def backoff_delay(failures: int, cap: float, rand: Callable[[], float] = random.random) -> float:
    """1 s, 2 s, 4 s ... up to `cap`, scaled into [50%, 100%] so pollers do not retry in step."""
    base = min(cap, 2.0 ** max(0, min(failures - 1, 30)))
    return base * (0.5 + rand() / 2)


class FolderPoller:
    """Polls one folder into the inbox while it holds the folder's lease; `run` blocks."""

    def __init__(
        self, config: PollerConfig, inbox: Inbox, checkpoints: CheckpointStore, lock: FolderLock
    ) -> None:
        self.config = config
        self._inbox = inbox
        self._checkpoints = checkpoints
        self._lock = lock
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._renewed_at = 0.0
        self._failures = 0
        self._warned_plaintext = False
        # Observable for admins and tests: what the poller is doing, and how much it read.
        self.state = "new"
        self.fetched = 0

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self.config.label(), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """Until stopped: take the lease when free, poll while holding it, stand by otherwise."""
        while not self._halt.is_set():
            try:
                held = self._lock.acquire()
            except Exception as exc:  # the lease store may be briefly unreachable
                log.warning("%s: cannot take the lease: %s", self.config.label(), _describe(exc))
                held = False
            if not held:
                self.state = "standby"
                self._halt.wait(self.config.lease_seconds / 3)
                continue
            self._renewed_at = time.monotonic()
            try:
                self._hold()
            finally:
                try:
                    self._lock.release()
                except Exception:
                    log.exception("%s: could not release the folder lease", self.config.label())
        self.state = "stopped"

    def _hold(self) -> None:
        """Sessions with backoff in between, for as long as the lease is ours."""
        label = self.config.label()
        while not self._halt.is_set():
            try:
                self._session()
            except LeaseLost:
                log.warning("%s: lease lost to another process; standing by", label)
                return
            except Exception as exc:  # any server or network failure: reconnect later
                self._failures += 1
                delay = backoff_delay(self._failures, self.config.backoff_max_seconds)
                log.warning("%s: %s; reconnecting in %.1f s", label, _describe(exc), delay)
                self.state = "backoff"
                self._tell("retrying", plain_error(exc))
                try:
                    self._pause(delay)
                except LeaseLost:
                    return

    # -- one connection ------------------------------------------------------------

    def _session(self) -> None:
        client = self._connect()
        try:
            while not self._halt.is_set():
                self._keep_lease(force=True)
                # Again until a poll finds nothing: mail that arrived during our FETCH or
                # STORE was announced (EXISTS) in their responses, and IDLE would not
                # announce it a second time. A poll that finds nothing sends only SELECT.
                while self._poll(client) and not self._halt.is_set():
                    pass
                self._failures = 0
                if self._halt.is_set():
                    return
                if self._relogin_due():
                    return
                if client.has_capability("IDLE"):
                    self._idle(client)
                else:
                    self.state = "polling"
                    self._pause(self.config.poll_seconds)
        finally:
            _close(client)

    def _connect(self) -> IMAPClient:
        self.state = "connecting"
        cfg = self.config
        client, plaintext = log_in(cfg, warn_plaintext=not self._warned_plaintext)
        self._warned_plaintext = self._warned_plaintext or plaintext
        self._tell("connected", "")
        try:
            if cfg.after.kind == "move" and not client.folder_exists(cfg.after.target):
                client.create_folder(cfg.after.target)
        except BaseException:
            _close(client)
            raise
        return client

    def _poll(self, client: IMAPClient) -> int:
        """Read every message above the checkpoint; returns how many were handed over."""
        self.state = "fetching"
        info = client.select_folder(self.config.url.folder)
        uidvalidity = int(info[b"UIDVALIDITY"])
        saved = self._checkpoints.load()
        last = 0
        if saved is not None and saved.uidvalidity == uidvalidity:
            last = saved.last_uid
        else:
            if saved is not None:
                # The folder was recreated or rebuilt (RFC 3501 2.3.1.1): old UIDs mean
                # nothing now. Read it all again; what we already stored has the same
                # bytes and `accept` keeps it once.
                log.warning("%s: UIDVALIDITY changed; reading it again", self.config.label())
            self._checkpoints.save(Checkpoint(uidvalidity, 0))
        uidnext = info.get(b"UIDNEXT")
        if uidnext is not None and int(uidnext) <= last + 1:
            return 0
        # "n:*" always matches the highest UID, even one below n (RFC 3501 6.4.8): filter.
        uids = sorted(uid for uid in client.search(["UID", f"{last + 1}:*"]) if uid > last)
        total = 0
        # Sizes in chunks: a first run over a big folder would otherwise send a UID list
        # longer than servers accept on one command line (Dovecot: 64 KiB).
        for start in range(0, len(uids), SIZE_CHUNK):
            chunk = uids[start : start + SIZE_CHUNK]
            sizes = client.fetch(chunk, ["RFC822.SIZE"])
            for batch in _batches(chunk, sizes, self.config.batch, self.config.batch_bytes):
                # Renew right before reading: only the lease holder fetches.
                self._keep_lease(force=True)
                total += self._fetch_batch(client, uidvalidity, batch)
                if self._halt.is_set():
                    return total
        return total

    def _fetch_batch(self, client: IMAPClient, uidvalidity: int, batch: list[int]) -> int:
        url = self.config.url
        # BODY.PEEK leaves \Seen alone: people reading the shared mailbox see it unchanged.
        data = client.fetch(batch, ["BODY.PEEK[]", "INTERNALDATE"])
        stored = []
        for uid in batch:
            raw = data.get(uid, {}).get(b"BODY[]")
            if raw is None:
                # Expunged since the SEARCH, or a server that could not read it: nothing to
                # store. The message stays in the folder (no after-action), so nothing is lost.
                continue
            envelope = Envelope(
                source=self._source(data[uid].get(b"INTERNALDATE")),
                source_ref=f"{url.account}/{url.folder}/{uidvalidity}/{uid}",
                community_hint=self.config.community,
            )
            self._inbox.accept(bytes(raw), envelope)
            stored.append(uid)
        self.fetched += len(stored)
        # The after-action before the checkpoint: a crash in between re-fetches (stored
        # once) and acts again, instead of leaving a message behind unflagged or unmoved.
        self._after(client, stored)
        self._checkpoints.save(Checkpoint(uidvalidity, batch[-1]))
        return len(stored)

    def _source(self, received: datetime | None) -> str:
        connected = self.config.connected_at
        if connected is None or received is None:
            return "imap"
        # INTERNALDATE has whole seconds; imapclient gives it as naive local time.
        received = received.astimezone(UTC) if received.tzinfo is None else received
        return "imap-history" if received < connected.replace(microsecond=0) else "imap"

    def _after(self, client: IMAPClient, uids: list[int]) -> None:
        after = self.config.after
        if not uids or after.kind == "leave":
            return
        try:
            if after.kind == "flag":
                client.add_flags(uids, [after.target], silent=True)
            elif client.has_capability("MOVE"):
                client.move(uids, after.target)
            else:
                client.copy(uids, after.target)
                client.add_flags(uids, [DELETED], silent=True)
                if client.has_capability("UIDPLUS"):
                    client.uid_expunge(uids)
                else:
                    # Without UIDPLUS (RFC 4315) EXPUNGE cannot be limited to our UIDs; it
                    # also removes what others marked \Deleted, as their own client would.
                    client.expunge()
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            # A refused action (no such folder, read-only mailbox) must not stop intake:
            # the messages are stored; log it loudly and move on.
            log.error("%s: after-action %s refused: %s", self.config.label(), after, exc)

    def _idle(self, client: IMAPClient) -> None:
        """Wait in IDLE until the folder grows, the IDLE period ends, or we must stop."""
        client.idle()
        self.state = "idle"
        deadline = time.monotonic() + min(self.config.idle_seconds, MAX_IDLE_SECONDS)
        try:
            while not self._halt.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                step = min(1.0, left)
                began = time.monotonic()
                responses = client.idle_check(timeout=step)
                if any(_is(r, b"BYE") for r in responses):
                    raise ConnectionError("server said BYE during IDLE")
                if any(_is(r, b"EXISTS") for r in responses):
                    return
                if not responses and time.monotonic() - began < step / 2:
                    # Readable yet nothing parsed: imapclient swallows EOF here. Leave
                    # IDLE; the DONE round trip raises if the connection is gone.
                    return
                self._keep_lease()
                if self._relogin_due():
                    return
        finally:
            client.idle_done()

    # -- token and status ----------------------------------------------------------

    def _relogin_due(self) -> bool:
        due = self.config.relogin_due
        if due is None or not due():
            return False
        log.info("%s: logging in again with a fresh token", self.config.label())
        return True

    def _tell(self, status: str, error: str) -> None:
        if self.config.on_status is None:
            return
        try:
            self.config.on_status(status, error)
        except Exception:  # a status the admin cannot see must not stop the mail
            log.exception("%s: could not record the folder's status", self.config.label())

    # -- lease and waiting ---------------------------------------------------------

    def _keep_lease(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._renewed_at < self.config.lease_seconds / 3:
            return
        try:
            renewed = self._lock.renew()
        except Exception as exc:
            # Unreachable lease store: we cannot prove the folder is ours, so stop reading.
            raise LeaseLost(str(exc)) from exc
        if not renewed:
            raise LeaseLost("lease taken over")
        self._renewed_at = now

    def _pause(self, seconds: float) -> None:
        """Sleep, renewing the lease on the way; returns early when stopped."""
        deadline = time.monotonic() + seconds
        while not self._halt.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._halt.wait(min(left, self.config.lease_seconds / 3))
            self._keep_lease()


def _batches(
    uids: Sequence[int], sizes: dict[int, Any], count: int, max_bytes: int
) -> Iterator[list[int]]:
    """UIDs in order, at most `count` messages and about `max_bytes` per FETCH (one at least)."""
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
        if batch and (len(batch) >= count or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def _is(response: Any, word: bytes) -> bool:
    return isinstance(response, tuple) and word in response[:2]


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # the connection is usually dead already when we get here
        try:
            client.shutdown()
        except Exception:
            log.debug("IMAP connection already closed")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def plain_error(exc: BaseException) -> str:
    """A failure as an admin reads it on the folder's status: no class names where words do."""
    if isinstance(exc, LoginRefused | LoginError | OAuthError):
        return str(exc)[:500]
    if isinstance(exc, OSError):
        return f"the mail server could not be reached: {exc.strerror or exc}"[:500]
    return _describe(exc)[:500]
