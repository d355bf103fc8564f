"""`bridge doctor` against real peers: the DNS stub with good and bad records, a recording
relay, our own SMTP listener, a port held by someone else; and what it must never print.

Most checks run on `diagnose` (bridge/doctor.py); the command itself runs
through the real command line (tests/support/cli.py) for its exit status and its lines.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Any

from bridge import admin
from bridge.core import open_core
from bridge.dkim_keys import keygen
from bridge.doctor import Finding, diagnose
from tests.support.cli import run_bridge
from tests.support.dkimkeys import DkimKey
from tests.support.dnsstub import DNSStub, silent_udp
from tests.support.env import bridge_env, settings_for
from tests.support.factories import bridge_listener
from tests.support.net import free_port
from tests.support.relay import RelayHandler
from threads.db import writer

DOMAIN = "bridge.example"


def settings(data: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "mail_domain": DOMAIN,
        "public_url": "https://bridge.example.com",
        "smtp_port": free_port(),
        "web_port": free_port(),
        **overrides,
    }
    return settings_for(data, **values)


def doctor_command(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`bridge doctor --offline` as an admin runs it."""
    return run_bridge(["doctor", "--offline"], env)


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def publish_good(stub: DNSStub, record: str) -> None:
    stub.add_mx(DOMAIN, f"mx.{DOMAIN}")
    stub.add_txt(DOMAIN, "v=spf1 mx -all")
    stub.add_txt(f"s1._domainkey.{DOMAIN}", record)
    stub.add_txt(f"_dmarc.{DOMAIN}", "v=DMARC1; p=quarantine; rua=mailto:d@bridge.example")


def migrated(s: Any) -> None:
    core = open_core(s)
    with writer(core.engine).begin() as conn:
        admin.add_community(conn, "eng", "Engineering", addresses=[f"eng@lists.{DOMAIN}"])
    core.close()


def test_a_good_installation_is_all_ok(
    tmp_path: Path, dns_stub: DNSStub, recording_relay: tuple[int, RelayHandler]
) -> None:
    """Published records, a live relay, a migrated database, a usable key: every line ok."""
    s = settings(
        tmp_path / "d",
        dns_servers=[dns_stub.address],
        dkim_selector="s1",
        smtp_relay=f"127.0.0.1:{recording_relay[0]}",
        smtp_relay_tls="none",
    )
    publish_good(dns_stub, keygen(s, "s1", DOMAIN).record)
    migrated(s)
    findings = list(diagnose(s))
    assert [f for f in findings if f.status != "ok"] == []
    assert set(by_check(findings)) >= {
        "settings", "smtp port", "web port", "data directory", "database", "dkim key",
        "dkim alignment", "relay", "dns mx", "dns spf", "dns dkim", "dns dmarc",
    }  # fmt: skip
    assert "publishes our key" in by_check(findings)["dns dkim"].detail


def test_bad_records_fail_with_what_to_fix(tmp_path: Path, dns_stub: DNSStub) -> None:
    """Another key published, two SPF records, no MX, no DMARC: each says what to do."""
    s = settings(tmp_path / "d", dns_servers=[dns_stub.address], dkim_selector="s1")
    keygen(s, "s1", DOMAIN)
    dns_stub.add_txt(f"s1._domainkey.{DOMAIN}", DkimKey.generate("doctor-other").record)
    dns_stub.add_txt(DOMAIN, "v=spf1 mx -all")
    dns_stub.add_txt(DOMAIN, "v=spf1 a -all")
    found = by_check(list(diagnose(s)))
    assert found["dns dkim"].status == "fail"
    assert "bridge dkim record" in found["dns dkim"].detail
    assert found["dns spf"].status == "fail"
    assert "2 SPF records" in found["dns spf"].detail
    assert found["dns mx"].status == "fail"
    assert found["dns dmarc"].status == "warn"
    assert f"_dmarc.{DOMAIN}" in found["dns dmarc"].detail


