"""Consent nudges: the one e-mail a candidate's starter gets, and their answers by mail.

A consent route keeps a new cc conversation as a *candidate* (threads/consent.py)
until someone on it says it may be published. Its starter gets one nudge: what
the conversation is, how many people are on it, where it would go, and two
signed links (open it, keep it private) that lead to a confirmation page and
work without logging in (web/consent.py). Replying "open" or "keep private" to
the nudge works too: its Reply-To is `consent+TOKEN@mail_domain`, a token bound
to the nudged address (mail/tokens.py), checked here like reply tokens are.

At most one nudge per candidate: the UPDATE that stamps `nudged_at` only
matches a row not yet stamped, so two workers never both send one. At most
BRIDGE_NUDGE_DAILY_CAP nudges per person in 24 hours: a candidate over the
cap keeps `nudged_at` empty, and the sender role's round (`nudge_waiting`)
sends it once the cap allows. History (mail a mailbox held before it was
connected) is never nudged.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from email.headerregistry import Address
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from bridge.config import ConsentConfig
from bridge.consent_decision import decide_candidate
from bridge.outbound.language import recipient_languages
from bridge.outbound.posts import as_bytes
from bridge.pipeline import replies, steps
from bridge.pipeline.sender_trust import Trust
from mail.classify import classify
from mail.compose import ENGLISH, Language, compose_notice
from mail.errors import TokenError, TokenExpired
from mail.parse import ParsedMessage
from mail.tokens import consent_link_token, consent_reply_token, verify_consent_reply_token
from threads import consent, outbound
from threads.db import writer
from threads.models import CandidateState, Community, Route, RouteKind, utcnow
from threads.people import try_normalize

CONSENT_PREFIX = "consent"
REASON = "consent reply: "
NUDGE_KIND = "nudge"
HELP_KIND = "consent-help"
CAND = consent.CAND
COMMUNITY = Community.__table__

# What a first line may say; punctuation and case are ignored ("Yes, open!" is "yes open").
OPEN_WORDS = frozenset({"open", "yes open", "open it", "yes", "yes please open", "please open"})
PRIVATE_WORDS = frozenset(
    {"keep private", "private", "no", "keep it private", "no keep private", "no thanks"}
)


# --- the nudge ---------------------------------------------------------------------


def queue_nudge(conn: Connection, config: ConsentConfig, candidate_id: int) -> bool:
    """Queue the nudge for a new live candidate in the caller's transaction.

    Returns False when none was queued (already nudged, daily cap reached,
    history mail, already decided).
    """
    row = conn.execute(
        select(CAND, COMMUNITY.c.name.label("community_name"), COMMUNITY.c.slug)
        .join(COMMUNITY, COMMUNITY.c.id == CAND.c.community_id)
        .where(CAND.c.id == candidate_id)
    ).first()
    if row is None or not row.live or row.nudged_at is not None:
        return False
    if row.state != CandidateState.candidate.value:
        return False  # decided before its nudge went out (e.g. on the candidates page)
    if not consent.nudges_starter(row, config.org_domains):
        return False  # an outsider started it: colleagues on it decide on their page
    now = utcnow()
    if (
        consent.nudges_sent_since(conn, row.starter, now - timedelta(days=1))
        >= config.nudge_daily_cap
    ):
        return False  # nudge_waiting sends it once the cap allows
    # The claim: only the transaction that stamps the row sends its nudge.
    claimed = conn.execute(
        update(CAND)
        .where(CAND.c.id == candidate_id, CAND.c.nudged_at.is_(None))
        .values(nudged_at=now)
    ).rowcount
    if not claimed:
        return False
    message_id = f"nudge.{candidate_id}.{uuid.uuid4().hex[:12]}@{config.mail_domain}"
    people = people_count(conn, row.participants, config.mail_domain)
    # In the language the starter chose on the web, if they did.
    language = recipient_languages(conn, [row.starter]).get(row.starter.lower(), ENGLISH)
    msg = compose_nudge(config, row, people, message_id=message_id, now=now, language=language)
    outbound.enqueue(
        conn,
        [
            {
                "kind": NUDGE_KIND,
                "recipient": row.starter,
                "message_id": message_id,
                "subject": str(msg["Subject"])[:500],
                "data": as_bytes(msg),
                "community_id": row.community_id,
            }
        ],
    )
    return True


def links(config: ConsentConfig, candidate_id: int, address: str, today: date) -> dict[str, str]:
    """The nudge's open and keep-private links for `address`."""
    expires = today + timedelta(days=config.consent_link_days)
    base = config.public_url.rstrip("/")
    return {
        action: base
        + "/consent/"
        + consent_link_token(
            config.secret_key,
            candidate_id=candidate_id,
            address=address,
            action=action,
            expires=expires,
        )
        for action in ("open", "private")
    }


