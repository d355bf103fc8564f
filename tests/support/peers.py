"""Other projects' published test mail, fetched at test-setup time and never committed.

Six peer projects ship the mail their own tests run on inside their published
packages: talon, HyperKitty, GNU Mailman, mail-parser and salmon-mail on PyPI
(source distributions only: the wheels leave the tests out) and
email-reply-parser on npm. `python tests/support/peers.py fetch` downloads pinned
versions with pip and npm, checks each archive's SHA-256, and unpacks it under
`bench/out/peers/` (git-ignored; `BRIDGE_PEERS_CACHE` moves it). Once unpacked,
a second run does nothing, so `make test` calls it every time. Without a
network the fetch says why and exits 0: the tests that need a peer skip with
that reason instead of failing the suite.

Why not commit them: their licences differ from ours and from each other
(talon and mail-parser Apache-2.0, email-reply-parser MIT, HyperKitty and
salmon-mail GPLv3, Mailman GPLv3+, as their package metadata states), and some
samples are real mail, phishing and spam among them. Every mail file is
treated as hostile input: the archives are checked against pinned SHA-256
digests before anything reads them, unpacked with tarfile's "data" filter (no
links out of the folder, no device files, no absolute paths), and the files
are only ever read, by our parser. (pip runs each sdist's own build backend to
read its metadata, as any pip install does; the hash check comes first.)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_COMPLETE = ".complete"  # written last, so an interrupted unpack is redone


@dataclass(frozen=True, slots=True)
class Peer:
    """One pinned package and where its tests keep their mail."""

    name: str
    version: str
    registry: str  # "pypi" or "npm"
    sha256: str  # of the archive the registry serves for this version
    licence: str  # as the package metadata states it
    fixture_dirs: tuple[str, ...]  # folders, relative to the unpacked root, that hold test mail


PEERS: dict[str, Peer] = {
    peer.name: peer
    for peer in (
        Peer(
            "talon",
            "1.4.4",
            "pypi",
            "263d122609747691e9f75726ea565f5da8a40146a7a81eb5883e51b8224b0e5c",
            "Apache-2.0",
            ("tests/fixtures",),
        ),
        Peer(
            "hyperkitty",
            "1.3.12",
            "pypi",
            "deb582937ec5bc9ea9c1d5d86bfb76a4da429b60e1fea6fd6964e7c667cf161d",
            "GPLv3",
            ("hyperkitty/tests/testdata",),
        ),
        Peer(
            "mailman",
            "3.3.10",
            "pypi",
            "0de478fcf326f25d931938c3744e61c5cd67596b46e5b1e3bb2abf99d5445632",
            "GPLv3+",
            ("src/mailman",),  # test data sits in each component's tests/ folder
        ),
        Peer(
            "mail-parser",
            "4.8.0",
            "pypi",
            "602e659b159652d378b0f9cce2d682bee692bedae72687786e2b2e52eaeb9afc",
            "Apache-2.0",
            ("tests/mails",),
        ),
        Peer(
            "salmon-mail",
            "3.3.0",
            "pypi",
            "550d2db25dec887209947431e48dbfd83a79fa981f1f86a6521de74a27718bfe",
            "GPLv3",
            ("tests/data",),
        ),
        Peer(
            "email-reply-parser",
            "1.4.2",
            "npm",
            "be8c04d2404b59584ad6c68f961002cb7e7fd3d0215a64dd25f90d940d50c7a5",
            "MIT",
            ("test/fixtures",),
        ),
    )
}

# Files in a test tree that are code, configuration or binary data, not mail.
_NOT_MAIL_SUFFIXES = frozenset(
    {".py", ".pyc", ".js", ".json", ".cfg", ".ini", ".toml", ".conf", ".pck", ".mo", ".po"}
    | {".crt", ".key", ".pem", ".png", ".jpg", ".gif", ".rst", ".md", ".dat", ".data", ".npy"}
    | {".pkl", ".gz", ".zip", ".tgz", ".xz"}
)
_TEST_FOLDER = {"tests", "test", "testdata", "testing", "fixtures", "data", "mails"}
# An RFC 5322 header field name and colon, or an mbox "From " separator line.
_MAIL_START = re.compile(rb"\A(?:\xef\xbb\xbf)?(?:From |[\x21-\x39\x3b-\x7e]{1,76}:)")


@dataclass(frozen=True, slots=True)
class Fixture:
    """One file of a peer's test data: kind "message", "mbox", "html", "text" or "binary"."""

    peer: str
    path: Path
    kind: str

    @property
    def ref(self) -> str:
        """A short name for test ids and reports: peer/relative/path."""
        return f"{self.peer}/{self.path.relative_to(peer_root(self.peer) or self.path.parent)}"


