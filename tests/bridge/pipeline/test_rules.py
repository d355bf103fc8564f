"""Each authorization rule on its own: what it holds, what it lets through, the kind it records."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bridge.errors import Held
from bridge.pipeline import rules
from bridge.pipeline.sender_trust import UNCHECKED, Trust
from bridge.pipeline.steps import CommunityRef
from bridge.settings import Settings
from mail.classify import Classification
from mail.headers import Address
from mail.parse import ParsedMessage
from mail.sender_auth.verdict import Verdict
from threads.models import HoldKind

ORG = "org.example"
TEAM = CommunityRef(1, "team", archived=False, live=True, posting="org")
PROVEN = Trust(Verdict(ORG, dkim="pass", dkim_domains=(ORG,), dmarc="pass"), proven=True)


def facts(**changes: Any) -> rules.Facts:
    """A message from a proven colleague to an open, live community: every rule passes."""
    base = rules.Facts(
        config=Settings(data=Path(), mail_domain="bridge.example", org_domains=[ORG]).pipeline,
        communities=[TEAM],
        parsed=ParsedMessage(subject="Plan", from_=Address("Ana", f"ana@{ORG}")),
        classification=Classification(),
        trust=PROVEN,
    )
    return replace(base, **changes)


def rule(name: str) -> rules.Rule:
    return next(r for r in rules.RULES if r.name == name)


def test_a_clean_message_passes_every_rule() -> None:
    """The baseline every other test changes one thing of."""
    assert [r.name for r in rules.RULES if r.check(facts())] == []
    assert rules.authorize(facts()) == [TEAM]


def test_every_rule_is_named_described_and_typed() -> None:
    """Names are unique, each says what it checks, each records a kind."""
    names = [r.name for r in rules.RULES]
    assert len(names) == len(set(names))
    assert all(r.description and isinstance(r.kind, HoldKind) for r in rules.RULES)


@pytest.mark.parametrize(
    ("name", "change", "kind"),
    [
        ("loop", {"classification": Classification(loop=True)}, HoldKind.loop),
        (
            "bounce",
            {"classification": Classification(bounce=True, failed_recipients=["x@y.test"])},
            HoldKind.bounce,
        ),
        (
            "auto-reply",
            {"classification": Classification(auto_reply=True, reasons=("Auto-Submitted",))},
            HoldKind.auto_reply,
        ),
        (
            "confidential",
            {"classification": Classification(encrypted="S/MIME")},
            HoldKind.confidential,
        ),
        (
            "sensitivity",
            {"classification": Classification(sensitivity="internal only")},
            HoldKind.sensitivity,
        ),
        ("no-sender", {"parsed": ParsedMessage(subject="Plan")}, HoldKind.no_sender),
        (
            "archived",
            {"communities": [replace(TEAM, archived=True)]},
            HoldKind.archived,
        ),
    ],
)
def test_each_rule_holds_with_its_kind(name: str, change: dict[str, Any], kind: HoldKind) -> None:
    """The rule's own check says why; authorize raises Held with the rule's kind."""
    assert rule(name).check(facts(**change))
    with pytest.raises(Held) as held:
        rules.authorize(facts(**change))
    assert held.value.kind == kind


def test_sender_authenticated_holds_an_unproven_organisation_from() -> None:
    """No aligned pass for an organisation address is held; a proven one passes."""
    unproven = Trust(Verdict(ORG, dkim="none", spf="none", dmarc="fail", dmarc_policy="none"))
    check = rule("sender-authenticated").check
    assert check(facts(trust=unproven))
    assert check(facts(trust=PROVEN)) is None


def test_sender_authenticated_holds_outsiders_only_when_their_domain_asks() -> None:
    """An outsider's unproven mail passes, unless their DMARC says reject and it failed."""
    outsider = ParsedMessage(subject="Hi", from_=Address("Vera", "vera@partner.test"))
    check = rule("sender-authenticated").check
    lax = Trust(Verdict("partner.test", dmarc="none"))
    strict = Trust(Verdict("partner.test", dmarc="fail", dmarc_policy="reject"))
    assert check(facts(parsed=outsider, trust=lax)) is None
    assert check(facts(parsed=outsider, trust=strict))


def test_sender_authenticated_lets_a_reply_token_stand_in_for_a_missing_pass() -> None:
    """A valid token proves the address got our mail; a dmarc=fail still holds it."""
    token = [replace(TEAM, reply_token="t")]
    check = rule("sender-authenticated").check
    assert check(facts(communities=token, trust=Trust(Verdict(ORG)))) is None
    failed = Trust(Verdict(ORG, dmarc="fail", dmarc_policy="none"))
    assert check(facts(communities=token, trust=failed))


def test_sender_authenticated_never_holds_history_or_unchecked_mail() -> None:
    """Imports are recorded, not judged; with checks off nothing is held for them."""
    unproven = Trust(Verdict(ORG))
    check = rule("sender-authenticated").check
    assert check(facts(trust=unproven, source="import")) is None
    assert check(facts(trust=UNCHECKED)) is None


def test_posting_holds_an_outsider_in_an_org_community() -> None:
    """The posting policy: an outsider waits for a moderator; a consent route never does."""
    outsider = ParsedMessage(subject="Hi", from_=Address("Vera", "vera@partner.test"))
    assert rule("posting").check(facts(parsed=outsider))
    consent = [replace(TEAM, policy="consent")]
    assert rule("posting").check(facts(parsed=outsider, communities=consent)) is None


def test_approval_lifts_judgement_rules_and_an_admins_lifts_the_admin_only_ones() -> None:
    """An approved message skips auto-reply, sensitivity, posting and the admin-only holds."""
    approved = [replace(TEAM, approved=True)]
    held = facts(
        communities=approved,
        classification=Classification(auto_reply=True, sensitivity="internal only"),
        trust=Trust(Verdict(ORG)),
    )
    assert rules.authorize(held) == approved
    loop = replace(held, classification=Classification(loop=True))
    with pytest.raises(Held):
        rules.authorize(loop)
