"""The IMAP poller against a real Dovecot: intake, checkpoints, IDLE, failures, leases, CLI.

Every test starts its own Dovecot (tests/support/dovecot.py) and delivers mail into it
by IMAP APPEND; the poller reads it into a real inbox on the test's database
(SQLite, or PostgreSQL with BRIDGE_TEST_BACKEND=postgres). Waits are generous
"eventually" loops, never timing thresholds: the machine is shared.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, update

import mail.imap
from bridge import route_admin
from bridge.core import Core
from bridge.errors import UsageError
from bridge.pollers import (
    DatabaseFolder,
    ImapPollers,
    configured_folders,
    poller_config,
)
from bridge.settings import ImapFolderSetting
from bridge.worker import drain
from mail.envelope import Envelope, Receipt
from mail.imap import (
    AfterAction,
    Checkpoint,
    FolderPoller,
    ImapUrl,
    LeaseLost,
    _batches,
    backoff_delay,
    parse_after_action,
    parse_imap_url,
)
from tests.support.cli import run_bridge
from tests.support.dovecot import PASSWORD, Dovecot
from tests.support.env import bridge_env
from tests.support.factories import create_community
from tests.support.imap import ENV, crlf, raw_count, running, tuned, wait_for
from tests.support.messages import conversation
from threads.db import writer
from threads.models import Community, ImapFolder, Message, Notification, RawMessage, utcnow

RAW = RawMessage.__table__
FOLDERS = ImapFolder.__table__


def mails(n: int, prefix: str) -> list[bytes]:
    return [crlf(raw) for raw in conversation(n, prefix)]


@pytest.fixture
def eng(core: Core, monkeypatch: pytest.MonkeyPatch) -> Core:
    """The core with community `eng` and the IMAP secret in the environment."""
    monkeypatch.setenv(ENV, PASSWORD)
    create_community(core)
    return core


def route(core: Core, url: str, after: str = "leave", **kw: Any) -> int:
    # These tests are about polling, so the folder publishes at once; consent folders
    # (the default for a connected mailbox) are the subject of
    # tests/bridge/pipeline/test_consent_imap.py.
    kw.setdefault("policy", "open")
    with writer(core.engine).begin() as conn:
        stored = route_admin.add_imap_route(conn, "eng", url, password_env=ENV, after=after, **kw)
    with core.engine.connect() as conn:
        return int(conn.execute(select(FOLDERS.c.id).where(FOLDERS.c.url == stored)).scalar_one())


def only(pollers: ImapPollers) -> FolderPoller:
    (poller,) = pollers.pollers.values()
    return poller


def raws(core: Core) -> list[Any]:
    with core.engine.connect() as conn:
        return conn.execute(
            select(RAW.c.source, RAW.c.source_ref, RAW.c.community_hint, RAW.c.state).order_by(
                RAW.c.id
            )
        ).all()


def filed(core: Core, slug: str = "eng") -> list[str]:
    """Message-IDs filed (not placeholders) in a community, after running the pipeline."""
    drain(core)
    m, c = Message.__table__, Community.__table__
    with core.engine.connect() as conn:
        return sorted(
            conn.execute(
                select(m.c.message_id)
                .join(c, c.c.id == m.c.community_id)
                .where(c.c.slug == slug, m.c.placeholder.is_(False))
            ).scalars()
        )


def checkpoint(core: Core, folder_id: int) -> tuple[int | None, int]:
    with core.engine.connect() as conn:
        row = conn.execute(
            select(FOLDERS.c.uidvalidity, FOLDERS.c.last_uid).where(FOLDERS.c.id == folder_id)
        ).one()
    return row.uidvalidity, row.last_uid


# -- pure parts ------------------------------------------------------------------------


def test_folder_urls_are_validated_and_normalised() -> None:
    """URLs get explicit ports and a canonical form; passwords and junk are refused."""
    url = parse_imap_url("imaps://Bridge%40example.com@Mail.Example.com/Lists/eng%20team")
    assert url == ImapUrl(True, "Bridge@example.com", "mail.example.com", 993, "Lists/eng team")
    assert str(url) == "imaps://Bridge%40example.com@mail.example.com:993/Lists/eng%20team"
    assert parse_imap_url(str(url)) == url
    plain = parse_imap_url("imap://bot;AUTH=XOAUTH2@10.0.0.5:1143/inbox")
    assert (plain.tls, plain.port, plain.folder, plain.xoauth2) == (False, 1143, "INBOX", True)
    assert parse_imap_url("imap://bot@host").folder == "INBOX"
    for bad in (
        "imap://bot:hunter2@host/INBOX",
        "http://bot@host/INBOX",
        "imaps://host/INBOX",
        "imaps://bot@host:99999/INBOX",
        "imaps://bot@host/INBOX?x=1",
        "imaps://bot;AUTH=GSSAPI@host/INBOX",
    ):
        with pytest.raises(ValueError, match=r"."):
            parse_imap_url(bad)


def test_after_actions_parse() -> None:
    """leave, flag (\\Seen), flag:KEYWORD and move:FOLDER; anything else is refused."""
    assert parse_after_action("leave") == AfterAction()
    assert parse_after_action("flag") == AfterAction("flag", "\\Seen")
    assert parse_after_action("flag:$Bridged") == AfterAction("flag", "$Bridged")
    assert parse_after_action("move:Archive/Bridged") == AfterAction("move", "Archive/Bridged")
    for text in ("flag", "flag:$Bridged", "move:Done", "leave"):
        assert str(parse_after_action(text)) == text
    for bad in ("delete", "move:", "flag:two words", "leave:x"):
        with pytest.raises(ValueError, match=r"after-action|flag"):
            parse_after_action(bad)


def test_backoff_is_capped_exponential_with_jitter() -> None:
    """1, 2, 4 ... seconds up to the cap, each between half and all of that."""
    assert [backoff_delay(n, 300, rand=lambda: 1.0) for n in (1, 2, 3, 9, 10, 500)] == [
        1,
        2,
        4,
        256,
        300,
        300,
    ]
    assert backoff_delay(4, 300, rand=lambda: 0.0) == 4


def test_batches_bound_count_and_bytes() -> None:
    """FETCH batches hold at most N messages and about M bytes, one message at least."""
    sizes = {uid: {b"RFC822.SIZE": size} for uid, size in enumerate([10, 10, 100, 10, 10], 1)}
    assert list(_batches([1, 2, 3, 4, 5], sizes, 2, 1000)) == [[1, 2], [3, 4], [5]]
    assert list(_batches([1, 2, 3, 4, 5], sizes, 50, 50)) == [[1, 2], [3], [4, 5]]


# -- intake --------------------------------------------------------------------------------


def test_new_mail_is_filed_in_the_mapped_community(
    eng: Core, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages in a routed folder are stored with an IMAP envelope and filed in `eng`."""
    monkeypatch.setattr(mail.imap, "SIZE_CHUNK", 2)  # two size chunks for three messages
    folder_id = route(eng, dovecot.url())
    dovecot.append("INBOX", *mails(3, "new"))
    with running(eng) as pollers:
        wait_for(lambda: raw_count(eng) == 3, "three messages")
        uidvalidity = wait_for(
            lambda: checkpoint(eng, folder_id)[1] == 3 and checkpoint(eng, folder_id)[0],
            "checkpoint",
        )
        assert only(pollers).fetched == 3
    rows = raws(eng)
    assert {(r.source, r.community_hint) for r in rows} == {("imap", "eng")}
    assert [r.source_ref for r in rows] == [
        f"bridge@127.0.0.1:{dovecot.port}/INBOX/{uidvalidity}/{uid}" for uid in (1, 2, 3)
    ]
    assert filed(eng) == ["new0@example.com", "new1@example.com", "new2@example.com"]
    # Read with BODY.PEEK: people using the shared mailbox still see the mail as new.
    assert all(b"\\Seen" not in flags for flags in dovecot.flags().values())


