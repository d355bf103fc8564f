"""Attachments as downloads, and a message's HTML in a sandboxed frame of its own.

Attachments: always `Content-Disposition: attachment` with a neutral
`application/octet-stream` type (the sender chose the declared type), so a
browser never renders an attached page or SVG in our origin. Image previews
are served inline only when the bytes themselves are PNG, JPEG, GIF or WebP.

A message's HTML (already sanitised by mail/html.py at import) is served as
a document of its own under a CSP that forbids scripts, forms, plugins and
every remote load, with the CSP `sandbox` directive on top. Inline images
(`cid:`) become data: URLs of raster images, so the frame needs no cookie
and no request. Remote images are shown only when the reader asks
(`?remote=1`): the message is sanitised again from its raw bytes with them kept.
"""

from __future__ import annotations

import base64
import hashlib
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from markupsafe import escape

from web.archive import ReaderArchive
from web.deps import CoreDep, ViewerDep
from web.reading import not_found

router = APIRouter()

ATTACHMENT_CSP = "default-src 'none'; sandbox"
RASTER = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
MAX_INLINE_IMAGE = 2_000_000  # bytes of one cid: image embedded as a data: URL
MAIL_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;margin:12px;color:#1d1f21;background:#fff;"
    "overflow-wrap:anywhere}img{max-width:100%;height:auto}table{max-width:100%}"
    "blockquote{margin:0 0 0 .8em;padding-left:.8em;border-left:3px solid #ccc;color:#555}"
)
STYLE_HASH = base64.b64encode(hashlib.sha256(MAIL_STYLE.encode()).digest()).decode()


def raster_type(head: bytes) -> str | None:
    """The image type the bytes really are, for the formats browsers decode safely."""
    for magic, kind in RASTER.items():
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def content_disposition(kind: str, filename: str) -> str:
    """RFC 6266: an ASCII fallback and the UTF-8 name (RFC 8187)."""
    clean = "".join(c for c in filename if c.isprintable() and c not in '"\\/\r\n') or "attachment"
    ascii_name = clean.encode("ascii", "replace").decode().replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(clean, safe='')}"


def attachment_bytes(stored: Path, archive: ReaderArchive, row: Any) -> bytes | Path | None:
    """The stored file (under `stored`, the attachments directory), or the part taken from
    the raw message when it was not kept apart."""
    path = stored / row.sha256[:2] / row.sha256
    if path.is_file():
        return path
    if row.raw_id is None:
        return None
    return part_by_digest(archive.raw_bytes(row.raw_id) or b"", row.sha256)


def part_by_digest(raw: bytes, sha256: str) -> bytes | None:
    msg = message_from_bytes(raw, policy=policy.default)
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and hashlib.sha256(payload).hexdigest() == sha256:
            return payload
    return None


@router.get("/a/{attachment_id}/{filename:path}", response_model=None)
def download(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    attachment_id: int,
    filename: str,
    preview: bool = False,
) -> Response:
    """An attachment as a download; `?preview=1` shows a real raster image inline."""
    with ReaderArchive(core, viewer) as archive:
        row = archive.attachment(attachment_id)
        if row is None:
            raise not_found("There is no attachment at this address, or it is not visible to you.")
        data = attachment_bytes(core.settings.attachments_dir, archive, row)
    if data is None:
        raise not_found("This attachment's bytes are no longer stored.")
    head = _head(data)
    headers = {"Content-Security-Policy": ATTACHMENT_CSP, "Cache-Control": "private, max-age=3600"}
    kind = raster_type(head) if preview else None
    if kind is not None:
        headers["Content-Disposition"] = content_disposition("inline", row.filename or "image")
        media = kind
    else:
        headers["Content-Disposition"] = content_disposition("attachment", row.filename or "")
        media = "application/octet-stream"
    if isinstance(data, Path):
        return FileResponse(data, media_type=media, headers=headers)
    return Response(data, media_type=media, headers=headers)


def _head(data: bytes | Path) -> bytes:
    if isinstance(data, Path):
        with data.open("rb") as f:
            return f.read(16)
    return data[:16]


@router.get("/m/{message_pk}/html", response_class=HTMLResponse)
def message_html(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    message_pk: int,
    remote: bool = False,
) -> HTMLResponse:
    """The message's sanitised HTML as its own sandboxed document (framed by the thread page)."""
    with ReaderArchive(core, viewer) as archive:
        row = archive.message(message_pk, original_html=remote)
        if row is None or not row.html:
            raise not_found("This message has no HTML version here.")
        cids = archive.inline_attachments(message_pk)
        files = {aid: archive.attachment(aid, readable=False) for aid in set(cids.values())}
        stored = core.settings.attachments_dir
        urls = {cid: _data_url(stored, archive, files[aid]) for cid, aid in cids.items()}
    urls = {cid: url for cid, url in urls.items() if url}
    html = row.html
    # The stored HTML keeps known cid: references; they become data: URLs here.
    for cid, url in urls.items():
        html = html.replace(f'"cid:{cid}"', f'"{url}"')
    img_src = "data: https: http:" if remote else "data:"
    csp = (
        f"default-src 'none'; img-src {img_src}; style-src 'sha256-{STYLE_HASH}'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
        "sandbox allow-popups allow-popups-to-escape-sandbox"
    )
    title = escape(row.subject or "Message")
    body = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta name="referrer" content="no-referrer"><title>{title}</title>'
        f'<style>{MAIL_STYLE}</style><base target="_blank"></head><body>{html}</body></html>'
    )
    return HTMLResponse(
        body,
        headers={
            "Content-Security-Policy": csp,
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, max-age=600",
        },
    )


def _data_url(stored: Path, archive: ReaderArchive, row: Any) -> str | None:
    if row is None or row.size > MAX_INLINE_IMAGE:
        return None
    data = attachment_bytes(stored, archive, row)
    if isinstance(data, Path):
        data = data.read_bytes()
    if not data:
        return None
    kind = raster_type(data[:16])
    if kind is None:
        return None
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"
