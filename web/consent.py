"""Consent on the web: a nudge's signed links, and a participant's candidates.

A nudge (bridge/pipeline/nudges.py) carries two links, `/consent/TOKEN`: open the
conversation, or keep it private. They work without logging in, since holding
the mail is what authorises the choice (as with unsubscribe links), and they
expire after BRIDGE_CONSENT_LINK_DAYS. GET only shows the conversation and a
button, because link scanners and previewers fetch mailed links; the POST
acts. Acting twice is harmless: the second answer says it was already done.

`/me/candidates` lists, for a logged-in person, the candidates they take part
in, with Open / Keep private buttons where BRIDGE_CONSENT_OPENERS lets them
decide. A candidate is nobody else's business: to anyone else it is 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, select

from bridge import consent_decision
from bridge.core import Core
from bridge.i18n import N_
from bridge.pipeline.nudges import people_count
from mail.errors import TokenExpired
from mail.tokens import ConsentLinkClaim, verify_consent_link_token
from threads import consent
from threads.db import writer
from threads.models import CandidateState, Community
from web.deps import CoreDep, ViewerDep
from web.render import render
from web.state import core_of
from web.viewer import current_viewer

router = APIRouter()
CAND = consent.CAND
COMMUNITY = Community.__table__
DECISIONS = {"open": "opened", "private": "private"}
DONE = {
    "opened": N_("The conversation is open. Its messages are being published now."),
    "private": N_("The conversation stays private. Nothing of it will be published."),
}
ALREADY = {
    "opened": N_("This conversation was already opened."),
    "private": N_("This conversation was already kept private."),
}
NOT_FOUND = N_("There is no such conversation.")


def _claim(core: Core, token: str) -> ConsentLinkClaim:
    key = core.settings.secret_key
    try:
        return verify_consent_link_token(key, token, today=datetime.now(UTC).date())
    except TokenExpired as exc:
        # This page says more than web/errors.py's "expired": where to decide instead.
        raise HTTPException(
            410,
            "This link has expired. If you were on the conversation, log in and find it "
            "under “Cc threads” to decide there; until someone opens it, nothing is published.",
        ) from exc


def _candidate(conn: Connection, candidate_id: int) -> Any:
    return conn.execute(
        select(CAND, COMMUNITY.c.name.label("community_name"), COMMUNITY.c.slug)
        .join(COMMUNITY, COMMUNITY.c.id == CAND.c.community_id)
        .where(CAND.c.id == candidate_id)
    ).first()


def _view(row: Any, community: str, people: int, *, may_decide: bool) -> dict[str, Any]:
    """What the pages show of a candidate: never its mail beyond the opening lines."""
    return {
        "id": row.id,
        "subject": row.subject or "(no subject)",
        "starter": row.starter,
        "starter_name": row.starter_name,
        "people": people,
        "community": community,
        "excerpt": row.excerpt,
        "state": row.state,
        "thread_id": row.thread_id,
        "may_decide": may_decide,
    }


def decide(core: Core, candidate_id: int, action: str, actor: str, via: str) -> bool:
    """Open or keep private in one write transaction, audited; False if no change."""
    with writer(core.engine).begin() as conn:
        return consent_decision.decide_candidate(conn, candidate_id, DECISIONS[action], actor, via)


# --- the nudge's links ---------------------------------------------------------------


def _link_page(
    request: Request,
    core: Core,
    token: str,
    claim: ConsentLinkClaim,
    *,
    done: str = "",
    status: int = 200,
) -> Response:
    settings = core.settings
    with core.engine.connect() as conn:
        row = _candidate(conn, claim.candidate_id)
        people = people_count(conn, row.participants, settings.mail_domain) if row else 0
    if row is None or not consent.may_decide(
        row, claim.address, settings.consent_openers, settings.org_domains
    ):
        raise HTTPException(404, NOT_FOUND)
    offered = ["open", "private"] if claim.action == "any" else [claim.action]
    # A private conversation may still be opened; an opened one stays open.
    if row.state == CandidateState.opened.value:
        offered = []
    elif row.state == CandidateState.private.value:
        offered = [a for a in offered if a == "open"]
    already = "" if done or offered else ALREADY.get(row.state, "")
    return render(
        request,
        "consent/confirm.html",
        status=status,
        candidate=_view(row, row.community_name, people, may_decide=True),
        offered=offered,
        token=token,
        done=done,
        already=already,
        address=claim.address,
    )


@router.get("/consent/{token}", response_class=HTMLResponse)
def consent_page(request: Request, core: CoreDep, token: str) -> Response:
    return _link_page(request, core, token, _claim(core, token))


@router.post("/consent/{token}", response_model=None)
def consent_act(request: Request, core: CoreDep, token: str, action: str = Form("")) -> Response:
    claim = _claim(core, token)
    if action not in DECISIONS or claim.action not in (action, "any"):
        raise HTTPException(
            400, N_("This link offers another choice; please use the page's button.")
        )
    with core.engine.connect() as conn:
        row = _candidate(conn, claim.candidate_id)
    settings = core.settings
    if row is None or not consent.may_decide(
        row, claim.address, settings.consent_openers, settings.org_domains
    ):
        raise HTTPException(404, NOT_FOUND)
    if decide(core, row.id, action, claim.address, "link"):
        done = DONE[DECISIONS[action]]
    else:
        done = ALREADY.get(row.state, "Nothing changed.")
    return _link_page(request, core, token, claim, done=done)


# --- a participant's candidates --------------------------------------------------------


@router.get("/me/candidates", response_class=HTMLResponse)
def my_candidates(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    done: str = "",
) -> Response:
    if viewer.email is None:
        return RedirectResponse("/login?next=/me/candidates", status_code=303)
    settings = core.settings
    with core.engine.connect() as conn:
        rows = consent.candidates_of(conn, viewer.email)
        names = dict(
            conn.execute(
                select(COMMUNITY.c.id, COMMUNITY.c.name).where(
                    COMMUNITY.c.id.in_({r.community_id for r in rows})
                )
            ).all()
        )
        candidates = [
            _view(
                row,
                names.get(row.community_id, ""),
                people_count(conn, row.participants, settings.mail_domain),
                may_decide=consent.may_decide(
                    row, viewer.email, settings.consent_openers, settings.org_domains
                ),
            )
            for row in rows
        ]
    message = {**DONE, "already": "That was already decided."}.get(done, "")
    return render(request, "consent/mine.html", candidates=candidates, done=message)


@router.post("/me/candidates/{candidate_id}", response_model=None)
def decide_candidate(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    candidate_id: int,
    action: str = Form(""),
) -> Response:
    """Open or keep private from the list; anyone not on the conversation gets 404."""
    with core.engine.connect() as conn:
        row = _candidate(conn, candidate_id)
    if row is None or not consent.is_participant(row, viewer.email):
        raise HTTPException(404, NOT_FOUND)
    assert viewer.email is not None  # a participant has an address
    settings = core.settings
    if not consent.may_decide(row, viewer.email, settings.consent_openers, settings.org_domains):
        raise HTTPException(403, N_("Only the person who started this conversation may decide."))
    if action not in DECISIONS:
        raise HTTPException(400, N_("Please choose Open or Keep private."))
    changed = decide(core, candidate_id, action, viewer.email, "web")
    outcome = DECISIONS[action] if changed else "already"
    return RedirectResponse(f"/me/candidates?done={outcome}", status_code=303)


def waiting_count(request: Request) -> int | None:
    """For the site header: None if the viewer takes part in no candidate, else how many wait.

    Asked on every page a logged-in person sees: one index lookup
    (consent_participant), kept on the request.
    """
    cached = getattr(request.state, "consent_waiting", False)
    if cached is not False:
        return cached
    viewer = current_viewer(request)
    found: int | None = None
    if viewer.email:
        with core_of(request).engine.connect() as conn:
            found = consent.waiting_count(conn, viewer.email)
    request.state.consent_waiting = found
    return found
