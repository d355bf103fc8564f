"""The "opened" announcement: once a candidate's held mail is published, its people are told.

When a conversation's starter opens it (threads/consent.py `decide`), its raw
messages run the pipeline again and are filed; their participants already
have them by cc, so no copies are mailed. Instead every participant gets one
message in the thread itself (In-Reply-To/References its latest message, so
their client shows it in the conversation) saying the conversation is now
readable by the community, with a link and a mute link.

"Once" holds with several workers: the candidate's row is locked, the
announcement waits until none of its messages is still pending (a batch of
another worker files the rest and announces), and `announced_at` is set by
a conditional UPDATE in the same transaction that queues the mail.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, update

from bridge.config import PipelineConfig
from bridge.outbound.language import recipient_languages
from bridge.outbound.posts import as_bytes, ensure_people
from bridge.pipeline import replies
from mail.compose import (
    ENGLISH,
    Addressing,
    Language,
    ListInfo,
    Post,
    compose_post,
    thread_index_header,
)
from mail.tokens import reply_token, unsubscribe_token
from threads import outbound
from threads.models import (
    Community,
    ConsentCandidate,
    ConsentMessage,
    Message,
    RawMessage,
    RawState,
    Route,
    RouteKind,
    Thread,
    as_utc,
    utcnow,
)

CAND = ConsentCandidate.__table__
CMSG = ConsentMessage.__table__
RAW = RawMessage.__table__
M = Message.__table__

SENDER_NAME = "Commons Bridge"


def mark_filed(conn: Connection, candidate_id: int, thread_id: int) -> None:
    """Remember the thread an opened candidate's mail went to (the first one filed)."""
    conn.execute(
        update(CAND)
        .where(CAND.c.id == candidate_id, CAND.c.thread_id.is_(None))
        .values(thread_id=thread_id)
    )


def announce(conn: Connection, config: PipelineConfig, candidate_ids: Iterable[int]) -> int:
    """Tell the participants of these opened candidates, once each; returns mails queued."""
    queued = 0
    for candidate_id in sorted(set(candidate_ids)):
        # Locked first (PostgreSQL; SQLite has one writer): of two workers each
        # filing part of a candidate, the second sees the first's work committed.
        row = conn.execute(select(CAND).where(CAND.c.id == candidate_id).with_for_update()).first()
        if row is None or row.announced_at is not None or row.thread_id is None:
            continue
        if _still_pending(conn, candidate_id):
            continue  # the worker filing the rest announces
        taken = conn.execute(
            update(CAND)
            .where(CAND.c.id == candidate_id, CAND.c.announced_at.is_(None))
            .values(announced_at=utcnow())
        ).rowcount
        if taken:
            queued += _queue(conn, config, row)
    return queued


def _still_pending(conn: Connection, candidate_id: int) -> bool:
    pending = conn.execute(
        select(func.count())
        .select_from(CMSG.join(RAW, RAW.c.id == CMSG.c.raw_id))
        .where(CMSG.c.candidate_id == candidate_id, RAW.c.state == RawState.pending.value)
    ).scalar_one()
    return bool(pending)


