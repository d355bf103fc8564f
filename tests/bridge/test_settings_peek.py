"""The quick client's stdlib reading of the settings agrees with `load_settings`, by source."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.settings import load_settings
from bridge.settings_peek import normal_database_url, peek


def agree(data: Path | None = None) -> None:
    """`peek` and `load_settings` see the same data directory, database and scope."""
    settings = load_settings(data=data)
    seen = peek(data)
    assert seen is not None
    assert seen.data == settings.data
    assert seen.database_url == settings.effective_database_url
    assert list(seen.org_domains) == settings.org_domains
    assert seen.mail_domain == settings.mail_domain


@pytest.fixture
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No BRIDGE_* from the test's own environment, in an empty working directory."""
    for name in list(os.environ):
        if name.upper().startswith("BRIDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults(clean: Path) -> None:
    """Nothing set: var/, its SQLite file, no organisation, bridge.localhost."""
    agree()
    assert peek() == peek(Path("var"))


def test_flag_beats_environment_beats_toml(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--data over BRIDGE_DATA over the toml file's `data`, each read where it applies."""
    (clean / "bridge.toml").write_text('data = "from-toml"\nmail_domain = "toml.example"\n')
    agree()
    assert peek().data == Path("from-toml")  # type: ignore[union-attr]
    monkeypatch.setenv("BRIDGE_DATA", str(clean / "from-env"))
    agree()
    agree(clean / "from-flag")
    assert peek(clean / "from-flag").data == clean / "from-flag"  # type: ignore[union-attr]


def test_config_file_named_by_bridge_config(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BRIDGE_CONFIG names the toml file; ./bridge.toml is then not read."""
    (clean / "bridge.toml").write_text('data = "ignored"\n')
    other = clean / "etc" / "bridge.toml"
    other.parent.mkdir()
    other.write_text(
        f'data = "{clean / "named"}"\n'
        'database_url = "sqlite:///elsewhere.sqlite3"\n'
        'org_domains = ["example.com", "Example.ORG"]\n'
    )
    monkeypatch.setenv("BRIDGE_CONFIG", str(other))
    agree()
    assert peek().database_url == "sqlite:///elsewhere.sqlite3"  # type: ignore[union-attr]


def test_environment_spellings(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A comma list lowered and stripped; a lower-case variable name counts as pydantic's does."""
    (clean / "bridge.toml").write_text(
        'org_domains = "toml.example"\ndatabase_url = "sqlite:///t"\n'
    )
    monkeypatch.setenv("BRIDGE_ORG_DOMAINS", " Example.com,, example.org ")
    monkeypatch.setenv("bridge_database_url", "sqlite:///from-env.sqlite3")
    monkeypatch.setenv("BRIDGE_MAIL_DOMAIN", "env.example")
    agree()
    assert peek().org_domains == ("example.com", "example.org")  # type: ignore[union-attr]


def test_toml_string_list_and_empty_url(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """org_domains as one string in the toml file; an empty database_url means the default."""
    (clean / "bridge.toml").write_text('org_domains = "A.example, b.example"\ndatabase_url = ""\n')
    monkeypatch.setenv("BRIDGE_DATA", "rel/data")
    agree()


def test_unreadable_sources_answer_none(clean: Path) -> None:
    """A damaged toml file or a value of another type: the caller takes the ordinary path."""
    (clean / "bridge.toml").write_text("data = [\n")
    assert peek() is None
    (clean / "bridge.toml").write_text("data = 3\n")
    assert peek() is None
    (clean / "bridge.toml").write_text("org_domains = [1]\n")
    assert peek() is None


def test_relative_sqlite_paths_are_made_absolute() -> None:
    """One file, one name, whichever folder a process runs in; other URLs are left alone."""
    here, there = Path("/srv/a"), Path("/srv/b")
    assert normal_database_url("sqlite:///var/x.db", here) == "sqlite:////srv/a/var/x.db"
    assert normal_database_url("sqlite:///../a/var/x.db", there) == "sqlite:////srv/a/var/x.db"
    assert normal_database_url("sqlite:////abs/x.db?mode=ro", here) == "sqlite:////abs/x.db?mode=ro"
    assert normal_database_url("sqlite+pysqlite:///x.db", here) == "sqlite+pysqlite:////srv/a/x.db"
    pg = "postgresql+psycopg://u:p@h:5432/db"
    assert normal_database_url(pg, here) == pg
    assert normal_database_url("sqlite://", here) == "sqlite://"
