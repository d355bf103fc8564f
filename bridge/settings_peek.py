"""The few settings a quick client needs, resolved as `Settings` would, with the stdlib only.

`bridge experts` asks a running `bridge serve` over the data directory's
socket (bridge/local_socket.py) before it imports anything heavy: pydantic
and pydantic-settings alone cost more than the whole asked answer. So the
data directory, the database URL and the two settings that shape who sees
what (organisation domains, the bridge's mail domain) are read here the way
bridge/settings.py reads them: a flag, then `BRIDGE_*` in the environment
(names matched without regard to case, as pydantic-settings does), then the
toml file named by BRIDGE_CONFIG or ./bridge.toml, then the default. A test
holds this to `load_settings` for every source. Anything this module cannot
read as `Settings` would (a damaged toml file, a value of the wrong type)
answers None, and the caller takes the ordinary path, where `Settings`
reports the problem itself.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA = Path("var")
DEFAULT_MAIL_DOMAIN = "bridge.localhost"


@dataclass(frozen=True, slots=True)
class Peek:
    data: Path
    database_url: str  # the effective one: the SQLite default filled in
    org_domains: tuple[str, ...]
    mail_domain: str


class _Unreadable(Exception):
    """A source this module cannot read exactly as `Settings` would."""


def peek(data: Path | None = None, environ: Mapping[str, str] | None = None) -> Peek | None:
    """The settings of a command run with `--data data` in `environ` (default: this
    process's), or None when they cannot be read cheaply."""
    given = os.environ if environ is None else environ
    env = {k.lower(): v for k, v in given.items()}
    try:
        # The file's name is read exactly as spelt (settings_customise_sources).
        toml = _toml(Path(given.get("BRIDGE_CONFIG", "bridge.toml")))
        folder = data if data is not None else Path(_pick(env, toml, "data", str(DEFAULT_DATA)))
        url = _pick(env, toml, "database_url", "")
        domains = _domains(env.get("bridge_org_domains", toml.get("org_domains", [])))
        mail_domain = _pick(env, toml, "mail_domain", DEFAULT_MAIL_DOMAIN)
    except _Unreadable:
        return None
    return Peek(
        data=folder,
        database_url=url or f"sqlite:///{folder / 'bridge.sqlite3'}",
        org_domains=domains,
        mail_domain=mail_domain,
    )


def _toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise _Unreadable from exc


def _pick(env: Mapping[str, str], toml: Mapping[str, object], key: str, default: str) -> str:
    if f"bridge_{key}" in env:
        return env[f"bridge_{key}"]
    value = toml.get(key, default)
    if not isinstance(value, str):
        raise _Unreadable(key)
    return value


def _domains(value: object) -> tuple[str, ...]:
    # As Settings._split_list: a string is split on commas and lowered, a list kept.
    if isinstance(value, str):
        return tuple(d.strip().lower() for d in value.split(",") if d.strip())
    if isinstance(value, list) and all(isinstance(d, str) for d in value):
        return tuple(value)
    raise _Unreadable("org_domains")


def normal_database_url(url: str, cwd: Path) -> str:
    """`url` with a relative SQLite path made absolute against `cwd`: two processes in
    different folders name one file alike, and one name never means two files."""
    prefix, sep, rest = url.partition(":///")
    if not sep or not prefix.startswith("sqlite"):
        return url
    path, query, params = rest.partition("?")
    if not path or path == ":memory:":
        return url
    return f"{prefix}:///{os.path.normpath(cwd / path)}{query}{params}"
