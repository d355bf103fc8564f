"""Settings: sources and precedence, generated secret, and documentation of every field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.settings import Settings, load_settings
from tests.support.paths import ROOT

DOCS = ROOT / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    """docs/settings.md names every field as BRIDGE_NAME."""
    documented = set(re.findall(r"`BRIDGE_([A-Z_]+)`", DOCS.read_text()))
    assert {name.upper() for name in Settings.model_fields} <= documented


def test_flags_beat_environment_beat_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Precedence: flag > BRIDGE_* environment > bridge.toml > default."""
    toml = tmp_path / "bridge.toml"
    toml.write_text('smtp_port = 2525\nweb_port = 9000\nmail_domain = "toml.example"\n')
    monkeypatch.setenv("BRIDGE_CONFIG", str(toml))
    monkeypatch.setenv("BRIDGE_WEB_PORT", "9100")
    monkeypatch.setenv("BRIDGE_ORG_DOMAINS", "Example.com, example.org")
    s = load_settings(data=tmp_path / "d", smtp_port=None, web_port=9200)
    assert (s.smtp_port, s.web_port, s.mail_domain) == (2525, 9200, "toml.example")
    assert s.org_domains == ["example.com", "example.org"]
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'd' / 'bridge.sqlite3'}"


def test_secret_key_generated_once_and_kept(tmp_path: Path) -> None:
    """Without a configured key, one is generated into the data dir and reused."""
    first = load_settings(data=tmp_path)
    second = load_settings(data=tmp_path)
    assert len(first.secret_key) >= 40
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
