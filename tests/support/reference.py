"""Reference threading for corpus tests: connected components of In-Reply-To/References."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from mail.archive import read_archive
from threads.threading import parse_msgid_list


def reference_threads(path: Path) -> list[set[str]]:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    real: set[str] = set()
    for item in read_archive(path):
        msg = email.message_from_bytes(item.raw, policy=email.policy.compat32)
        ids = parse_msgid_list(str(msg.get("Message-ID", "")))
        if not ids:
            continue
        me = ids[0]
        real.add(me)
        for other in parse_msgid_list(str(msg.get("References", ""))) + parse_msgid_list(
            str(msg.get("In-Reply-To", ""))
        ):
            parent[find(other)] = find(me)
    groups: dict[str, set[str]] = {}
    for mid in real:
        groups.setdefault(find(mid), set()).add(mid)
    return list(groups.values())