def cache_dir() -> Path:
    return Path(os.environ.get("BRIDGE_PEERS_CACHE") or ROOT / "bench" / "out" / "peers")


def peer_root(name: str) -> Path | None:
    """The unpacked package, or None when it has not been fetched (yet)."""
    peer = PEERS[name]
    root = cache_dir() / f"{peer.name}-{peer.version}"
    return root if (root / _COMPLETE).is_file() else None


def missing(names: list[str] | None = None) -> list[str]:
    """Peers that are not unpacked in the cache."""
    return [name for name in names or list(PEERS) if peer_root(name) is None]


def skip_reason(names: list[str] | None = None) -> str:
    """Why a test that needs these peers cannot run, for pytest.skip."""
    absent = missing(names)
    note = cache_dir() / "fetch-error.txt"
    lines = note.read_text(errors="replace").splitlines() if note.is_file() else []
    errors = [line for line in lines if line.split(":", 1)[0] in absent]
    why = "; ".join(errors) if errors else "not fetched yet"
    return (
        f"peer fixtures {', '.join(absent)} not in {cache_dir()} ({why}); "
        "run `.venv/bin/python tests/support/peers.py fetch` with network access"
    )


def fixtures(name: str) -> list[Fixture]:
    """The mail-like files in a fetched peer's test folders, sorted; [] when not fetched."""
    root = peer_root(name)
    if root is None:
        return []
    found = []
    for folder in PEERS[name].fixture_dirs:
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root).parts[:-1]
            if path.is_symlink() or not path.is_file() or not _TEST_FOLDER & set(relative):
                continue
            kind = _kind(path)
            if kind is not None:
                found.append(Fixture(name, path, kind))
    return found


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in _NOT_MAIL_SUFFIXES or path.name.startswith(("__init__", ".")):
        return None
    if suffix in (".html", ".htm"):
        return "html"
    with path.open("rb") as stream:
        head = stream.read(4096)
    if b"\x00" in head and not _MAIL_START.match(head):
        return "binary"  # mail-parser ships an Outlook .msg (an OLE compound file)
    if head.startswith(b"From "):
        return "mbox"
    return "message" if _MAIL_START.match(head) else "text"


def messages(fixture: Fixture) -> Iterator[tuple[str, bytes]]:
    """(ref, raw bytes) of each message in a fixture file: one, or one per mbox entry."""
    if fixture.kind != "mbox":
        yield fixture.ref, fixture.path.read_bytes()
        return
    from mail.archive import read_archive  # imported late: fetch must run without the project

    for index, message in enumerate(read_archive(fixture.path), 1):
        yield f"{fixture.ref}#{index}", message.raw


# --- fetching ------------------------------------------------------------------------


