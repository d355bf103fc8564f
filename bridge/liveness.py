"""Who holds a lease, and whether that process is still alive.

Every lease the bridge writes (a worker's claim on a raw message, a sender's
on outbound mail, a poller's on an IMAP folder) names its holder as
`host:pid:start:tail`. `host` is the host name plus a short tag of the boot
and the pid namespace, so two containers that share a host name (or one
machine before and after a reboot) never read each other's pids. `start` is
when the process started, in clock ticks since boot (field 22 of
/proc/PID/stat), because pids are reused: a holder whose pid now belongs to
another process is as dead as one whose pid is gone. `tail` tells a
process's threads apart.

Only holders on this host can be checked; a holder elsewhere, or one whose
name we cannot read (written by an older version), is dead only when its
lease runs out. Where /proc is missing (not Linux) the start is empty and a
holder is dead only when its pid is gone.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

PROC = Path("/proc")
# The host name is cut so the whole name fits the 64 characters of the lease columns.
HOST_CHARS = 30


class Holder(NamedTuple):
    """What a lease's holder name says: host (with its tag), pid, start ticks."""

    host: str
    pid: int
    start: str


def parse_holder(name: str) -> Holder | None:
    """The holder a lease names, or None for a name in another shape."""
    parts = name.split(":", 3)
    if len(parts) < 3 or "~" not in parts[0] or not parts[1].isdigit():
        return None
    return Holder(parts[0], int(parts[1]), parts[2])


def process_start(pid: int) -> str | None:
    """When process `pid` started (ticks since boot), "" if unknowable, None if it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:  # gone, or hidden from us (hidepid, no /proc): ask the kernel
        return "" if _exists(pid) else None
    # The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def _exists(pid: int) -> bool:
    # Where /proc hides other users' processes (hidepid) or does not exist.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@functools.cache
def host_tag() -> str:
    """This host's part of a holder name: host name, then a tag of boot and pid namespace."""
    seen = []
    # Not Linux (no /proc): the host name alone.
    with contextlib.suppress(OSError):
        seen.append((PROC / "sys/kernel/random/boot_id").read_text().strip())
        seen.append(os.readlink(PROC / "self" / "ns" / "pid"))
    tag = hashlib.blake2b("|".join(seen).encode(), digest_size=3).hexdigest()
    name = socket.gethostname().replace(":", "-").replace("~", "-")[:HOST_CHARS]
    return f"{name}~{tag}"


@functools.cache
def _own_prefix(pid: int) -> str:
    return f"{host_tag()}:{pid}:{process_start(pid) or ''}"


def holder_name(tail: str) -> str:
    """This process's name on a lease, `tail` telling apart its threads or pollers."""
    # Keyed by pid: a forked child (the web processes) is another holder.
    return f"{_own_prefix(os.getpid())}:{tail}"[:64]


def is_dead(name: str) -> bool:
    """True only when `name` is a holder on this host whose process is gone or was replaced."""
    holder = parse_holder(name)
    if holder is None or holder.host != host_tag():
        return False
    start = process_start(holder.pid)
    if start is None:
        return True
    # An empty start on either side means it could not be read: trust the pid alone.
    return bool(start and holder.start) and start != holder.start


def dead_holders(names: Iterable[str]) -> list[str]:
    """The names among `names` held by processes on this host that are no longer running."""
    return sorted(name for name in set(names) if name and is_dead(name))