def reply_address(config: ConsentConfig, candidate_id: int, address: str, today: date) -> str:
    token = consent_reply_token(
        config.secret_key,
        candidate_id=candidate_id,
        address=address,
        expires=today + timedelta(days=config.consent_link_days),
    )
    return f"{CONSENT_PREFIX}+{token}@{config.mail_domain}"


def people_count(conn: Connection, participants: Any, mail_domain: str) -> int:
    """How many people are on a conversation: its participants less community and bridge
    addresses (a consent route's address is on its cc, but nobody reads it)."""
    addresses = {p["address"] for p in participants or []}
    r = Route.__table__
    ours = set(
        conn.execute(
            select(r.c.value).where(r.c.kind == RouteKind.address, r.c.value.in_(addresses))
        ).scalars()
    )
    domain = "@" + mail_domain.lower()
    return sum(1 for a in addresses if a not in ours and not a.endswith(domain))


def compose_nudge(
    config: ConsentConfig,
    row: Any,
    people: int,
    *,
    message_id: str,
    now: datetime,
    language: Language = ENGLISH,
) -> Any:
    """The nudge as one system notice (our From, Auto-Submitted, loop mark) with a Reply-To."""
    today = now.date()
    urls = links(config, row.id, row.starter, today)
    gettext = language.translator.gettext
    subject = " ".join(row.subject.split()) or gettext("(no subject)")
    text = nudge_text(
        language=language,
        name=row.starter_name,
        subject=subject,
        excerpt=row.excerpt,
        people=people,
        community=row.community_name,
        open_url=urls["open"],
        private_url=urls["private"],
        days=config.consent_link_days,
        address=row.starter,
    )
    msg = compose_notice(
        mail_domain=config.mail_domain,
        to=row.starter,
        subject=gettext("Share “%(subject)s” with %(community)s?")
        % {"subject": _short(subject, 80), "community": row.community_name},
        text=text,
        message_id=message_id,
        date=now,
        language=language,
    )
    msg["Reply-To"] = Address(
        "Commons Bridge", addr_spec=reply_address(config, row.id, row.starter, today)
    )
    return msg


