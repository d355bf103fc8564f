"""`bridge dkim keygen` / `record` run as an admin runs them (tests/support/cli.py), and
what `bridge serve` (a subprocess) does when signing is on but the key is not usable."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_bridge
from tests.support.env import bridge_env

DOMAIN = "lists.example.org"


def bridge(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_bridge(args, bridge_env(data, BRIDGE_MAIL_DOMAIN=DOMAIN), cwd=data.parent)


def serve(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`bridge serve ARGS` as a process: it stops at start-up here, with its status."""
    return subprocess.run(
        [sys.executable, "-m", "bridge", "serve", *args],
        env=bridge_env(data, BRIDGE_MAIL_DOMAIN=DOMAIN, **env),
        capture_output=True,
        text=True,
        cwd=data.parent,
        timeout=120,
    )


def published(stdout: str) -> dict[str, str]:
    pairs = (line.strip().partition(":") for line in stdout.splitlines())
    return {k: v.strip() for k, _, v in pairs if k in ("name", "value")}


def test_keygen_writes_a_private_file_and_prints_the_record(tmp_path: Path) -> None:
    """0600 key in a 0700 DATA/dkim, the TXT name and value printed, the key itself not."""
    data = tmp_path / "data"
    result = bridge(data, "dkim", "keygen", "--selector", "s2026")
    assert result.returncode == 0, result.stderr
    key = data / "dkim" / f"s2026._domainkey.{DOMAIN}.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    record = published(result.stdout)
    assert record["name"] == f"s2026._domainkey.{DOMAIN}"
    assert record["value"].startswith("v=DKIM1; k=rsa; p=MIIB")  # a 2048-bit RSA key's SPKI
    assert "PRIVATE" not in result.stdout + result.stderr
    assert key.read_text().splitlines()[1] not in result.stdout + result.stderr
    again = bridge(data, "dkim", "record", "--selector", "s2026")
    assert published(again.stdout) == record


def test_keygen_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    """A second keygen for the same selector fails in one line and leaves the key as it was."""
    data = tmp_path / "data"
    assert bridge(data, "dkim", "keygen", "--selector", "s1").returncode == 0
    key = data / "dkim" / f"s1._domainkey.{DOMAIN}.pem"
    before = key.read_bytes()
    refused = bridge(data, "dkim", "keygen", "--selector", "s1")
    assert refused.returncode == 1
    assert "exists" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert key.read_bytes() == before
    forced = bridge(data, "dkim", "keygen", "--selector", "s1", "--force")
    assert forced.returncode == 0
    assert key.read_bytes() != before
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


@pytest.mark.parametrize("selector", ["../../etc/x", "a/b", "-x", "a..b"])
def test_keygen_refuses_a_selector_that_is_no_dns_label(tmp_path: Path, selector: str) -> None:
    """A selector is part of a file name and a DNS name: nothing else gets through."""
    result = bridge(tmp_path / "data", "dkim", "keygen", "--selector", selector)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "data").rglob("*.pem"))


def test_serve_refuses_to_start_without_the_key(tmp_path: Path) -> None:
    """Signing on, key missing: `bridge serve` stops at once, saying what to run."""
    result = serve(tmp_path / "data", "--role", "sender", BRIDGE_DKIM_SELECTOR="missing")
    assert result.returncode == 1
    assert "bridge dkim keygen --selector missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_key_that_is_not_a_key(tmp_path: Path) -> None:
    """A damaged key file is a start-up error naming the file, not a crash per message."""
    data = tmp_path / "data"
    key = data / "dkim" / f"bad._domainkey.{DOMAIN}.pem"
    key.parent.mkdir(parents=True)
    key.write_bytes(b"-----BEGIN RSA PRIVATE KEY-----\ngarbage\n-----END RSA PRIVATE KEY-----\n")
    os.chmod(key, 0o600)
    result = serve(data, "--role", "web", BRIDGE_DKIM_SELECTOR="bad")
    assert result.returncode == 1
    assert str(key) in result.stderr
    assert "not a usable PEM private key" in result.stderr
    assert "garbage" not in result.stderr
