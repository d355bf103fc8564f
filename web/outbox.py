"""Admin pages for outgoing mail: the outbox (queued, sent, failed, and why) and bounced addresses.

Admins only (threads.access Viewer.is_admin); anyone else gets the same 404
as for a page that does not exist. The outbox shows what the queue holds,
whether the embedded default wrote it into DATA/outbox or a relay took it:
the bytes we sent are kept in the queue row.
"""

from __future__ import annotations

from email import message_from_bytes, policy

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from bridge.i18n import N_
from bridge.outbound.bounce_state import reenable
from threads import outbound
from threads.db import writer
from web.deps import CoreDep, OutboxAdminDep
from web.render import render

router = APIRouter()
STATES = ("queued", "sent", "failed", "cancelled")


@router.get("/admin/outbox", response_class=HTMLResponse)
def outbox_page(
    request: Request,
    core: CoreDep,
    viewer: OutboxAdminDep,
    state: str = "",
) -> HTMLResponse:
    wanted = state if state in STATES else None
    with core.engine.connect() as conn:
        rows = outbound.listing(conn, state=wanted, limit=200)
        counts = outbound.counts(conn)
    settings = core.settings
    return render(
        request,
        "outbox.html",
        rows=rows,
        counts=counts,
        state=wanted or "",
        states=STATES,
        relay=settings.smtp_relay,
        outbox_dir=str(settings.outbox_dir),
    )


@router.get("/admin/outbox/{mail_id}", response_class=HTMLResponse)
def outbox_message(
    request: Request,
    core: CoreDep,
    viewer: OutboxAdminDep,
    mail_id: int,
) -> HTMLResponse:
    with core.engine.connect() as conn:
        row = conn.execute(select(outbound.OUT).where(outbound.OUT.c.id == mail_id)).first()
    if row is None:
        raise HTTPException(404, N_("There is no such message in the outbox."))
    data = bytes(row.data)
    msg = message_from_bytes(data, policy=policy.default)
    plain = msg.get_body(("plain",))
    text = plain.get_content() if plain is not None else ""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    return render(request, "outbox_message.html", row=row, head=head, text=text)


@router.get("/admin/bounces", response_class=HTMLResponse)
def bounces_page(request: Request, core: CoreDep, viewer: OutboxAdminDep) -> HTMLResponse:
    with core.engine.connect() as conn:
        rows = outbound.bounced(conn)
    limit = core.settings.bounce_limit
    return render(request, "bounces.html", rows=rows, limit=limit)


@router.post("/admin/bounces/enable", response_model=None)
def enable_address(
    request: Request,
    core: CoreDep,
    viewer: OutboxAdminDep,
    address: str = Form(...),
) -> Response:
    with writer(core.engine).begin() as conn:
        reenable(conn, address, actor=viewer.email or "unknown")
    return RedirectResponse("/admin/bounces", status_code=303)