def test_mail_from_before_the_folder_was_connected_is_history_and_announced_to_no_one(
    eng: Core, dovecot: Dovecot
) -> None:
    """Connecting a mailbox archives its past quietly; only mail arriving afterwards is live."""
    old = mails(3, "old")
    dovecot.append("INBOX", *old[:2], when=datetime(2024, 5, 1, 9, 0, tzinfo=UTC))
    folder_id = route(eng, dovecot.url())
    dovecot.append("INBOX", old[2])  # a reply arriving now, after the folder was connected
    with running(eng):
        wait_for(lambda: checkpoint(eng, folder_id)[1] == 3, "checkpoint")
    assert [r.source for r in raws(eng)] == ["imap-history", "imap-history", "imap"]
    assert filed(eng) == ["old0@example.com", "old1@example.com", "old2@example.com"]
    m = Message.__table__
    with eng.engine.connect() as conn:
        owed = conn.execute(
            select(m.c.message_id, Notification.recipient).join(
                Notification, Notification.message_pk == m.c.id
            )
        ).all()
    # Only the live reply is owed, and only to the people it did not reach itself.
    assert sorted(owed) == [
        ("old2@example.com", "p0@example.com"),
        ("old2@example.com", "p1@example.com"),
    ]


def test_checkpoint_means_nothing_is_fetched_twice_across_restarts(
    eng: Core, dovecot: Dovecot
) -> None:
    """A second run reads only what arrived after the first run's checkpoint."""
    folder_id = route(eng, dovecot.url())
    first, second = mails(2, "one"), mails(3, "two")
    dovecot.append("INBOX", *first)
    with running(eng) as pollers:
        wait_for(lambda: checkpoint(eng, folder_id)[1] == 2, "first checkpoint")
        assert only(pollers).fetched == 2
    dovecot.append("INBOX", *second)
    with running(eng) as pollers:
        wait_for(lambda: checkpoint(eng, folder_id)[1] == 5, "second checkpoint")
        assert only(pollers).fetched == 3
    assert raw_count(eng) == 5


