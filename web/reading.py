"""What every reading route shares: the viewer's readable communities and privacy, page sizes.

Routes take `core: CoreDep, viewer: ViewerDep` (web/deps.py) and read the archive
through web/archive.py, which passes the viewer's readable communities into
every query (a thread one may not read answers 404 exactly like a missing
one) and redacts what it returns with the viewer's `privacy`.
"""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy import Connection

from bridge.i18n import N_
from bridge.settings import Settings
from threads.access import Viewer, readable_community_ids
from threads.privacy import Privacy, reader_privacy

PAGE_SIZE = 30
NOT_FOUND_THREAD = N_("There is no thread at this address, or it is not visible to you.")
NOT_FOUND_COMMUNITY = N_("There is no community at this address, or it is not visible to you.")
NOT_FOUND_PERSON = N_("Nobody with this address wrote anything you can read.")


def readable(conn: Connection, viewer: Viewer) -> list[int]:
    return readable_community_ids(conn, viewer)


def not_found(message: str = NOT_FOUND_THREAD) -> HTTPException:
    return HTTPException(404, message)


def human_size(size: int) -> str:
    """1 234 567 -> "1.2 MB"."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} bytes"  # pragma: no cover


# --- Addresses of external participants (docs/admin.md, "Withdrawn messages and external
# participants"): web readers see them by name; admins see every address. What the reader
# may see is decided by threads/privacy.py and applied by web/archive.py.


def privacy(conn: Connection, settings: Settings, viewer: Viewer) -> Privacy:
    """The reader's Privacy: admins see every address; with no org domains nobody is external."""
    return reader_privacy(
        conn,
        org_domains=settings.org_domains,
        mail_domain=settings.mail_domain,
        reveal=viewer.is_admin,
    )
