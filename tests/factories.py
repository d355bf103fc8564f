"""Factories for test data: defaults that work, overrides for what a test is about."""

from __future__ import annotations

from typing import Any

from bridge import admin
from bridge.core import Core
from mail.envelope import Envelope


def create_community(core: Core, **overrides: Any) -> int:
    fields: dict[str, Any] = {
        "slug": "eng",
        "name": "Engineering",
        "visibility": "org",
        "description": "",
        "addresses": ["eng@lists.example.com"],
    }
    fields.update(overrides)
    return admin.add_community(core.engine, **fields)


def deliver(
    core: Core, *raws: bytes, source: str = "smtp", rcpt: tuple[str, ...] = ()
) -> list[Any]:
    """Accept messages as an intake adapter would, then run the pipeline on them."""
    receipts = [
        core.inbox.accept(raw, Envelope(source=source, mail_from="", rcpt_to=rcpt)) for raw in raws
    ]
    return core.pipeline.run([r.raw_id for r in receipts if not r.duplicate])