def nudge_text(
    *,
    name: str,
    subject: str,
    excerpt: str,
    people: int,
    community: str,
    open_url: str,
    private_url: str,
    days: int,
    address: str,
    language: Language = ENGLISH,
) -> str:
    """The nudge in plain words: what the thread is, what each choice does, and doing nothing.

    The answer words "open" and "keep private" stay English in every language: they are
    what the reply parser understands.
    """
    translator = language.translator
    others = people - 1
    values = {
        "name": " ".join(name.split()),
        "community": community,
        "subject": subject,
        "num": others,
        "days": days,
        "address": address,
    }

    def gettext(message: str) -> str:
        # Filled in right away: what people wrote (the excerpt, links) is never formatted.
        return translator.gettext(message) % values

    def ngettext(singular: str, plural: str, n: int) -> str:
        return translator.ngettext(singular, plural, n) % values

    hello = gettext("Hello %(name)s,") if values["name"] else gettext("Hello,")
    lines = [line.rstrip() for line in excerpt.strip().splitlines()[:6]]
    no_text = "  > " + gettext("(no text)")
    quoted = "\n".join(f"  > {line}" if line else "  >" for line in lines) or no_text
    if others > 0:
        on_it = ngettext(
            "“%(subject)s” (you and %(num)s other on it):",
            "“%(subject)s” (you and %(num)s others on it):",
            others,
        )
    else:
        on_it = gettext("“%(subject)s” (just you on it):")
    paragraphs = [
        hello,
        gettext(
            "You started an e-mail conversation that reached the bridge for %(community)s. "
            "It is not published: nothing of it is shown to anyone unless you say so."
        ),
        f"{on_it}\n{quoted}",
        gettext("Open it to %(community)s:")
        + f"\n{open_url}\n"
        + gettext(
            "Colleagues who read %(community)s can then read and search this conversation "
            "and its later replies, and the people on it will be told it is open."
        ),
        gettext("Keep it private:")
        + f"\n{private_url}\n"
        + gettext("Nothing of it will ever be published, and later replies will not be either."),
        gettext("If you do nothing, nothing is published."),
        gettext("You can also answer this e-mail with one line: “open” or “keep private”.")
        + "\n"
        + ngettext(
            "The links and the answer work for %(days)s day and only for you (%(address)s); "
            "each link asks you to confirm before anything happens.",
            "The links and the answer work for %(days)s days and only for you (%(address)s); "
            "each link asks you to confirm before anything happens.",
            days,
        ),
    ]
    return "\n\n".join(paragraphs)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def nudge_waiting(engine: Engine, config: ConsentConfig, *, limit: int = 100) -> int:
    """Nudge live candidates held back by the daily cap, now that it may allow; returns how many.

    Called from every sender round (bridge/outbound/sender.py). Each candidate is tried
    in a short write transaction of its own; `nudge` re-checks the cap and the
    claim there, so a concurrent pipeline or another sender cannot double it.
    """
    since = utcnow() - timedelta(days=1)
    with engine.connect() as conn:
        waiting = conn.execute(
            select(CAND.c.id, CAND.c.starter)
            .where(
                CAND.c.state == CandidateState.candidate.value,
                CAND.c.live.is_(True),
                CAND.c.nudged_at.is_(None),
            )
            .order_by(CAND.c.created_at, CAND.c.id)
            .limit(limit)
        ).all()
        capped = {
            starter
            for starter in {row.starter for row in waiting}
            if consent.nudges_sent_since(conn, starter, since) >= config.nudge_daily_cap
        }
    sent = 0
    for row in waiting:
        if row.starter in capped:
            continue  # still at the cap: no write transaction for nothing
        with writer(engine).begin() as conn:
            sent += queue_nudge(conn, config, row.id)
    return sent


# --- answers by mail ---------------------------------------------------------------


def consent_token_in(addresses: Iterable[str]) -> str | None:
    """The token of the first `consent+TOKEN@…` address (any domain: the signature decides)."""
    for address in addresses:
        local, at, _domain = address.strip().strip("<>").rpartition("@")
        if at and local.lower().startswith(CONSENT_PREFIX + "+"):
            token = local[len(CONSENT_PREFIX) + 1 :].lower()
            if token:
                return token
    return None


def answer_of(parsed: ParsedMessage) -> str | None:
    """'open' or 'private' from the reply's first line that says anything; None if unclear."""
    for line in parsed.visible_text.splitlines():
        words = " ".join(re.sub(r"[^a-z ]", " ", line.lower()).split())
        if not words:
            continue
        if words in OPEN_WORDS:
            return "open"
        if words in PRIVATE_WORDS:
            return "private"
        return None
    return None