def test_idle_wakes_the_poller_for_new_mail(eng: Core, dovecot: Dovecot) -> None:
    """With no polling to fall back on (an hour), a message appended during IDLE is read."""
    route(eng, dovecot.url())
    settings = tuned(eng, imap_poll_seconds=3600, imap_idle_seconds=1740)
    with running(eng, settings) as pollers:
        poller = only(pollers)
        wait_for(lambda: poller.state == "idle", "IDLE")
        dovecot.append("INBOX", *mails(1, "idle"))
        wait_for(lambda: poller.fetched == 1, "the IDLE wake-up")
    assert filed(eng) == ["idle0@example.com"]


def test_without_idle_the_poller_polls(eng: Core) -> None:
    """A server that does not offer IDLE is polled every BRIDGE_IMAP_POLL_SECONDS."""
    server = Dovecot(capability="IMAP4rev1 LITERAL+ UIDPLUS MOVE")
    try:
        route(eng, server.url())
        with running(eng) as pollers:
            poller = only(pollers)
            wait_for(lambda: poller.state == "polling", "polling")
            server.append("INBOX", *mails(2, "poll"))
            wait_for(lambda: poller.fetched == 2, "a poll")
    finally:
        server.close()


def test_uidvalidity_change_loses_nothing_and_duplicates_nothing(
    eng: Core, dovecot: Dovecot
) -> None:
    """The folder is recreated while polled: new UIDs restart at 1, old mail comes back.

    The new message gets UID 1, below the old checkpoint, so a poller that missed
    the UIDVALIDITY change would skip it; the old messages come back with the same
    bytes and are stored once.
    """
    folder_id = route(eng, dovecot.url("eng-list"))
    old, new = mails(3, "old"), mails(1, "fresh")
    dovecot.append("eng-list", *old)
    with running(eng, tuned(eng, imap_idle_seconds=0.5)) as pollers:
        wait_for(lambda: checkpoint(eng, folder_id)[1] == 3, "first pass")
        before = checkpoint(eng, folder_id)[0]
        with dovecot.client() as client:
            client.delete_folder("eng-list")
        dovecot.append("eng-list", *new, *old)
        wait_for(lambda: checkpoint(eng, folder_id)[1] == 4, "second pass")
        assert checkpoint(eng, folder_id)[0] != before
        assert only(pollers).fetched >= 4
    assert raw_count(eng) == 4
    assert filed(eng) == [
        "fresh0@example.com",
        "old0@example.com",
        "old1@example.com",
        "old2@example.com",
    ]
    assert {r.state for r in raws(eng)} == {"done"}


