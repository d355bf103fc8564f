"""A private Dovecot IMAP server for the tests: its own config, Maildir and port in a temp dir.

Debian's `dovecot-imapd` (installed by .ci/debian-packages) is started in the
foreground with a config written here: base_dir, state and log in the
temporary directory, one passwd-file user with a `{PLAIN}` password, Maildir
under the same directory, plain IMAP on a free loopback port, and optionally
STARTTLS and an imaps port with a self-signed certificate. As root (like
tests/support/backend.py's PostgreSQL) Dovecot runs its login processes as
`dovenull` and the mail user as `nobody`; as another user everything runs as
that user (Dovecot's rootless mode). Tests put mail in by IMAP APPEND, which
is what a mail server delivering into a shared mailbox looks like to a poller.
"""

from __future__ import annotations

import base64
import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

from imapclient import IMAPClient

from tests.support.net import free_port
from tests.support.token_endpoint import ISSUER

USER = "bridge"
PASSWORD = "imap-test-secret"  # a throw-away test server's password


def _dovecot_binary() -> str:
    found = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else ""
    )
    if not found:
        raise RuntimeError("Dovecot not found: apt-get install dovecot-imapd (.ci/debian-packages)")
    return found


class Dovecot:
    """One throw-away IMAP server; `restart` kills every process of it, as a crash would."""

    def __init__(self, *, capability: str = "", tls: bool = False, oauth_key: bytes = b"") -> None:
        self.binary = _dovecot_binary()
        self.base = Path(tempfile.mkdtemp(prefix="bridge-dovecot-"))
        # The mail user (nobody) must reach its Maildir below this directory.
        self.base.chmod(0o755)
        self.port = free_port()
        self.tls_port = 0
        while tls and self.tls_port in (0, self.port):
            self.tls_port = free_port()
        self.cert = self.base / "cert.pem" if tls else None
        self.log = self.base / "dovecot.log"
        self._proc: subprocess.Popen[bytes] | None = None
        root = os.geteuid() == 0
        me = pwd.getpwuid(os.geteuid()).pw_name
        my_group = grp.getgrgid(os.getegid()).gr_name
        mail_user = pwd.getpwnam("nobody") if root else pwd.getpwuid(os.geteuid())
        mail = self.base / "mail"
        mail.mkdir()
        os.chown(mail, mail_user.pw_uid, mail_user.pw_gid)
        users = self.base / "users"
        users.write_text(
            f"{USER}:{{PLAIN}}{PASSWORD}:{mail_user.pw_uid}:{mail_user.pw_gid}::{mail}/{USER}::\n"
        )
        tls_lines = "ssl = no\n"
        if tls:
            self._make_certificate()
            tls_lines = f"ssl = yes\nssl_cert = <{self.cert}\nssl_key = <{self.base / 'key.pem'}\n"
        rootless = "" if root else "  chroot =\n"
        oauth_passdb = self._oauth_passdb(oauth_key) if oauth_key else ""
        (self.base / "dovecot.conf").write_text(
            f"""base_dir = {self.base}/run
state_dir = {self.base}/state
log_path = {self.log}
protocols = imap
listen = 127.0.0.1
{tls_lines}disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
default_internal_user = {"dovecot" if root else me}
default_internal_group = {"dovecot" if root else my_group}
default_login_user = {"dovenull" if root else me}
first_valid_uid = {mail_user.pw_uid}
mail_location = maildir:{mail}/%u
{f"imap_capability = {capability}" if capability else ""}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
{"  mechanisms = plain login" if oauth_key else ""}
}}
{oauth_passdb}userdb {{
  driver = passwd-file
  args = username_format=%u {users}
}}
service imap-login {{
{rootless}  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
  }}
}}
service anvil {{
{rootless}}}
"""
        )
        self.start()

    def _oauth_passdb(self, key: bytes) -> str:
        """XOAUTH2 accepted only with a JWT Dovecot validates itself: HS256 with `key`, not
        expired, from tests/support/token_endpoint.py's issuer, for the user logging in."""
        keys = self.base / "keys" / "default" / "HS256"
        keys.mkdir(parents=True)
        # Dovecot looks the key up as shared/<azp>/<alg>/<kid>: "default" when absent.
        (keys / "default").write_text(base64.b64encode(key).decode())
        for path in (self.base / "keys", keys.parent, keys, keys / "default"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        (self.base / "oauth2.conf").write_text(
            f"""introspection_mode = local
local_validation_key_dict = fs:posix:prefix={self.base / "keys"}/
username_attribute = sub
issuers = {ISSUER}
"""
        )
        return f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {self.base / "oauth2.conf"}
}}
"""

    def _make_certificate(self) -> None:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(self.base / "key.pem"),
                "-out",
                str(self.cert),
            ],
            check=True,
            capture_output=True,
        )

    # -- process -------------------------------------------------------------------

    def start(self) -> None:
        # Its own session: `stop` kills the master and every imap process with it.
        self._proc = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.base / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(f"dovecot exited: {err}{self._log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"dovecot did not answer on port {self.port}: {self._log_text()}")

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait(timeout=30)
        if self._proc.stderr:
            self._proc.stderr.close()

    def restart(self) -> None:
        """A crash and a restart: open connections die, the mail stays."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def _log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    # -- what a test needs ---------------------------------------------------------

    def url(self, folder: str = "INBOX", *, scheme: str = "imap", auth: str = "") -> str:
        port = self.tls_port if scheme == "imaps" else self.port
        return f"{scheme}://{USER}{auth}@127.0.0.1:{port}/{folder}"

    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        client.login(USER, PASSWORD)
        return client

    def append(self, folder: str, *raws: bytes, when: datetime | None = None) -> None:
        """Deliver messages into a folder, creating it on first use (INTERNALDATE `when`)."""
        with self.client() as client:
            for raw in raws:
                self._append_one(client, folder, raw, when)

    @staticmethod
    def _append_one(client: IMAPClient, folder: str, raw: bytes, when: datetime | None) -> None:
        # Right after a test deletes a folder that a poller still has selected, Dovecot can
        # refuse the next APPEND with "Mailbox was deleted under us" while it drops the old
        # index; the refused message was not stored, so it is sent again.
        for attempt in range(5):
            if not client.folder_exists(folder):
                client.create_folder(folder)
            try:
                client.append(folder, raw, msg_time=when)
                return
            except IMAPClient.Error as exc:
                if "deleted under us" not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.2)

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def flags(self, folder: str = "INBOX") -> dict[int, set[bytes]]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            got = client.get_flags(client.search("ALL"))
        return {uid: set(flags) for uid, flags in got.items()}

    def log_text(self) -> str:
        return self._log_text()
