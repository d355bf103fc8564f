"""Authorization as a list of small named rules: may this message be published, and by whom?

Each rule has a name, a one-line description and the hold kind it records;
its check returns why it holds the message, or None. `authorize` runs them
in order and raises `Held` for the first that holds. A moderator's approval
lifts the rules marked `judgement`; an admin's also those marked
`admin_release` (confidential mail, an unproven organisation sender). Loops,
bounces and mail without a sender stay held whoever approves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bridge.config import PipelineConfig
from bridge.errors import Held
from bridge.pipeline import moderation_replies, replies
from bridge.pipeline.sender_trust import CHECKED_SOURCES, Trust
from bridge.pipeline.steps import CommunityRef
from mail.classify import Classification, LabelVerdict, label_verdict, subject_tag
from mail.parse import ParsedMessage
from threads.access import posting_hold_reason
from threads.models import HoldKind, RoutePolicy
from threads.people import is_org_address, try_normalize


@dataclass(frozen=True, slots=True)
class Facts:
    """What every rule may read about one message."""

    config: PipelineConfig
    communities: list[CommunityRef]
    parsed: ParsedMessage
    classification: Classification
    trust: Trust
    source: str = "smtp"

    @property
    def approved(self) -> bool:
        """A moderator (or admin) approved it for every community it routes to."""
        return bool(self.communities) and all(c.approved for c in self.communities)

    @property
    def sender(self) -> str | None:
        return try_normalize(self.parsed.from_.address) if self.parsed.from_ else None


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    description: str
    kind: HoldKind
    check: Callable[[Facts], str | None]
    # Lifted when a moderator approves the message.
    judgement: bool = False


def _loop(facts: Facts) -> str | None:
    return "loop: this is mail the bridge sent itself" if facts.classification.loop else None


def _bounce(facts: Facts) -> str | None:
    c = facts.classification
    if not c.bounce:
        return None
    report = c.bounce_report
    codes = {r.address.lower(): r.status for r in report.failed} if report else {}
    failed = [
        f"{a} ({codes[a.lower()]})" if codes.get(a.lower()) else a for a in c.failed_recipients
    ]
    return "bounce: delivery status notification for " + (", ".join(failed) or "unknown recipients")


def _auto_reply(facts: Facts) -> str | None:
    c = facts.classification
    return "auto-reply: " + "; ".join(c.reasons) if c.auto_reply else None


def _confidential(facts: Facts) -> str | None:
    c, config = facts.classification, facts.config
    why = ""
    if c.encrypted:
        why = f"encrypted with {c.encrypted}"
    elif (label := c.sensitivity) and _label(config, label) == LabelVerdict.confidential:
        why = f"sensitivity label '{label}'"
    elif tag := subject_tag(facts.parsed.subject, config.confidential_subject_tags):
        why = f"subject tag '{tag}'"
    return f"confidential: {why}; only an admin can release it" if why else None


def _sensitivity(facts: Facts) -> str | None:
    label = facts.classification.sensitivity
    if label and _label(facts.config, label) != LabelVerdict.publish:
        return f"sensitivity label '{label}': needs a moderator's decision"
    return None


def _label(config: PipelineConfig, label: str) -> LabelVerdict:
    """The admin's lists first, then the label's name (mail/classify.py label_verdict)."""
    return label_verdict(label, config.publishable_labels, config.confidential_labels)


def _no_sender(facts: Facts) -> str | None:
    if facts.parsed.from_ is None or not facts.parsed.from_.address:
        return "no sender: the message has no usable From address"
    return None


def _moderation_answer(facts: Facts) -> str | None:
    # check_answer always raises Held: an answer to a held-mail notice is never a post.
    config = facts.config
    for ref in facts.communities:
        if ref.moderation_token:
            moderation_replies.check_answer(
                config.secret_key,
                config.trusted_authserv_ids,
                ref.moderation_token,
                facts.parsed,
                facts.trust,
            )
    return None


def _sender_authenticated(facts: Facts) -> str | None:
    """An organisation From must be proven; any From whose domain asks receivers to reject
    unauthenticated mail (DMARC p=reject or quarantine) and fails is held too.

    A valid reply token stands in for a missing pass (it was mailed to that
    very address), but not against an explicit failure. Imported history is
    recorded, never held.
    """
    trust, verdict = facts.trust, facts.trust.verdict
    if facts.source not in CHECKED_SOURCES or not trust.checked or trust.proven:
        return None
    dmarc_failed = verdict is not None and verdict.dmarc == "fail"
    enforced = dmarc_failed and verdict is not None and verdict.dmarc_policy != "none"
    org = is_org_address(facts.sender or "", facts.config.org_domains)
    token = any(c.reply_token for c in facts.communities)
    if enforced or (org and (dmarc_failed or not token)):
        said = trust.summary() or "no verdict"
        who = "an organisation address" if org else "its domain's DMARC policy"
        return f"sender not authenticated ({said}): the From is {who} and nothing proved it"
    return None


def _posting(facts: Facts) -> str | None:
    for ref in facts.communities:
        # Imported history is not posting; a verified reply token is the participant's own.
        # On a consent route a participant's decision is the permission: holding the
        # mail for a moderator would show a private conversation to one.
        consent_route = ref.policy == RoutePolicy.consent.value
        if ref.live and not ref.approved and not ref.reply_token and not consent_route:
            why = posting_hold_reason(
                ref.posting, facts.sender, ref.posters, facts.config.org_domains
            )
            if why:
                return f"{why} ({ref.slug})"
    return None


def _reply_token(facts: Facts) -> str | None:
    # check_reply raises Held itself: one token check tells several kinds apart
    # (someone else's token, a command, a trusted server's failure).
    config = facts.config
    for ref in facts.communities:
        if ref.reply_token:
            replies.check_reply(
                config.secret_key, config.trusted_authserv_ids, ref.reply_token, facts.parsed
            )
    return None


def _archived(facts: Facts) -> str | None:
    if facts.communities and all(c.archived for c in facts.communities):
        return "community archived: " + ", ".join(c.slug for c in facts.communities)
    return None


RULES: tuple[Rule, ...] = (
    Rule("loop", "Mail the bridge sent itself, come back.", HoldKind.loop, _loop),
    Rule("bounce", "A delivery status notification.", HoldKind.bounce, _bounce),
    Rule(
        "auto-reply",
        "An automatic reply (RFC 3834), never mailed on.",
        HoldKind.auto_reply,
        _auto_reply,
        judgement=True,
    ),
    Rule(
        "confidential",
        "Encrypted, or labelled or tagged confidential: an admin decides.",
        HoldKind.confidential,
        _confidential,
    ),
    Rule(
        "sensitivity",
        "A sensitivity label that is not publishable: a moderator decides.",
        HoldKind.sensitivity,
        _sensitivity,
        judgement=True,
    ),
    Rule("no-sender", "No usable From address.", HoldKind.no_sender, _no_sender),
    Rule(
        "moderation-answer",
        "An answer to a held-mail notice: carried out by the sender role, never posted.",
        HoldKind.moderation,
        _moderation_answer,
    ),
    Rule(
        "sender-authenticated",
        "An organisation From (or a domain that asks for it) proven by DKIM, SPF, DMARC or ARC.",
        HoldKind.auth_failed,
        _sender_authenticated,
    ),
    Rule(
        "posting",
        "The community's posting policy lets this sender post without a moderator.",
        HoldKind.posting,
        _posting,
        judgement=True,
    ),
    Rule(
        "reply-token",
        "A reply by token: signed, unexpired, its own person's, and not a command.",
        HoldKind.invalid_reply,
        _reply_token,
    ),
    Rule("archived", "An archived community takes no posts.", HoldKind.archived, _archived),
)
# Holds only an admin releases (bridge/moderation.py `decide`; web/admin.py hides them from
# moderators).
ADMIN_ONLY = frozenset({HoldKind.confidential, HoldKind.auth_failed})


def authorize(facts: Facts) -> list[CommunityRef]:
    """The communities to file in, or `Held` by the first rule that holds the message.

    An approved message skips the judgement rules, and — since only an admin
    can approve what they hold — the admin-only ones too.
    """
    for rule in RULES:
        if facts.approved and (rule.judgement or rule.kind in ADMIN_ONLY):
            continue
        if (why := rule.check(facts)) is not None:
            raise Held(rule.kind, why)
    return [c for c in facts.communities if not c.archived]