def fetch(names: list[str], *, timeout: int = 20) -> dict[str, str]:
    """Download and unpack the peers not in the cache yet; {name: error} for those that failed."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    errors: dict[str, str] = {}
    for name in names:
        if peer_root(name) is not None:
            continue
        peer = PEERS[name]
        try:
            archive = _download(peer, cache / "downloads", timeout)
            _check_sha256(archive, peer.sha256)
            _unpack(archive, cache / f"{peer.name}-{peer.version}")
        except (OSError, subprocess.SubprocessError, ValueError, tarfile.TarError) as error:
            lines = str(error).strip().splitlines()
            errors[name] = lines[-1][:300] if lines else repr(error)
    note = cache / "fetch-error.txt"
    if errors:
        note.write_text("".join(f"{name}: {error}\n" for name, error in errors.items()))
    elif note.exists():
        note.unlink()
    return errors


def _download(peer: Peer, downloads: Path, timeout: int) -> Path:
    """The archive in `downloads`, fetched with the registry's own client when absent."""
    downloads.mkdir(parents=True, exist_ok=True)
    existing = _archive_in(peer, downloads)
    if existing is not None and _sha256(existing) == peer.sha256:
        return existing
    with tempfile.TemporaryDirectory(dir=downloads) as scratch:
        if peer.registry == "pypi":
            # With --require-hashes pip checks the archive before it reads anything in it
            # (to get an sdist's metadata pip runs the project's build backend, as any
            # install would).
            pinned = Path(scratch) / "pinned.txt"
            pinned.write_text(f"{peer.name}=={peer.version} --hash=sha256:{peer.sha256}\n")
            command = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--require-hashes",
                "--disable-pip-version-check",
                "--timeout",
                str(timeout),
                "--retries",
                "1",
                "--dest",
                scratch,
                "--requirement",
                str(pinned),
            ]
        else:
            npm = shutil.which("npm")
            if npm is None:
                raise OSError("npm is not installed")
            command = [
                npm,
                "pack",
                "--loglevel=error",
                "--fetch-retries=1",
                f"--fetch-timeout={timeout * 1000}",
                "--pack-destination",
                scratch,
                f"{peer.name}@{peer.version}",
            ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout * 30)
        if done.returncode != 0:
            output = (done.stderr.strip() or done.stdout.strip()).splitlines()
            errors = [line for line in output if "error" in line.lower() and "log" not in line]
            why = (errors or output or ["no output"])[0]
            raise OSError(f"{peer.registry} download exited {done.returncode}: {why}")
        found = _archive_in(peer, Path(scratch))
        if found is None:
            raise OSError(f"{peer.name} {peer.version}: no archive after download")
        return Path(shutil.move(found, downloads / found.name))


def _archive_in(peer: Peer, folder: Path) -> Path | None:
    # sdists normalise "-" to "_" in file names (PEP 625); npm keeps the name.
    stems = {peer.name, peer.name.replace("-", "_")}
    for path in folder.glob("*.t*gz"):
        if any(path.name.startswith(f"{stem}-{peer.version}.t") for stem in stems):
            return path
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256(path: Path, expected: str) -> None:
    actual = _sha256(path)
    if actual != expected:
        path.unlink()
        raise ValueError(f"{path.name}: SHA-256 {actual}, expected {expected}; removed")


def _unpack(archive: Path, target: Path) -> None:
    """Unpack the archive's single top folder into `target`, refusing anything unsafe."""
    if target.exists():
        shutil.rmtree(target)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch, tarfile.open(archive) as tar:
        # The "data" filter (PEP 706) rejects absolute names, "..", links that
        # leave the folder and special files, and drops set-uid bits.
        tar.extractall(scratch, filter="data")
        tops = list(Path(scratch).iterdir())
        if len(tops) != 1 or not tops[0].is_dir():
            raise ValueError(f"{archive.name}: expected one top folder, found {len(tops)}")
        tops[0].rename(target)
    (target / _COMPLETE).write_text(archive.name + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch and list peer projects' test mail.")
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("fetch", help="download and unpack the peers not cached yet")
    get.add_argument("names", nargs="*", help=f"default: all of {', '.join(PEERS)}")
    get.add_argument("--timeout", type=int, default=20, help="network timeout in seconds")
    sub.add_parser("list", help="fixture files per peer")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        unknown = sorted(set(args.names) - set(PEERS))
        if unknown:
            parser.error(f"unknown peers: {', '.join(unknown)}")
        errors = fetch(args.names or list(PEERS), timeout=args.timeout)
        for name, error in errors.items():
            print(f"peers: could not fetch {name}: {error}", file=sys.stderr)
        if errors:
            print("peers: tests that need them will be skipped", file=sys.stderr)
        # A missing network must not fail `make test`; a wrong checksum is reported above
        # and leaves the peer unfetched, so its tests skip with the reason.
        return 0
    for name in PEERS:
        found = fixtures(name)
        kinds = sorted({fixture.kind for fixture in found})
        counts = ", ".join(f"{sum(f.kind == k for f in found)} {k}" for k in kinds)
        print(f"{name:20s} {counts or 'not fetched'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