def consent_reply(
    conn: Connection,
    config: ConsentConfig,
    raw: steps.RawView,
    parsed: ParsedMessage,
    trust: Trust | None = None,
) -> str | None:
    """If this mail answers a nudge ("open" / "keep private"), act on it and say what happened.

    The pipeline records the returned text as the raw message's reason and
    files nothing. None: not an answer to a nudge. A forged, expired or
    misused token never acts; only an answer we could not read is answered.
    A decision is the web's (bridge/consent_decision.py), audited in this transaction.
    """
    headers = [a.address for a in (*parsed.to, *parsed.cc)]
    token = consent_token_in([*raw.rcpt_to, *headers])
    if token is None:
        return None
    sender = try_normalize(parsed.from_.address if parsed.from_ else "") or ""
    if not config.secret_key:
        return REASON + "the bridge has no secret key to check it with; nothing done"
    try:
        claim = verify_consent_reply_token(
            config.secret_key, token, address=sender, today=datetime.now(UTC).date()
        )
    except TokenExpired as exc:
        return f"{REASON}{exc}; nothing done"
    except TokenError as exc:
        return f"{REASON}{exc} ({sender or 'no sender'}); nothing done"
    failed = replies.authentication_failures(parsed.headers, config.trusted_authserv_ids)
    if failed:
        return f"{REASON}authentication failed at a trusted receiving server: {', '.join(failed)}"
    if trust is not None and trust.verdict is not None and trust.verdict.dmarc == "fail":
        # The token stands in for a missing pass, never against a failure
        # (bridge/pipeline/rules.py).
        return f"{REASON}the sender failed DMARC ({trust.summary()}); nothing done"
    classification = classify(parsed)
    if classification.loop or classification.auto_reply or classification.bounce:
        # An out-of-office answer is not consent, and must not be answered either.
        return f"{REASON}automatic mail for candidate {claim.candidate_id}; nothing done"
    return _act(conn, config, claim.candidate_id, sender, answer_of(parsed))


def _act(
    conn: Connection, config: ConsentConfig, candidate_id: int, sender: str, answer: str | None
) -> str:
    candidate = conn.execute(select(CAND).where(CAND.c.id == candidate_id)).first()
    if candidate is None:
        return f"{REASON}candidate {candidate_id} no longer exists; nothing done"
    if not consent.may_decide(candidate, sender, config.consent_openers, config.org_domains):
        return f"{REASON}{sender} may not decide candidate {candidate_id}; nothing done"
    if answer is None:
        _explain(conn, config, sender, candidate.subject)
        return (
            f"{REASON}not understood from {sender} for candidate {candidate_id} "
            "(expected “open” or “keep private”); nothing done"
        )
    decision = "opened" if answer == "open" else "private"
    if not decide_candidate(conn, candidate_id, decision, sender, "mail"):
        return f"{REASON}candidate {candidate_id} was already {candidate.state}; nothing changed"
    done = "opened" if decision == "opened" else "kept private"
    return f"{REASON}candidate {candidate_id} {done} by {sender}"


def _explain(conn: Connection, config: ConsentConfig, to: str, subject: str) -> None:
    """A short answer to a reply we could not read; at most one an hour per person."""
    if outbound.recent_to(conn, to, HELP_KIND, utcnow() - timedelta(hours=1)):
        return
    language = recipient_languages(conn, [to]).get(to.lower(), ENGLISH)
    translator = language.translator

    def gettext(message: str) -> str:
        return translator.gettext(message) % {"subject": subject}

    now = utcnow()
    message_id = f"notice.{uuid.uuid4().hex}@{config.mail_domain}"
    # The answer words stay English: they are what the reply parser reads.
    text = (
        gettext("We could not tell what you meant in your answer about “%(subject)s”.")
        + "\n\n"
        + gettext("Please answer the first e-mail again with one line:")
        + "\n  open            "
        + gettext("to publish the conversation")
        + "\n  keep private    "
        + gettext("to keep it private for good")
        + "\n\n"
        + gettext("Or use one of its two links. Until you choose, nothing is published.")
    )
    msg = compose_notice(
        mail_domain=config.mail_domain,
        to=to,
        subject=gettext("Your answer about a conversation"),
        text=text,
        message_id=message_id,
        date=now,
        language=language,
    )
    outbound.enqueue(
        conn,
        [
            {
                "kind": HELP_KIND,
                "recipient": to,
                "message_id": message_id,
                "subject": str(msg["Subject"]),
                "data": as_bytes(msg),
            }
        ],
    )
