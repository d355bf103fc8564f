"""A store where one word lives only in a members-only community, for tests of what
search may reveal (suggestions) to readers of the public one."""

from __future__ import annotations

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
