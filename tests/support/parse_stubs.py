"""Stand-ins for the parser that run in parse children; light to import on purpose."""

from __future__ import annotations

import os
import time

from bridge.pipeline import parsepool
from bridge.pipeline.parsepool import Result


def slow_or_crashing(raw: bytes) -> Result:
    """The real parse, except that b"SLEEP" sleeps and b"CRASH" kills the process."""
    if b"SLEEP" in raw:
        time.sleep(60)
    if b"CRASH" in raw:
        os._exit(3)
    return parsepool.prepare(raw)
