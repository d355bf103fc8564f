"""The language of the mail the bridge sends a recipient: the one they chose on the web.

A person's choice (the footer's switch, stored on their person row) is the only
language we know for an address; anyone else gets English, the catalogues' source.
Looked up for a batch of recipients in one query.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from sqlalchemy import Connection, select

from bridge.i18n import SOURCE, format_when, html_tag, known, translations
from mail.compose import ENGLISH, Language
from threads.models import Person

P = Person.__table__


def language(code: str | None) -> Language:
    """The composer's language for a locale code; English for None or an unknown code."""
    found = known(code) or SOURCE
    if found == SOURCE:
        return ENGLISH
    return Language(html_tag(found), translations(found), partial(format_when, code=found))


def recipient_languages(conn: Connection, addresses: Iterable[str]) -> dict[str, Language]:
    """Each address's chosen language, keyed by the lower-cased address; English if none."""
    wanted = sorted({a.lower() for a in addresses})
    chosen: dict[str, str] = {}
    for start in range(0, len(wanted), 500):  # bound the IN list on both backends
        rows = conn.execute(
            # Addresses are stored in threads/people.py's normal form (lower case).
            select(P.c.email, P.c.locale).where(
                P.c.email.in_(wanted[start : start + 500]), P.c.locale.is_not(None)
            )
        ).all()
        chosen.update({email.lower(): locale for email, locale in rows})
    return {address: language(chosen.get(address)) for address in wanted}


def language_of(conn: Connection, address: str) -> Language:
    """One recipient's chosen language (English if none): for a notice to one person."""
    return recipient_languages(conn, [address])[address.lower()]
