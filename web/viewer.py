"""The viewer of a request: routes declare `viewer: ViewerDep` (web/deps.py).

The session cookie (web/security.py) names a `web_session` row; the row names
the person. No cookie, a cookie we did not sign, an expired or deleted
session, or a disabled person: the viewer is anonymous. On /api paths an
`Authorization: Bearer` token (web/bearer.py) names the viewer instead. The answer is kept on
the request, so a page asking twice costs one query.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import select

from threads.access import ANONYMOUS, Viewer, viewer_for_person
from threads.models import WebSession, as_utc, utcnow
from web.bearer import api_viewer, bearer
from web.security import digest, session_id
from web.state import core_of

S = WebSession.__table__


def current_viewer(request: Request) -> Viewer:
    cached = getattr(request.state, "viewer", None)
    if isinstance(cached, Viewer):
        return cached
    viewer = ANONYMOUS
    if (secret := bearer(request)) is not None:
        # A bearer request is its token's owner alone: its cookies are not consulted.
        viewer = api_viewer(request, secret)
    elif sid := session_id(request):
        core = core_of(request)
        with core.engine.connect() as conn:
            row = conn.execute(
                select(S.c.person_id, S.c.expires_at).where(S.c.id_hash == digest(sid))
            ).first()
            expires = as_utc(row.expires_at) if row is not None else None
            if row is not None and expires is not None and expires > utcnow():
                viewer = viewer_for_person(conn, row.person_id, core.settings.org_domains)
    request.state.viewer = viewer
    return viewer
