"""Replies to our mail, as the pipeline's route, authorize, thread and fan-out steps see them.

A reply to `reply+TOKEN@mail_domain` names its community and thread in the
token (mail/tokens.py). Routing reads the token unverified; authorize checks
it: signed with our key, unexpired, used by the person it was made for, and
not failed by DKIM, SPF or DMARC at a receiving server we trust (RFC 8601
Authentication-Results; results from servers we do not trust are ignored,
since anyone can write that header). What fails is held with the reason, and
the sender role tells the real owner of a misused address (bridge/outbound/sender.py).

A reply whose whole new text is "mute" (or "unsubscribe") is a command, not
a post: it is held as such and carried out by the sender role. So is
"withdraw": its In-Reply-To names one of the sender's own messages of the
token's thread, which is then withdrawn (threads/withdraw.py).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, select
from sqlmodel import col

from bridge.errors import Held
from mail.errors import TokenError, TokenMismatch
from mail.parse import ParsedMessage
from mail.tokens import ReplyClaim, read_reply_token, verify_reply_token
from threads.models import (
    DeliveryPreference,
    HoldKind,
    Membership,
    Message,
    Person,
    Thread,
    ThreadSubscription,
)
from threads.store import Letter

REPLY_PREFIX = "reply"
BOUNCE_PREFIX = "bounces"
COMMAND_REASON = "reply command: "
COMMANDS = {"mute": "mute", "unsubscribe": "unsubscribe", "stop": "mute", "withdraw": "withdraw"}
_AUTH_RESULT = re.compile(r"\b(dkim|spf|dmarc)\s*=\s*([a-z]+)", re.I)


def token_in(address: str, prefix: str = REPLY_PREFIX) -> str | None:
    """The token of a `reply+TOKEN@…` address (any domain: the signature decides), or None."""
    local, at, _domain = address.strip().strip("<>").rpartition("@")
    if not at or not local.lower().startswith(prefix + "+"):
        return None
    return local[len(prefix) + 1 :].lower() or None


def find_reply_claim(addresses: Iterable[str]) -> ReplyClaim | None:
    """The first well-formed reply token among `addresses` (not yet verified)."""
    for address in addresses:
        token = token_in(address)
        if token and (claim := read_reply_token(token)) is not None:
            return claim
    return None


def check_reply(
    secret_key: str, trusted_authserv_ids: frozenset[str], token: str, parsed: ParsedMessage
) -> ReplyClaim:
    """The verified claim of a reply by token, or `Held` with the reason."""
    sender = parsed.from_.address if parsed.from_ else ""
    if not secret_key:
        raise Held(
            HoldKind.invalid_reply, "reply token: the bridge has no secret key to check it with"
        )
    try:
        claim = verify_reply_token(
            secret_key, token, address=sender, today=datetime.now(UTC).date()
        )
    except TokenError as exc:
        kind = HoldKind.misused_reply if isinstance(exc, TokenMismatch) else HoldKind.invalid_reply
        raise Held(kind, str(exc)) from exc
    failed = authentication_failures(parsed.headers, trusted_authserv_ids)
    if failed:
        raise Held(
            HoldKind.auth_failed,
            "authentication failed at a trusted receiving server: " + ", ".join(failed),
        )
    command = reply_command(parsed)
    if command:
        raise Held(HoldKind.command, f"{COMMAND_REASON}{command}")
    return claim


def authentication_failures(
    headers: Iterable[tuple[str, str]], trusted_authserv_ids: frozenset[str]
) -> list[str]:
    """'dkim=fail (mx.example.com)' for each failed method a trusted server reported."""
    failed: list[str] = []
    for name, value in headers:
        if name.lower() != "authentication-results":
            continue
        authserv = value.split(";", 1)[0].strip().split(" ", 1)[0].lower()
        if authserv not in trusted_authserv_ids:
            continue
        for method, result in _AUTH_RESULT.findall(value.split(";", 1)[-1]):
            # spf=softfail is a policy's "maybe": it holds nothing (RFC 7208 2.6.5).
            if result.lower() in ("fail", "permerror"):
                failed.append(f"{method.lower()}={result.lower()} ({authserv})")
    return list(dict.fromkeys(failed))


def reply_command(parsed: ParsedMessage) -> str | None:
    """'mute', 'unsubscribe' or 'withdraw' when that word is all the reply says.

    The subject alone can say mute or unsubscribe, never withdraw: withdrawing
    is not undone, so it takes the body's single word.
    """
    words = re.sub(r"[^a-z ]", " ", parsed.visible_text.lower()).split()
    if len(words) == 1 and words[0] in COMMANDS:
        return COMMANDS[words[0]]
    # A List-Unsubscribe mailto sends this subject; Gmail adds a body of its own.
    subject = parsed.subject.strip().lower()
    if subject in ("unsubscribe", "mute"):
        return COMMANDS[subject]
    return None


def bind_reply(conn: Connection, community_id: int, token: str, letter: Letter) -> Letter:
    """Make sure a reply by token lands in its token's thread, without its token in To/Cc.

    Clients usually keep References, which thread the reply anyway. One that
    dropped them (a new subject, a client that writes no References) would
    start a new conversation: here it is linked to the thread's newest message.
    """
    claim = read_reply_token(token)
    if claim is None:
        return letter
    # The personal reply address is not for the archive's readers: drop it from To/Cc.
    letter = dataclasses.replace(
        letter,
        to=[a for a in letter.to if token_in(a["address"]) is None],
        cc=[a for a in letter.cc if token_in(a["address"]) is None],
    )
    m = Message.__table__
    ids = [*letter.in_reply_to, *letter.references]
    if ids:
        linked = conn.execute(
            select(m.c.id)
            .where(m.c.community_id == community_id, m.c.message_id.in_(ids))
            .where(m.c.thread_id == claim.thread_id)
            .limit(1)
        ).first()
        if linked is not None:
            return letter
    newest = conn.execute(
        select(m.c.message_id)
        .where(m.c.thread_id == claim.thread_id, m.c.community_id == community_id)
        .where(m.c.placeholder.is_(False))
        .order_by(m.c.date.desc(), m.c.id.desc())
        .limit(1)
    ).scalar()
    if newest is None:
        return letter
    return dataclasses.replace(
        letter, in_reply_to=[newest], references=[*letter.references, newest]
    )


def thread_choices(conn: Connection, thread_id: int) -> tuple[set[str], set[str]]:
    """(muted, watching) addresses of a thread, for fan-out.

    Watching are those who asked for the thread's mail without being on its
    cc: readers who watch it, and members who chose the whole community's mail.
    """
    s = ThreadSubscription.__table__
    muted: set[str] = set()
    watching: set[str] = set()
    for address, state in conn.execute(
        select(s.c.address, s.c.state).where(s.c.thread_id == thread_id)
    ):
        (muted if state == "muted" else watching).add(address)
    community_id = conn.execute(
        select(col(Thread.community_id)).where(col(Thread.id) == thread_id)
    ).scalar()
    if community_id is not None:
        watching |= community_subscribers(conn, community_id)
    return muted, watching


def community_subscribers(conn: Connection, community_id: int) -> set[str]:
    """Members who chose every message (or a digest) of the whole community.

    Only members: an address that chose "every message" from a mailed link
    may not be allowed to read the community's other threads.
    """
    pref, ms, p = DeliveryPreference.__table__, Membership.__table__, Person.__table__
    rows = conn.execute(
        select(pref.c.address)
        .join(p, p.c.email == pref.c.address)
        .join(ms, (ms.c.person_id == p.c.id) & (ms.c.community_id == pref.c.community_id))
        .where(pref.c.community_id == community_id, pref.c.mode.in_(("each", "digest")))
        .where(p.c.disabled.is_(False))
    )
    return set(rows.scalars())
