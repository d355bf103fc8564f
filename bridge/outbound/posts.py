"""What the sender needs to compose mail: posts as the composer sees them, links, notices.

Reads only (except `ensure_people` and `queue_notice_in`, which write in the
caller's transaction); composition itself is mail/compose.py.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import quote

from sqlalchemy import Connection, select

from bridge.pipeline import replies
from bridge.settings import Settings
from mail.compose import (
    ENGLISH,
    Addressing,
    AttachedFile,
    Language,
    ListInfo,
    Post,
    compose_notice,
    thread_index_header,
)
from mail.tokens import unsubscribe_token
from mail.wire import to_wire
from threads import outbound
from threads.db import insert_ignoring_conflict
from threads.models import (
    Attachment,
    Community,
    Message,
    Person,
    Route,
    RouteKind,
    Thread,
    as_utc,
    utcnow,
)
from threads.people import try_normalize

M = Message.__table__


def as_bytes(msg: EmailMessage) -> bytes:
    """What goes on the wire: CRLF line endings, long lines folded (RFC 5322), structured
    headers folded at their spaces and never encoded (mail/wire.py)."""
    return to_wire(msg)


@dataclass(frozen=True, slots=True)
class PostRow:
    community_id: int
    thread_id: int
    list: ListInfo
    post: Post
    url: str


def load_posts(conn: Connection, pks: Iterable[int], settings: Settings) -> dict[int, PostRow]:
    """The composer's view of each message: the post, its thread's headers, its community."""
    pks = sorted(pks)
    rows = conn.execute(select(M).where(M.c.id.in_(pks))).all()
    thread_ids = {r.thread_id for r in rows}
    threads = {
        t.id: t
        for t in conn.execute(select(Thread.__table__).where(Thread.__table__.c.id.in_(thread_ids)))
    }
    keys: dict[int, str] = {}
    for thread_id, key in conn.execute(
        select(M.c.thread_id, M.c.thread_key)
        .where(M.c.thread_id.in_(thread_ids), M.c.thread_key.is_not(None))
        .order_by(M.c.id)
    ):
        keys.setdefault(thread_id, key)
    lists = list_infos(conn, {r.community_id for r in rows}, settings)
    files: dict[int, list[tuple[str, int]]] = {}
    stored: dict[int, list[tuple[str, str, str, int, bool]]] = {}
    a = Attachment.__table__
    for message_pk, filename, content_type, digest, size, kept in conn.execute(
        select(a.c.message_pk, a.c.filename, a.c.content_type, a.c.sha256, a.c.size, a.c.stored)
        .where(a.c.message_pk.in_(pks))
        .order_by(a.c.id)
    ):
        files.setdefault(message_pk, []).append((filename, size))
        stored.setdefault(message_pk, []).append((filename, content_type, digest, size, kept))
    base = settings.public_url.rstrip("/")
    out: dict[int, PostRow] = {}
    for r in rows:
        thread = threads[r.thread_id]
        chain = list(r.chain or [])
        root = chain[0] if chain else r.message_id
        started = as_utc(thread.started_at) or as_utc(r.date) or utcnow()
        url = f"{base}/t/{r.thread_id}" if base else ""
        post = Post(
            message_id=outgoing_id(r.message_id, r.id, settings.mail_domain),
            subject=r.subject or thread.subject,
            author_name=r.from_name,
            author_address=r.from_addr,
            text=r.visible_text or "",
            date=as_utc(r.date) or utcnow(),
            references=chain,
            thread_topic=thread.subject,
            thread_index_header=thread_index_header(keys.get(r.thread_id), root, started),
            thread_url=url,
            attachments=files.get(r.id, []),
            files=_attachable(stored.get(r.id, []), settings),
        )
        out[r.id] = PostRow(r.community_id, r.thread_id, lists[r.community_id], post, url)
    return out


def list_infos(conn: Connection, ids: Iterable[int], settings: Settings) -> dict[int, ListInfo]:
    c, rt = Community.__table__, Route.__table__
    addresses: dict[int, str] = {}
    for community_id, value in conn.execute(
        select(rt.c.community_id, rt.c.value)
        .where(rt.c.community_id.in_(list(ids)), rt.c.kind == RouteKind.address)
        .order_by(rt.c.id)
    ):
        addresses.setdefault(community_id, value)
    return {
        row.id: ListInfo(
            name=row.name,
            slug=row.slug,
            address=addresses.get(row.id) or f"{row.slug}@{settings.mail_domain}",
            mail_domain=settings.mail_domain,
            public_url=settings.public_url,
        )
        for row in conn.execute(select(c.c.id, c.c.slug, c.c.name).where(c.c.id.in_(list(ids))))
    }


def outgoing_id(message_id: str, pk: int, mail_domain: str) -> str:
    """The Message-ID a copy goes out under.

    A web post's id is already ours. Mail relayed to subscribers keeps its
    author's id, as mailing lists do: replies then name the id the archive
    files, and a recipient who also got the original sees one message, not
    two. A message that came without an id gets one of ours.
    """
    if message_id and not message_id.endswith(".invalid"):
        return message_id
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:16]
    return f"cb.{pk}.{digest}@{mail_domain}"


def addressing(
    settings: Settings, address: str, reply_to: str, community_id: int, thread_id: int | None
) -> Addressing:
    base = settings.public_url.rstrip("/")
    token = unsubscribe_token(
        settings.secret_key, address=address, community_id=community_id, thread_id=thread_id
    )
    url = f"{base}/unsubscribe/{token}" if base else ""
    mute = f"{url}?do=mute" if url and thread_id is not None else ""
    mailto = ""
    if reply_to.startswith(replies.REPLY_PREFIX + "+"):
        mailto = f"mailto:{reply_to}?subject={quote('unsubscribe')}"
    return Addressing(
        recipient=address,
        reply_to=reply_to,
        unsubscribe_url=url,
        unsubscribe_mailto=mailto,
        mute_url=mute,
    )


def ensure_people(conn: Connection, addresses: list[str]) -> dict[str, int]:
    """Person ids for the recipients (reply tokens name people); created as senders are.

    People are stored under threads/people.py's normal form; an address that has
    none (unusable) gets no person, and its token names person 0 (nobody to warn).
    """
    p = Person.__table__
    keys = {a: key for a in addresses if (key := try_normalize(a)) is not None}
    if not keys:
        return {}
    stmt = insert_ignoring_conflict(conn, p, ["email"])
    unique = sorted(set(keys.values()))
    conn.execute(stmt, [{"email": k, "name": "", "created_at": utcnow()} for k in unique])
    ids = dict(conn.execute(select(p.c.email, p.c.id).where(p.c.email.in_(unique))).all())
    return {a: ids[k] for a, k in keys.items() if k in ids}


def bounce_local(address: str, mail_domain: str, prefix: str = replies.BOUNCE_PREFIX) -> str | None:
    """TOKEN of `bounces+TOKEN@mail_domain`, '' for `bounces@mail_domain`, None otherwise."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not at or domain.lower() != mail_domain.lower():
        return None
    local = local.lower()
    if local == prefix:
        return ""
    if local.startswith(prefix + "+"):
        return local[len(prefix) + 1 :]
    return None


