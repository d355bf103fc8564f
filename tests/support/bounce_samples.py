"""Real bounce samples from flufl.bounce 6.0.0 (Apache-2.0), fetched at test time.

The sdist ships about a hundred real bounces in `tests/data/` and, in
`tests/test_detectors.py`, a `DETECTORS` table of (detector, file, expected
addresses, is_temporary). Nothing of it is committed here: the archive is
downloaded once into `bench/out/peers/` (git-ignored), checked against a
pinned sha256, and the table is read from the Python source with `ast`, so
no expected value is copied by hand. Without network the tests skip.
"""

from __future__ import annotations

import ast
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

VERSION = "6.0.0"
# sha256 of flufl_bounce-6.0.0.tar.gz as served by PyPI (computed 2026-11-26).
SHA256 = "a1df16b9d1877ae4536f7d76c00d8421fcefbe694f80f5285d05c45a2547b1bc"
ROOT = Path(__file__).resolve().parents[2] / "bench" / "out" / "peers"
TARGET = ROOT / f"flufl-bounce-{VERSION}"


@dataclass
class Expectation:
    """What flufl.bounce's tests say one sample file holds (addresses lower-cased)."""

    permanent: set[str] = field(default_factory=set)
    temporary: set[str] = field(default_factory=set)


def fetch() -> Path:
    """The unpacked sdist directory, downloading it once; skips the test when impossible."""
    marker = TARGET / ".complete"
    if marker.exists():
        return TARGET / f"flufl_bounce-{VERSION}"
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"flufl.bounce=={VERSION}",
            "-d",
            tmp,
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as error:
            pytest.skip(f"flufl.bounce sdist not downloadable: {error}")
        archives = list(Path(tmp).glob("flufl_bounce-*.tar.gz"))
        if done.returncode != 0 or not archives:
            pytest.skip(f"flufl.bounce sdist not downloadable: {done.stderr.strip()[-300:]}")
        data = archives[0].read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != SHA256:
            pytest.fail(f"flufl.bounce sdist sha256 {digest} differs from the pinned {SHA256}")
        # Unpacked beside TARGET and renamed into place in one step: test processes
        # running side by side (pytest -n) never read a half-written sample.
        ROOT.mkdir(parents=True, exist_ok=True)
        unpacked = Path(tempfile.mkdtemp(dir=ROOT))
        with tarfile.open(archives[0]) as archive:
            archive.extractall(unpacked, filter="data")
        (unpacked / ".complete").write_text(SHA256 + "\n")
        if TARGET.exists() and not marker.exists():
            shutil.rmtree(TARGET, ignore_errors=True)  # an older, unfinished unpacking
        try:
            unpacked.rename(TARGET)
        except OSError:  # another process got there first
            shutil.rmtree(unpacked, ignore_errors=True)
    return TARGET / f"flufl_bounce-{VERSION}"


def sample_files(root: Path) -> list[Path]:
    """Every sample message in the sdist's tests/data."""
    return sorted(p for p in (root / "tests" / "data").glob("*.txt"))


def expectations(root: Path) -> dict[str, Expectation]:
    """File name -> expected addresses, read from the DETECTORS table with `ast`.

    A file listed under several detectors (one finds nothing, another finds
    the address) expects the union of what they find.
    """
    source = (root / "tests" / "test_detectors.py").read_text(encoding="utf-8")
    table: list[tuple[str, str, list[bytes], bool]] | None = None
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "DETECTORS" for t in node.targets
        ):
            table = ast.literal_eval(node.value)
    if table is None:
        raise AssertionError("flufl.bounce test_detectors.py has no DETECTORS table")
    found: dict[str, Expectation] = {}
    for _detector, filename, addresses, is_temporary in table:
        entry = found.setdefault(filename, Expectation())
        decoded = {a.decode("utf-8").lower() for a in addresses}
        (entry.temporary if is_temporary else entry.permanent).update(decoded)
    return found
