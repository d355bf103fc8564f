"""Archive readers for bulk import: mbox (also .gz/.xz), Maildir, folders of .eml, single files.

Everything streams: an mbox of any size is read line by line and each
message is yielded as soon as its end is seen, so memory stays flat. mbox
variants differ in how they escape body lines starting with "From ": mboxrd
adds one '>' to any line matching ^>*From (we remove one), mboxo only to
^From (indistinguishable on read; removing one '>' from ">From " is what
every reader does). Content-Length based mboxcl files are read the same way,
which is right as long as bodies were escaped, as the writers we know do.

An archive that cannot be read to its end raises `BadArchive` after the
messages read before the damage were yielded: a truncated download keeps
what it has, and the importer says in one line what is wrong and where.
"""

from __future__ import annotations

import gzip
import lzma
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mail.errors import BadArchive

_FROM_ESCAPED = re.compile(rb"^>+From ")
_KIND = {".gz": "gzip", ".xz": "xz"}


@dataclass(frozen=True, slots=True)
class ArchivedMessage:
    raw: bytes
    ref: str  # where it came from: "path" or "path#n" inside an mbox
    position: int  # bytes of the (compressed) file read so far, for progress


def total_size(paths: list[Path]) -> int:
    """Bytes to read, for a progress bar (compressed size for .xz/.gz)."""
    total = 0
    for path in paths:
        if path.is_dir():
            total += sum(f.stat().st_size for f in _message_files(path))
        elif path.exists():
            total += path.stat().st_size
    return total


def read_archive(path: Path) -> Iterator[ArchivedMessage]:
    """Messages of an mbox file, a Maildir, a folder of .eml files, or one message file.

    Raises BadArchive when the file cannot be read to its end or holds no message.
    """
    read = 0
    try:
        for message in _read_any(path):
            yield message
            read += 1
    except (EOFError, OSError, lzma.LZMAError, zlib.error) as error:
        raise BadArchive(path, _problem(path, error, read), read) from error
    if read == 0:
        raise BadArchive(path, _nothing_in(path))


def _read_any(path: Path) -> Iterator[ArchivedMessage]:
    if path.is_dir():
        yield from _read_folder(path)
    elif path.stat().st_size == 0:
        return
    elif _looks_like_mbox(path):
        yield from _read_mbox(path)
    else:
        stream, raw = _open(path)
        with stream, raw:
            data = stream.read()
        if data:
            yield ArchivedMessage(data, str(path), path.stat().st_size)


def _problem(path: Path, error: BaseException, read: int) -> str:
    """What is wrong, for one line: cut short, not the format its name says, or damaged."""
    kind = _KIND.get(path.suffix, "")
    where = f"in message {read + 1}, after {read} whole message{'s' if read != 1 else ''}"
    if isinstance(error, EOFError):
        return (
            f"cut short {where}: the {kind} data ends before its end marker"
            " (an unfinished download or copy?)"
        )
    foreign = "Not a gzipped file" in str(error) or "format not supported" in str(error)
    if foreign and read == 0:
        with path.open("rb") as f:
            plain = f.read(5) == b"From "
        hint = f": it is a plain mbox, rename it without {path.suffix}" if plain else ""
        return f"not {'an' if kind == 'xz' else 'a'} {kind} file{hint}"
    if kind and not isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError):
        return f"damaged {kind} data {where}: {error}"
    return f"cannot be read {where}: {error.strerror if isinstance(error, OSError) else error}"


def _nothing_in(path: Path) -> str:
    if not path.is_dir():
        return "no messages in it" if path.stat().st_size else "empty file, no messages in it"
    if (path / "cur").is_dir() or (path / "new").is_dir():
        return "a Maildir with no messages in cur/ or new/"
    return "no mail found: not a Maildir (no cur/ or new/) and no .eml files in it"


def _open(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """(decompressed stream, underlying file) so progress can follow the file on disk."""
    raw = path.open("rb")
    if path.suffix == ".xz":
        return lzma.open(raw), raw  # type: ignore[return-value]
    if path.suffix == ".gz":
        return gzip.open(raw), raw  # type: ignore[return-value]
    return raw, raw


def _looks_like_mbox(path: Path) -> bool:
    stream, raw = _open(path)
    try:
        return stream.read(5) == b"From "
    finally:
        stream.close()
        raw.close()


def _read_mbox(path: Path) -> Iterator[ArchivedMessage]:
    stream, raw = _open(path)
    try:
        lines: list[bytes] = []
        count = 0
        previous_blank = True
        for line in stream:
            if line.startswith(b"From ") and previous_blank:
                if lines:
                    count += 1
                    yield ArchivedMessage(_finish(lines), f"{path}#{count}", raw.tell())
                lines = []
                previous_blank = False
                continue
            previous_blank = line in (b"\n", b"\r\n")
            if line.startswith(b">") and _FROM_ESCAPED.match(line):
                line = line[1:]
            lines.append(line)
        if lines:
            count += 1
            yield ArchivedMessage(_finish(lines), f"{path}#{count}", raw.tell())
    finally:
        stream.close()
        raw.close()


def _finish(lines: list[bytes]) -> bytes:
    # The blank line before the next "From " separator belongs to the mbox, not the message.
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(lines)


def _read_folder(path: Path) -> Iterator[ArchivedMessage]:
    position = 0
    for file in _message_files(path):
        data = file.read_bytes()
        position += len(data)
        yield ArchivedMessage(data, str(file), position)


def _message_files(path: Path) -> list[Path]:
    """A Maildir's cur/ and new/ (never tmp/, which holds half-written files), or *.eml."""
    if (path / "cur").is_dir() or (path / "new").is_dir():
        files = [f for sub in ("cur", "new") for f in sorted((path / sub).glob("*")) if f.is_file()]
    else:
        files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() == ".eml")
    return files
