"""The schema check without Alembic: the head read from the scripts, and when it may skip."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from tests.support.env import settings_for
from threads.db import MIGRATIONS, make_engine, migrate, writer
from threads.schema_head import VERSIONS, at_head, head_revision

ROOT = Path(__file__).resolve().parents[2]


def alembic_head(location: Path = MIGRATIONS) -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    return ScriptDirectory.from_config(cfg).get_current_head()


def test_head_is_alembics() -> None:
    """The scripts' own lines give the revision Alembic calls head."""
    assert head_revision() is not None
    assert head_revision() == alembic_head()


def copy_of_versions(tmp_path: Path) -> Path:
    """A copy of the migrations folder (so Alembic can read it too); its versions folder."""
    assert VERSIONS.parent == MIGRATIONS
    shutil.copytree(
        MIGRATIONS, tmp_path / "migrations", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path / "migrations" / "versions"


def add_script(folder: Path, name: str, body: str) -> None:
    (folder / name).write_text(f'"""A test script."""\n\n{body}\n', encoding="utf-8")


def test_a_copy_reads_the_same(tmp_path: Path) -> None:
    assert head_revision(copy_of_versions(tmp_path)) == head_revision()


def test_a_new_script_becomes_head(tmp_path: Path) -> None:
    folder = copy_of_versions(tmp_path)
    head = head_revision()
    add_script(folder, "9999_next.py", f'revision = "9999"\ndown_revision: str | None = "{head}"')
    assert head_revision(folder) == "9999" == alembic_head(folder.parent)


@pytest.mark.parametrize(
    "body",
    [
        # Two scripts on one parent: two heads, which one Alembic upgrades to is not ours to say.
        'revision = "9999"\ndown_revision = "{head_parent}"',
        # A merge point, branch labels, a dependency, a computed name: not a plain chain link.
        'revision = "9999"\ndown_revision = ("{head}", "0001")',
        'revision = "9999"\ndown_revision = "{head}"\nbranch_labels = ("extra",)',
        'revision = "9999"\ndown_revision = "{head}"\ndepends_on = "0001"',
        'revision = make_name()\ndown_revision = "{head}"',
        'revision = "9999"',
        'revision = "9999"\nrevision = "9998"\ndown_revision = "{head}"',
        # A parent no script has, and a second root.
        'revision = "9999"\ndown_revision = "nowhere"',
        'revision = "9999"\ndown_revision = None',
        # The head's own name again.
        'revision = "{head}"\ndown_revision = "{head}"',
        # A helper module beside the scripts: Alembic would refuse it, so must this.
        "HELPER = 1",
    ],
)
def test_anything_unclear_is_not_known(tmp_path: Path, body: str) -> None:
    """Whatever the reading is not sure of answers None, so Alembic runs as before."""
    folder = copy_of_versions(tmp_path)
    head = head_revision()
    assert head is not None
    head_script = next(p for p in folder.glob("*.py") if f'\nrevision = "{head}"' in p.read_text())
    parent = re.search(r'^down_revision = "(\w+)"', head_script.read_text(), re.MULTILINE)
    assert parent is not None
    add_script(folder, "9999_odd.py", body.format(head=head, head_parent=parent.group(1)))
    assert head_revision(folder) is None


def test_a_script_named_with_an_underscore_counts(tmp_path: Path) -> None:
    """Alembic loads `_next.py` as a migration: a head there is the head."""
    folder = copy_of_versions(tmp_path)
    add_script(folder, "_next.py", f'revision = "9999"\ndown_revision = "{head_revision()}"')
    assert head_revision(folder) == "9999" == alembic_head(folder.parent)


def test_no_scripts_is_not_known(tmp_path: Path) -> None:
    assert head_revision(tmp_path) is None


def test_at_head_follows_the_version_row(tmp_path: Path) -> None:
    """New database: not at head; migrated: at head; any other recorded revision, or
    none: not, and `migrate` then hands it to Alembic."""
    engine = make_engine(settings_for(tmp_path).effective_database_url)
    try:
        assert not at_head(engine)
        migrate(engine)
        assert at_head(engine)
        for rows in (["0001"], [], [head_revision(), "0001"]):
            with writer(engine).begin() as conn:
                conn.execute(text("DELETE FROM alembic_version"))
                for row in rows:
                    conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": row})
            assert not at_head(engine)
        with writer(engine).begin() as conn:
            conn.execute(text("DELETE FROM alembic_version"))
            conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": head_revision()})
        assert at_head(engine)
    finally:
        engine.dispose()


def test_an_older_schema_is_still_upgraded(tmp_path: Path) -> None:
    """`migrate` on a database left at an older revision runs the missing migrations."""
    engine = make_engine(settings_for(tmp_path).effective_database_url)
    try:
        migrate(engine, "0026")
        assert not at_head(engine)
        migrate(engine)
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        assert version == alembic_head()
        assert at_head(engine)
    finally:
        engine.dispose()


def loads_alembic(url: str) -> bool:
    """Whether a fresh process's `migrate` on `url` imported Alembic."""
    code = (
        "import sys\n"
        "from threads.db import make_engine, migrate\n"
        "engine = make_engine(sys.argv[1])\n"
        "migrate(engine)\n"
        "engine.dispose()\n"
        "print('alembic' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, url], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout.strip() == "True"


def test_a_current_database_opens_without_alembic(tmp_path: Path) -> None:
    """The first open migrates with Alembic; the next, finding nothing to do, skips it."""
    url = settings_for(tmp_path).effective_database_url
    assert loads_alembic(url)
    assert not loads_alembic(url)