def test_missing_and_exposed_keys(tmp_path: Path, dns_stub: DNSStub) -> None:
    """No key file for the selector, or one others can read: both fail, naming the file."""
    s = settings(tmp_path / "d", dns_servers=[dns_stub.address], dkim_selector="s1")
    found = by_check(list(diagnose(s, online=False)))
    assert found["dkim key"].status == "fail"
    assert "bridge dkim keygen --selector s1" in found["dkim key"].detail
    # A fresh install: the database is not there yet, and doctor does not create it.
    assert found["database"].status == "warn"
    assert not (tmp_path / "d" / "bridge.sqlite3").exists()
    key = keygen(s, "s1", DOMAIN)
    os.chmod(key.path, 0o644)
    found = by_check(list(diagnose(s, online=False)))
    assert found["dkim key"].status == "fail"
    assert "chmod 600" in found["dkim key"].detail


def test_without_dns_the_record_checks_say_so(tmp_path: Path) -> None:
    """A DNS server that never answers: the record checks are skipped, plainly, not failed."""
    with silent_udp() as silent:
        s = settings(tmp_path / "d", dns_servers=[silent])
        found = by_check(list(diagnose(s)))
    for name in ("dns mx", "dns spf", "dns dkim", "dns dmarc"):
        assert found[name].status == "skipped"
        assert found[name].detail.startswith("no DNS") or "signing off" in found[name].detail


def test_relay_and_ports(tmp_path: Path) -> None:
    """A relay nobody answers for fails; a port held by a stranger fails; our listener is ok."""
    stranger = socket.socket()
    stranger.bind(("127.0.0.1", 0))
    stranger.listen()
    try:
        s = settings(
            tmp_path / "d",
            smtp_relay=f"127.0.0.1:{free_port()}",
            web_port=stranger.getsockname()[1],
        )
        found = by_check(list(diagnose(s, online=True)))
    finally:
        stranger.close()
    assert found["relay"].status == "fail"
    assert "unreachable" in found["relay"].detail
    assert found["web port"].status == "fail"
    assert "another program" in found["web port"].detail
    core = open_core(settings(tmp_path / "e"))
    try:
        with bridge_listener(core, DOMAIN) as port:
            mine = settings(tmp_path / "e", smtp_port=port)
            smtp = by_check(list(diagnose(mine, online=False)))["smtp port"]
    finally:
        core.close()
    assert smtp.status == "ok"
    assert "running bridge" in smtp.detail


def test_command_exit_status_and_no_secrets(tmp_path: Path) -> None:
    """Exit 1 on a failure, one line per check; passwords and keys never printed."""
    data = tmp_path / "d"
    env = bridge_env(
        data,
        BRIDGE_MAIL_DOMAIN=DOMAIN,
        BRIDGE_DATABASE_URL=f"postgresql+psycopg://bridge:Sekr1tPass@127.0.0.1:{free_port()}/x",
        BRIDGE_SMTP_RELAY_PASSWORD="RelaySekr1t",
        BRIDGE_SECRET_KEY="AppSekr1tKey",
        BRIDGE_SMTP_PORT=str(free_port()),
        BRIDGE_WEB_PORT=str(free_port()),
    )
    result = doctor_command(env)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("fail    database:") for line in lines)
    assert "***" in output
    for secret in ("Sekr1tPass", "RelaySekr1t", "AppSekr1tKey"):
        assert secret not in output
    assert "Traceback" not in output
    assert all(line.split()[0] in ("ok", "warn", "fail", "skipped") for line in lines)


def test_settings_that_do_not_validate_are_one_line_each(tmp_path: Path) -> None:
    """A bad value is reported by field and reason, without the value itself."""
    env = bridge_env(tmp_path / "d", BRIDGE_DKIM_SELECTOR="../Sekr1t/x")
    result = doctor_command(env)
    assert result.returncode == 1
    assert result.stdout.startswith("fail    settings: dkim_selector:")
    assert "not a DNS name" in result.stdout
    assert "sekr1t" not in result.stdout.lower()
    assert "Traceback" not in result.stderr