def queue_notice_in(
    conn: Connection,
    settings: Settings,
    to: str,
    subject: str,
    text: str,
    *,
    kind: str,
    reply_to: str = "",
    language: Language = ENGLISH,
) -> tuple[int, str]:
    """Queue a notice; `language` is the one its subject and text are written in."""
    now = utcnow()
    message_id = f"notice.{uuid.uuid4().hex}@{settings.mail_domain}"
    msg = compose_notice(
        mail_domain=settings.mail_domain,
        to=to,
        subject=subject,
        text=text,
        message_id=message_id,
        date=now,
        reply_to=reply_to,
        language=language,
    )
    (mail_id,) = outbound.enqueue(
        conn,
        [
            {
                "kind": kind,
                "recipient": to.strip().lower(),
                "message_id": message_id,
                "subject": subject[:500],
                "data": as_bytes(msg),
            }
        ],
    )
    return mail_id, message_id


def _attachable(
    found: list[tuple[str, str, str, int, bool]], settings: Settings
) -> list[AttachedFile]:
    """A message's files to attach: all of them if they fit the limit, else none (linked).

    All or nothing: a copy with some files attached and others only linked
    would read as if the rest were missing.
    """
    limit = settings.outbound_attachments_max_bytes
    if not found or limit <= 0 or sum(item[3] for item in found) > limit:
        return []
    out = []
    for filename, content_type, digest, _size, kept in found:
        path = settings.attachments_dir / digest[:2] / digest
        if not kept or not path.is_file():
            return []
        out.append(AttachedFile(filename, content_type, path.read_bytes()))
    return out
