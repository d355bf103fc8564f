"""`bridge route test`: does a polled folder work? Token, login and select, in plain words.

Runs in the admin's process, apart from any running poller: it reads no mail,
moves no checkpoint and takes no lease. It prints no secret and no token,
only whether each step worked and, if not, why.
"""

from __future__ import annotations

import time
from typing import Any

from imapclient.exceptions import LoginError
from sqlalchemy import Connection, select

from bridge.admin import community_id_of
from bridge.errors import UsageError
from bridge.pollers import poller_config, token_source
from bridge.settings import Settings
from mail.errors import LoginRefused, OAuthError
from mail.imap import parse_imap_url, plain_error, probe
from threads.models import ImapFolder


def folders_of(conn: Connection, slug: str, url: str | None) -> list[Any]:
    """`slug`'s folder rows, or the one at `url`; UsageError when there is none."""
    f = ImapFolder.__table__
    stmt = select(f).where(f.c.community_id == community_id_of(conn, slug))
    if url:
        try:
            stmt = stmt.where(f.c.url == str(parse_imap_url(url)))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    rows = conn.execute(stmt.order_by(f.c.url)).all()
    if not rows:
        raise UsageError(f"community '{slug}' polls no IMAP folder{' ' + url if url else ''}")
    return list(rows)


def check_folder(row: Any, slug: str, settings: Settings) -> list[tuple[str, bool, str]]:
    """Each step as (name, worked, what happened); stops at the first that fails."""
    steps: list[tuple[str, bool, str]] = []
    source = token_source(row, settings.imap)
    config = poller_config(row, slug, settings.imap, source=source)
    if source is not None:
        try:
            source.token()
        except Exception as exc:
            return [("token", False, plain_error(exc))]
        left = (source.expires_at or time.time()) - time.time()
        # The login below uses the token just fetched (cached), not a second one.
        steps.append(("token", True, f"from {source.client.describe()}, valid {left:.0f} s"))
    logged_in = ("login", True, f"as the folder's user on {config.url.host}:{config.url.port}")
    try:
        info = probe(config)
    except (LoginError, LoginRefused, OSError, OAuthError) as exc:
        return [*steps, ("login", False, plain_error(exc))]
    except Exception as exc:  # logged in, but the folder would not open
        return [*steps, logged_in, ("select", False, plain_error(exc))]
    return [
        *steps,
        logged_in,
        ("select", True, f"{config.url.folder}: {info['messages']} messages"),
    ]
