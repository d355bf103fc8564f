"""Reading a moderator's answer and its token: what counts as approve or reject, and what not."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bridge.pipeline.moderation_replies import (
    NO_REASON,
    DigestDecision,
    digest_commands,
    find_moderation_claim,
    moderation_command,
)
from mail.parse import parse_message
from mail.tokens import (
    TokenExpired,
    TokenMismatch,
    moderation_token,
    moderation_token_genuine,
    verify_moderation_token,
)
from tests.support.messages import make_mail

KEY = "k" * 32
TODAY = date(2026, 3, 2)


def command(body: str) -> tuple[str, str] | None:
    return moderation_command(parse_message(make_mail("Re: Held", body=body)))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("approve\n", ("approve", "")),
        ("Approve.\n\nThanks\n", ("approve", "")),
        ("  reject off topic here\n", ("reject", "off topic here")),
        ("Reject: spam\n", ("reject", "spam")),
        ("reject\n", ("reject", NO_REASON)),
        # Only the first line of new text counts; the quoted notice says both words.
        ("I'll look later\n\n> reply with approve\n", None),
        ("approved\n", None),
        ("> approve\n", None),
        ("> quoted notice\n\napprove\n", ("approve", "")),
        ("", None),
    ],
)
def test_decision_words(body: str, expected: tuple[str, str] | None) -> None:
    """The first non-empty line's first word decides; anything else is no decision."""
    assert command(body) == expected


def test_reason_is_one_bounded_line() -> None:
    """Control characters become spaces and the reason is cut at 500 characters."""
    decision = command("reject a\x1b[31m b\x07 " + "x" * 900 + "\n")
    assert decision is not None
    assert "\x1b" not in decision[1]
    assert "\x07" not in decision[1]
    assert len(decision[1]) == 500


def test_token_is_bound_to_message_moderator_and_day() -> None:
    """A token works for its own moderator before it expires, and for no one else."""
    token = moderation_token(
        KEY,
        raw_id=7,
        community_id=3,
        person_id=11,
        address="Mona@Example.com",
        expires=TODAY + timedelta(days=14),
    )
    assert len("moderate+" + token) <= 64  # RFC 5321 local part
    assert moderation_token_genuine(KEY, token)
    assert not moderation_token_genuine("other" * 8, token)
    claim = verify_moderation_token(KEY, token, address="mona@example.com", today=TODAY)
    assert (claim.raw_id, claim.community_id, claim.person_id) == (7, 3, 11)
    with pytest.raises(TokenMismatch):
        verify_moderation_token(KEY, token, address="mallory@example.com", today=TODAY)
    with pytest.raises(TokenExpired):
        verify_moderation_token(
            KEY, token, address="mona@example.com", today=TODAY + timedelta(days=15)
        )
    found = find_moderation_claim(["eng@lists.example.com", f"<moderate+{token}@bridge.example>"])
    assert found is not None
    assert found[0] == token


def test_reply_and_consent_tokens_are_not_moderation_tokens() -> None:
    """Each purpose signs under its own label: a reply token never passes as a moderation one."""
    from mail.tokens import reply_token

    token = reply_token(
        KEY, community_id=3, thread_id=7, person_id=11, address="a@example.com", expires=TODAY
    )
    assert not moderation_token_genuine(KEY, token)


def test_digest_lines_name_entries() -> None:
    """A digest answer's lines name entries by number or "all"; quoted lines and bare words not."""
    parsed = parse_message(
        make_mail(
            "Re: 3 held",
            body="approve 1, 3 and 4\nreject 2 off topic\napprove\n\n> approve all\n",
        )
    )
    assert digest_commands(parsed) == [
        DigestDecision((1, 3, 4), "approve", ""),
        DigestDecision((2,), "reject", "off topic"),
    ]
    everything = parse_message(make_mail("Re: 3 held", body="Reject all: spam\n"))
    assert digest_commands(everything) == [DigestDecision(None, "reject", "spam")]


def test_digest_token_is_not_a_message_token() -> None:
    """The same fields signed for a digest verify as a digest, and as nothing else."""
    fields = {"raw_id": 5, "community_id": 3, "person_id": 11, "address": "m@example.com"}
    expires = TODAY + timedelta(days=1)
    digest = moderation_token(KEY, expires=expires, digest=True, **fields)  # type: ignore[arg-type]
    single = moderation_token(KEY, expires=expires, **fields)  # type: ignore[arg-type]
    assert digest != single
    check = verify_moderation_token
    assert check(KEY, digest, address="m@example.com", today=TODAY).digest
    assert not check(KEY, single, address="m@example.com", today=TODAY).digest
