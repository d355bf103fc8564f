"""A store where one word lives only in a members-only community, for tests of what
search may reveal (suggestions) to readers of the public one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from bridge.core import Core
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail

# In the members-only community "deal" only; "sandwiches" is in the public "eng".
PRIVATE_WORD = "zebrafish"


def public_and_private(core: Core) -> dict[str, int]:
    """Communities eng (public) and deal (members only), one message each; their ids."""
    eng = create_community(core, visibility="public")
    deal = create_community(
        core, slug="deal", name="Deal", visibility="members", addresses=["deal@lists.example.com"]
    )
    deliver(
        core,
        make_mail("Lunch", msgid="l@example.com", body="Sandwiches at noon.\n"),
        make_mail(
            "Project zebrafish",
            msgid="z@example.com",
            to="deal@lists.example.com",
            body=f"The {PRIVATE_WORD} acquisition closes Friday.\n",
        ),
    )
    return {"eng": eng, "deal": deal}


def index_rows(core: Core) -> list[tuple[Any, ...]]:
    """The full-text index's rows as stored, in rowid order, on either backend."""
    with core.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            q = "SELECT rowid, subject, body, sender, subject_stems, body_stems FROM message_fts"
        else:
            q = "SELECT rowid, tsv::text FROM message_fts"
        return [tuple(r) for r in conn.execute(text(q + " ORDER BY rowid"))]
