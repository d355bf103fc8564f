"""Whether a database's schema is already at the newest revision, without Alembic.

Importing Alembic and running its upgrade, even one with nothing to do, costs a
one-question command (`bridge experts`) more CPU than its question: Alembic
and Mako imports, every migration script loaded, the models imported by the
environment. The newest revision is read here from the migration scripts' own
`revision = "…"` and `down_revision = "…"` lines, and compared with the one row
of `alembic_version`. Anything this reading is not sure of (a script it cannot
read, branch labels or dependencies, a merge, no head or several) answers "not
known", and the caller runs Alembic as before: the shortcut may only skip an
upgrade that would have done nothing.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

VERSIONS = Path(__file__).with_name("migrations") / "versions"

_ASSIGN = re.compile(
    r"^(revision|down_revision|branch_labels|depends_on)\s*(?::[^=\n]*)?=\s*(.*?)\s*(?:#.*)?$",
    re.MULTILINE,
)
_QUOTED = re.compile(r'^"([^"\\]+)"$|^\'([^\'\\]+)\'$')


@cache
def head_revision(folder: Path = VERSIONS) -> str | None:
    """The one revision no other script names as its parent, or None when unsure."""
    parents: dict[str, str | None] = {}
    for script in sorted(folder.glob("*.py")):
        # The files Alembic itself passes over; any other must be a migration it loads.
        if script.name.startswith(("__init__", ".#")):
            continue
        found = _read_script(script.read_text(encoding="utf-8"))
        if found is None:
            return None
        revision, parent = found
        if revision in parents:
            return None
        parents[revision] = parent
    named_as_parent = {p for p in parents.values() if p is not None}
    heads = [r for r in parents if r not in named_as_parent]
    roots = [r for r, p in parents.items() if p is None]
    # A parent that is no script's revision is a chain this reading does not understand.
    if len(heads) != 1 or len(roots) != 1 or not named_as_parent <= parents.keys():
        return None
    return heads[0]


def _read_script(source: str) -> tuple[str, str | None] | None:
    """A script's (revision, down_revision); None for anything but one plain chain link."""
    values: dict[str, list[str]] = {}
    for match in _ASSIGN.finditer(source):
        values.setdefault(match.group(1), []).append(match.group(2))
    if any(len(v) != 1 for v in values.values()) or not {"revision", "down_revision"} <= set(
        values
    ):
        return None
    if any(values.get(name, ["None"])[0] != "None" for name in ("branch_labels", "depends_on")):
        return None
    revision = _string(values["revision"][0])
    if revision is None:
        return None
    raw_parent = values["down_revision"][0]
    if raw_parent == "None":
        return revision, None
    parent = _string(raw_parent)
    return None if parent is None else (revision, parent)


def _string(literal: str) -> str | None:
    match = _QUOTED.match(literal)
    return None if match is None else match.group(1) or match.group(2)


def at_head(engine: Any) -> bool:
    """True when the database records exactly the newest revision; False when unsure."""
    from sqlalchemy.exc import DBAPIError

    head = head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except DBAPIError:  # no such table yet: a new database
        return False
    return [tuple(r) for r in rows] == [(head,)]