class GatedInbox:
    """The real inbox, but the Nth accept waits until the test lets it go."""

    def __init__(self, inner: Any, stop_at: int) -> None:
        self.inner, self.stop_at = inner, stop_at
        self.receipts: list[Receipt] = []
        self.reached, self.release = threading.Event(), threading.Event()

    def accept(self, raw: bytes, envelope: Envelope) -> Receipt:
        if len(self.receipts) + 1 == self.stop_at:
            self.reached.set()
            self.release.wait(120)
        receipt = self.inner.accept(raw, envelope)
        self.receipts.append(receipt)
        return receipt


def test_server_restart_mid_fetch_loses_nothing_and_duplicates_nothing(
    eng: Core, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    """Dovecot dies in the middle of a batch: the poller reconnects and finishes the job.

    Batches of 3; the crash comes while the 5th message is being stored. Messages 4-6
    are stored but their \\Seen flag cannot be set on the dead connection, so the
    checkpoint stays at 3: after reconnecting they are fetched again, stored once
    (identical bytes), flagged, and 7-10 follow.
    """
    folder_id = route(eng, dovecot.url(), after="flag")
    dovecot.append("INBOX", *mails(10, "crash"))
    settings = tuned(eng)
    row, slug = configured_folders(eng.engine, settings)[0]
    store = DatabaseFolder(eng.engine, folder_id, "test-holder", timedelta(seconds=30))
    inbox = GatedInbox(eng.inbox, stop_at=5)
    poller = FolderPoller(
        replace(poller_config(row, slug, settings.imap), batch=3), inbox, store, store
    )
    poller.start()
    try:
        assert inbox.reached.wait(90)
        dovecot.restart()
        inbox.release.set()
        wait_for(lambda: checkpoint(eng, folder_id)[1] == 10, "all ten checkpointed")
    finally:
        inbox.release.set()
        poller.stop()
        poller.join(30)
    assert "reconnecting" in caplog.text
    assert raw_count(eng) == 10
    assert sum(r.duplicate for r in inbox.receipts) == 3
    assert len(filed(eng)) == 10
    assert all(b"\\Seen" in flags for flags in dovecot.flags().values())


# -- after-actions --------------------------------------------------------------------


@pytest.mark.parametrize("action", ["flag", "flag:$Bridged"])
def test_flag_after_action(eng: Core, dovecot: Dovecot, action: str) -> None:
    """Stored messages get \\Seen or the configured keyword; they stay in the folder."""
    folder_id = route(eng, dovecot.url(), after=action)
    dovecot.append("INBOX", *mails(2, "flag"))
    with running(eng):
        wait_for(lambda: checkpoint(eng, folder_id)[1] == 2, "checkpoint")
    expected = parse_after_action(action).target.encode()
    flags = dovecot.flags()
    assert len(flags) == 2
    assert all(expected in f for f in flags.values())


@pytest.mark.parametrize(
    "capability",
    ["", "IMAP4rev1 LITERAL+ UIDPLUS IDLE"],
    ids=["MOVE", "COPY+EXPUNGE"],
)
def test_move_after_action(eng: Core, capability: str) -> None:
    """Stored messages move to the target folder (created if missing), with or without MOVE."""
    server = Dovecot(capability=capability)
    try:
        folder_id = route(eng, server.url(), after="move:Bridged")
        server.append("INBOX", *mails(3, "move"))
        with running(eng):
            wait_for(lambda: checkpoint(eng, folder_id)[1] == 3, "checkpoint")
        assert server.uids("INBOX") == []
        assert len(server.uids("Bridged")) == 3
    finally:
        server.close()
    assert len(filed(eng)) == 3


# -- one message, two ways in ---------------------------------------------------------


def test_same_bytes_by_smtp_and_imap_are_stored_once(eng: Core, dovecot: Dovecot) -> None:
    """The message the SMTP listener accepted is also in the polled mailbox: one row."""
    route(eng, dovecot.url())
    (raw,) = mails(1, "both")
    receipt = eng.inbox.accept(
        raw,
        Envelope(source="smtp", mail_from="ana@example.com", rcpt_to=("eng@lists.example.com",)),
    )
    dovecot.append("INBOX", raw)
    with running(eng) as pollers:
        wait_for(lambda: only(pollers).fetched == 1, "the IMAP copy")
    assert raw_count(eng) == 1
    assert [r.source for r in raws(eng)] == ["smtp"]
    assert filed(eng) == ["both0@example.com"]
    assert receipt.duplicate is False


def test_same_message_with_other_bytes_is_filed_once(eng: Core, dovecot: Dovecot) -> None:
    """The mailbox copy carries the delivering server's headers: kept, marked duplicate."""
    route(eng, dovecot.url())
    (raw,) = mails(1, "hops")
    eng.inbox.accept(raw, Envelope(source="smtp", rcpt_to=("eng@lists.example.com",)))
    delivered = b"Received: from mx.example.com by imap.example.com; 2 Mar 2026 09:00:01 +0000\r\n"
    dovecot.append("INBOX", delivered + raw)
    with running(eng) as pollers:
        wait_for(lambda: only(pollers).fetched == 1, "the IMAP copy")
    assert filed(eng) == ["hops0@example.com"]
    assert sorted((r.source, r.state) for r in raws(eng)) == [
        ("imap", "duplicate"),
        ("smtp", "done"),
    ]


# -- one poller per folder --------------------------------------------------------------


def test_two_pollers_on_one_folder_only_one_fetches(eng: Core, dovecot: Dovecot) -> None:
    """Two processes poll the same folder: one reads, the other stands by, then takes over."""
    folder_id = route(eng, dovecot.url())
    settings = tuned(eng, imap_lease_seconds=3)
    with (
        running(eng, settings, holder="host-a:1:a") as a,
        running(eng, settings, holder="host-b:2:b") as b,
    ):
        dovecot.append("INBOX", *mails(5, "pair"))
        wait_for(lambda: checkpoint(eng, folder_id)[1] == 5, "five messages")
        pa, pb = only(a), only(b)
        assert sorted([pa.fetched, pb.fetched]) == [0, 5]
        holder, standby = (a, pb) if pa.fetched else (b, pa)
        assert standby.state == "standby"
        holder.stop()  # a clean stop releases the lease at once
        dovecot.append("INBOX", *mails(1, "after"))
        wait_for(lambda: standby.fetched == 1, "the other poller taking over")
    assert raw_count(eng) == 6


def test_dead_holders_lease_is_taken_over(eng: Core, dovecot: Dovecot) -> None:
    """A holder that died keeps its lease until it runs out; then another poller reads."""
    folder_id = route(eng, dovecot.url())
    dead = DatabaseFolder(eng.engine, folder_id, "gone-host:999:dead", timedelta(hours=1))
    assert dead.acquire()
    dovecot.append("INBOX", *mails(2, "orphan"))
    with running(eng, tuned(eng, imap_lease_seconds=3), holder="live:1:x") as pollers:
        poller = only(pollers)
        wait_for(lambda: poller.state == "standby", "standing by")
        assert poller.fetched == 0
        # The hour passes (no test waits for it): the dead holder's lease has run out.
        with writer(eng.engine).begin() as conn:
            conn.execute(update(FOLDERS).values(lease_until=utcnow() - timedelta(seconds=1)))
        wait_for(lambda: poller.fetched == 2, "the takeover")
    with eng.engine.connect() as conn:
        # Released on stop: the next process does not have to wait for the lease to run out.
        assert conn.execute(select(FOLDERS.c.lease_holder)).scalar_one() == ""
    assert not dead.renew()  # the dead holder, coming back, cannot read on
    with pytest.raises(LeaseLost):
        dead.save(Checkpoint(1, 99))  # nor move the checkpoint


# -- authentication and transport ------------------------------------------------------


def test_xoauth2_login(eng: Core, dovecot: Dovecot) -> None:
    """;AUTH=XOAUTH2 in the URL logs in with the token (Dovecot checks it as a password)."""
    route(eng, dovecot.url(auth=";AUTH=XOAUTH2"))
    dovecot.append("INBOX", *mails(1, "oauth"))
    with running(eng) as pollers:
        wait_for(lambda: only(pollers).fetched == 1, "a message")
    assert "method=XOAUTH2" in dovecot.log_text()


def test_secret_file(eng: Core, dovecot: Dovecot, tmp_path: Path) -> None:
    """--secret-file: the password is read from the file at login."""
    secret = tmp_path / "imap-secret"
    secret.write_text(PASSWORD + "\n")
    with writer(eng.engine).begin() as conn:
        route_admin.add_imap_route(conn, "eng", dovecot.url(), secret_file=str(secret))
    dovecot.append("INBOX", *mails(1, "file"))
    with running(eng) as pollers:
        wait_for(lambda: only(pollers).fetched == 1, "a message")


@pytest.mark.parametrize("scheme", ["imap", "imaps"])
def test_tls_starttls_and_implicit(eng: Core, scheme: str) -> None:
    """imap:// upgrades with STARTTLS when offered, imaps:// is TLS from the start; both verify."""
    server = Dovecot(tls=True)
    try:
        route(eng, server.url(scheme=scheme))
        server.append("INBOX", *mails(1, scheme))
        settings = tuned(eng, imap_ca_file=str(server.cert))
        with running(eng, settings) as pollers:
            wait_for(lambda: only(pollers).fetched == 1, "a message")
        # The test's own APPEND logs in without TLS; the poller's login is the TLS one.
        logins = [line for line in server.log_text().splitlines() if "Login: user=<bridge>" in line]
        assert any(", TLS, " in line for line in logins)
        # Without the test CA the certificate is refused before any password is sent.
        row, slug = configured_folders(eng.engine, tuned(eng))[0]
        store = DatabaseFolder(eng.engine, row.id, "x", timedelta(seconds=30))
        untrusted = FolderPoller(poller_config(row, slug, tuned(eng).imap), eng.inbox, store, store)
        with pytest.raises(ssl.SSLError):
            untrusted._connect()
    finally:
        server.close()


def test_folders_from_settings(eng: Core, dovecot: Dovecot) -> None:
    """`imap_folders` in the settings are polled like routed ones and keep a checkpoint row."""
    entry = ImapFolderSetting(community="eng", url=dovecot.url(), password_env=ENV, after="flag")
    settings = tuned(eng, imap_folders=[entry])
    dovecot.append("INBOX", *mails(1, "conf"))
    with running(eng, settings) as pollers:
        wait_for(lambda: only(pollers).fetched == 1, "a message")
    with eng.engine.connect() as conn:
        row = conn.execute(select(FOLDERS)).one()
    assert (row.origin, row.after_action, row.last_uid) == ("settings", "flag", 1)
    # Dropped from the settings: no longer polled, but the checkpoint stays for a comeback.
    assert configured_folders(eng.engine, tuned(eng)) == []
    with pytest.raises(ValueError, match="exactly one"):
        ImapFolderSetting(community="eng", url=dovecot.url())
    # A password in a configured URL stops the imap role at start, without echoing it.
    leaky = ImapFolderSetting(community="eng", url="imap://u:hunter2@h/INBOX", password_env=ENV)
    with pytest.raises(UsageError, match="no password in the URL") as refused:
        ImapPollers(eng, tuned(eng, imap_folders=[leaky])).start()
    assert "hunter2" not in str(refused.value)


# -- the admin's path: CLI and `bridge serve` --------------------------------------------


def _bridge(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = run_bridge(args, env)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def test_route_add_imap_stores_no_secret(tmp_path: Path, dovecot: Dovecot) -> None:
    """`bridge route add --imap ... --password-env X` records the name, never the value."""
    secret = "s3cret-that-must-not-be-stored-7d1f"
    env = {**bridge_env(tmp_path / "d"), ENV: secret}
    _bridge(env, "community", "add", "eng", "--name", "Engineering")
    url = f"imap://bridge@127.0.0.1:{dovecot.port}/INBOX"
    out = _bridge(env, "route", "add", "eng", "--imap", url, "--password-env", ENV).stdout
    assert f"route imap {url} -> eng" in out
    refused = _bridge(
        env,
        "route",
        "add",
        "eng",
        "--imap",
        f"imap://bridge:{secret}@h/INBOX",
        "--password-env",
        ENV,
        ok=False,
    )
    assert "no password in the URL" in refused.stderr
    both = _bridge(
        env, "route", "add", "eng", "--address", "x@example.com", "--imap", url, ok=False
    )
    assert "exactly one" in both.stderr
    nameless = _bridge(
        env, "route", "add", "eng", "--imap", url.replace("INBOX", "Other"), ok=False
    )
    assert "--password-env" in nameless.stderr
    engine = create_engine(
        env.get("BRIDGE_DATABASE_URL") or f"sqlite:///{tmp_path / 'd' / 'bridge.sqlite3'}"
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(FOLDERS))]
    engine.dispose()
    assert [(r["url"], r["password_env"], r["secret_file"]) for r in rows] == [(url, ENV, "")]
    assert secret not in json.dumps(rows, default=str)
    for file in (tmp_path / "d").glob("bridge.sqlite3*"):
        assert secret.encode() not in file.read_bytes()


@pytest.mark.slow
def test_serve_imap_role_and_takeover_after_kill(tmp_path: Path, dovecot: Dovecot) -> None:
    """`bridge serve --role imap --role worker` files polled mail; killed, another takes over."""
    env = {
        **os.environ,
        **bridge_env(tmp_path / "d"),
        ENV: PASSWORD,
        "BRIDGE_IMAP_LEASE_SECONDS": "2",
        "BRIDGE_IMAP_BACKOFF_MAX_SECONDS": "1",
    }
    _bridge(env, "community", "add", "eng", "--name", "Engineering")
    _bridge(
        env,
        "route",
        "add",
        "eng",
        "--imap",
        dovecot.url(),
        "--password-env",
        ENV,
        "--after",
        "flag",
        "--policy",
        "open",
    )
    serve = [sys.executable, "-m", "bridge", "serve", "--role", "imap", "--role", "worker"]

    def states() -> dict[str, str]:
        out = _bridge(env, "log", "--json").stdout
        return {
            json.loads(line)["message_id"]: json.loads(line)["state"] for line in out.splitlines()
        }

    first = subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        dovecot.append("INBOX", *mails(1, "srv"))
        wait_for(lambda: states().get("srv0@example.com") == "done", "the first message filed")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    second = subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        dovecot.append("INBOX", *mails(2, "srv")[1:])
        wait_for(lambda: states().get("srv1@example.com") == "done", "the second message filed")
    finally:
        second.terminate()
        second.wait(30)
    assert states() == {"srv0@example.com": "done", "srv1@example.com": "done"}
