"""The error tree as data for the boundary tests: every class under the three roots,
and an instance of each carrying a recognisable message.

Walking `__subclasses__` (not a list written here) means a class added to the tree
later is checked by every boundary's test without anyone remembering to add it.
"""

from __future__ import annotations

from pathlib import Path

import web.app  # noqa: F401  (imports every module that may define an error class)
from bridge.errors import BridgeError, Held
from mail.errors import BadArchive, MailError
from threads.errors import ThreadsError
from threads.models import HoldKind

ROOTS: tuple[type[Exception], ...] = (BridgeError, MailError, ThreadsError)
# Text no answer may show: it stands for internals (paths, SQL, secrets) in a message.
SECRET = "s3cret-internals"


def tree_classes() -> list[type[Exception]]:
    """The roots and every class below them, in a stable order."""
    found: dict[str, type[Exception]] = {}
    todo: list[type[Exception]] = list(ROOTS)
    while todo:
        cls = todo.pop()
        found[f"{cls.__module__}.{cls.__qualname__}"] = cls
        todo.extend(cls.__subclasses__())
    return [found[name] for name in sorted(found)]


def instance(cls: type[Exception], message: str = f"bad thing ({SECRET})") -> Exception:
    """An instance of `cls` whose text is `message`, whatever its constructor takes."""
    if issubclass(cls, Held):
        return cls(HoldKind.loop, message)
    if issubclass(cls, BadArchive):
        return cls(Path("/srv"), message)
    return cls(message)
