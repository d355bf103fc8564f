"""The language switch in every page's footer: `POST /language`.

A plain form (no script), CSRF-checked like every POST. The choice goes into the
`bridge_lang` cookie and, for a logged-in person, onto their own person row, taken
from their session and never from the form, so it follows them to every device
and into the mail the bridge sends them. Only a shipped locale is accepted.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import update

from bridge.i18n import N_, known
from threads.db import writer
from threads.models import Person
from web.auth import safe_next
from web.deps import CoreDep, ViewerDep
from web.state import cookies_of

router = APIRouter()
P = Person.__table__
ONE_YEAR = 365 * 24 * 3600


@router.post("/language")
def choose_language(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    locale: str = Form("", max_length=32),
    next: str = Form("/"),
) -> RedirectResponse:
    """Keep the chosen language (the person's row if logged in, and a cookie); back to `next`."""
    code = known(locale)
    if code is None:
        raise HTTPException(400, N_("That language is not offered here."))
    if viewer.person_id is not None and not viewer.anonymous:
        with writer(core.engine).begin() as conn:
            conn.execute(update(P).where(P.c.id == viewer.person_id).values(locale=code))
    response = RedirectResponse(safe_next(next), status_code=303)
    cookies = cookies_of(request)
    response.headers.append("set-cookie", cookies.header(cookies.lang, code, ONE_YEAR))
    return response
