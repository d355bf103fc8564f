"""A fresh store for each test: typed settings for in-process cores, or the
environment for running `bridge` as a subprocess, on SQLite or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.settings import Settings, load_settings
from tests.support.backend import DATABASES


def settings_for(data: Path, **overrides: Any) -> Settings:
    """Settings for a test: its own data dir and, on PostgreSQL, its own empty database.

    Sender authentication is off unless a test turns it on: these machines
    resolve no outside names, and tests/bridge/pipeline/test_sender_trust.py checks senders
    against a DNS stub of its own.
    """
    overrides.setdefault("verify_senders", "off")
    return load_settings(data=data, database_url=DATABASES.new_url() or None, **overrides)


def bridge_env(data: Path, **extra: str) -> dict[str, str]:
    """Environment for running `bridge` as a subprocess against a fresh store."""
    env = {
        "BRIDGE_DATA": str(data),
        "PATH": "/usr/bin:/bin",
        "HOME": str(data.parent),
        "BRIDGE_VERIFY_SENDERS": "off",  # as in settings_for
    }
    if url := DATABASES.new_url():
        env["BRIDGE_DATABASE_URL"] = url
    return {**env, **extra}