def _queue(conn: Connection, config: PipelineConfig, candidate: Any) -> int:
    """One notice per participant, threaded under the thread's latest message."""
    last = conn.execute(
        select(M)
        .where(M.c.thread_id == candidate.thread_id, M.c.placeholder.is_(False))
        .order_by(M.c.date.desc(), M.c.id.desc())
        .limit(1)
    ).first()
    thread = conn.execute(
        select(Thread.__table__).where(Thread.__table__.c.id == candidate.thread_id)
    ).one()
    if last is None:
        return 0
    lst = _list_info(conn, config, candidate.community_id)
    base = config.public_url.rstrip("/")
    url = f"{base}/t/{candidate.thread_id}" if base else ""
    chain = [*(last.chain or []), last.message_id]
    started = as_utc(thread.started_at) or utcnow()
    recipients = [
        p["address"]
        for p in candidate.participants
        if p.get("address") and not _ours(p["address"], lst, config)
    ]
    people = ensure_people(conn, recipients)
    names = {p["address"]: p.get("name", "") for p in candidate.participants}
    languages = recipient_languages(conn, recipients)
    rows = []
    for address in recipients:
        language = languages[address.lower()]
        post = Post(
            message_id=f"opened.{candidate.id}.{people.get(address, 0)}@{config.mail_domain}",
            subject=_reply_subject(thread.subject or candidate.subject),
            author_name=SENDER_NAME,
            author_address=lst.address,
            text=_text(candidate, lst, url, language),
            date=utcnow(),
            references=chain,
            thread_topic=thread.subject,
            thread_index_header=thread_index_header(None, chain[0], started),
            thread_url=url,
        )
        to = _addressing(
            config, address, names.get(address, ""), people.get(address, 0), post, candidate
        )
        msg = compose_post(post, lst, to, language)
        # A notice, not a person's post: vacation responders stay quiet (RFC 3834).
        msg["Auto-Submitted"] = "auto-generated"
        rows.append(
            {
                "kind": "notice",
                "recipient": address,
                "message_id": post.message_id,
                "subject": post.subject[:500],
                "data": as_bytes(msg),
                "community_id": candidate.community_id,
                "thread_id": candidate.thread_id,
            }
        )
    outbound.enqueue(conn, rows)
    return len(rows)


def _text(candidate: Any, lst: ListInfo, url: str, language: Language = ENGLISH) -> str:
    translator = language.translator
    values = {
        "community": lst.display_name,
        "who": candidate.decided_by or candidate.starter,
        "url": url,
    }

    def gettext(message: str) -> str:
        return translator.gettext(message) % values

    if url:
        readable = gettext("This conversation is now readable by the %(community)s community at")
        readable += f"\n\n  {url}\n"
    else:
        readable = gettext("This conversation is now readable by the %(community)s community.")
        readable += "\n"
    return (
        readable
        + "\n"
        + gettext(
            "%(who)s opened it. The messages you exchanged so far are published with it, "
            "and replies to this thread are published as they arrive."
        )
        + "\n"
        + gettext(
            "You will get no copies of mail you already had; mute the thread below "
            "if you want no mail from the community about it at all."
        )
    )


def _reply_subject(subject: str) -> str:
    subject = " ".join(subject.split())
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def _addressing(
    config: PipelineConfig, address: str, name: str, person_id: int, post: Post, candidate: Any
) -> Addressing:
    """Reply token, mute and unsubscribe links, as thread copies carry them."""
    token = reply_token(
        config.secret_key,
        community_id=candidate.community_id,
        thread_id=candidate.thread_id,
        person_id=person_id,
        address=address,
        expires=date.today() + timedelta(days=config.reply_token_days),
    )
    unsubscribe = unsubscribe_token(
        config.secret_key,
        address=address,
        community_id=candidate.community_id,
        thread_id=candidate.thread_id,
    )
    base = config.public_url.rstrip("/")
    link = f"{base}/unsubscribe/{unsubscribe}" if base else ""
    reply_to = f"{replies.REPLY_PREFIX}+{token}@{config.mail_domain}"
    return Addressing(
        recipient=address,
        reply_to=reply_to,
        unsubscribe_url=link,
        unsubscribe_mailto=f"mailto:{reply_to}?subject=unsubscribe",
        mute_url=f"{link}?do=mute" if link else "",
        recipient_name=name,
    )


def _list_info(conn: Connection, config: PipelineConfig, community_id: int) -> ListInfo:
    c, rt = Community.__table__, Route.__table__
    row = conn.execute(select(c.c.slug, c.c.name).where(c.c.id == community_id)).one()
    address = conn.execute(
        select(rt.c.value)
        .where(rt.c.community_id == community_id, rt.c.kind == RouteKind.address)
        .order_by(rt.c.id)
        .limit(1)
    ).scalar()
    return ListInfo(
        name=row.name,
        slug=row.slug,
        address=address or f"{row.slug}@{config.mail_domain}",
        mail_domain=config.mail_domain,
        public_url=config.public_url,
    )


def _ours(address: str, lst: ListInfo, config: PipelineConfig) -> bool:
    address = address.lower()
    return address == lst.address or address.endswith("@" + config.mail_domain)
