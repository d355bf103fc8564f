"""Moderators' answers by mail: a reply to a held-mail notice that says approve or reject.

The notice (bridge/outbound/moderation_mail.py) goes out with Reply-To
`moderate+TOKEN@mail_domain`; the token names the held message, the
community and the moderator, bound to the moderator's address
(mail/tokens.py). The pipeline never publishes such an answer: it checks it
here and always holds it, typed —
- `moderation` when it is sound (our token, used by its own moderator, the
  sender authenticated, a decision word found: "approve" / "reject REASON"
  for one message, lines like "approve 1 3" / "reject 2 REASON" / "approve
  all" for a digest); the sender role then carries
  it out with the same decision function as /admin/held, after checking that
  the person still moderates that community and the message is still held;
- `misused_reply`, `invalid_reply` or `auth_failed` otherwise, with the reason.

Approving publishes someone else's mail, so the bar is higher than for a
reply by token: with sender checks on, the From must be proven (DKIM, SPF,
DMARC or a trusted receiving server), not merely unrefuted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.errors import Held
from bridge.pipeline.replies import authentication_failures, token_in
from bridge.pipeline.sender_trust import Trust
from mail.errors import TokenError, TokenMismatch
from mail.headers import clean_text
from mail.parse import ParsedMessage
from mail.tokens import ModerationClaim, read_moderation_token, verify_moderation_token
from threads.models import HoldKind

MODERATE_PREFIX = "moderate"
# A reason is mailed to the held message's sender: one line, bounded.
REASON_CHARS = 500
NO_REASON = "(no reason given)"
_DECISIONS = ("approve", "reject")
_LEADING_WORD = re.compile(r"^\W*([A-Za-z]+)\b[\s:,.!-]*(.*)$", re.S)


def find_moderation_claim(addresses: Iterable[str]) -> tuple[str, ModerationClaim] | None:
    """The first well-formed moderation token among `addresses` and its (unverified) claim."""
    for address in addresses:
        token = token_in(address, MODERATE_PREFIX)
        if token and (claim := read_moderation_token(token)) is not None:
            return token, claim
    return None


def moderation_command(parsed: ParsedMessage) -> tuple[str, str] | None:
    """("approve", "") or ("reject", reason) from the answer's first line of new text.

    Only the first non-empty line outside quotes counts: the rest of an
    answer is usually the quoted notice, which itself contains both words. The reason is the
    rest of that line, cleaned to one line of text (it is mailed on).
    """
    for line in parsed.visible_text.splitlines():
        # Quoted lines are the notice itself, which says both words.
        if not line.strip() or line.lstrip().startswith(">"):
            continue
        match = _LEADING_WORD.match(line.strip())
        if match is None or match.group(1).lower() not in _DECISIONS:
            return None
        decision = match.group(1).lower()
        if decision == "approve":
            return decision, ""
        reason = clean_text(match.group(2)).strip()[:REASON_CHARS]
        return decision, reason or NO_REASON
    return None


_DIGEST_LINE = re.compile(
    r"^\W*(approve|reject)\s+(all|\d+(?:\s*(?:,|and|\s)\s*\d+)*)\b[\s:,.!-]*(.*)$", re.I
)


@dataclass(frozen=True, slots=True)
class DigestDecision:
    """One line of an answer to a digest: entries by number (None: all), what, and why."""

    numbers: tuple[int, ...] | None
    decision: str
    reason: str


def digest_commands(parsed: ParsedMessage) -> list[DigestDecision]:
    """Lines like "approve 1 3", "reject 2 off topic", "approve all" outside quotes.

    An answer to a digest must name its entries: a bare "approve" could mean
    any of them, and publishing is not undone.
    """
    found: list[DigestDecision] = []
    for line in parsed.visible_text.splitlines():
        if line.lstrip().startswith(">"):
            continue
        match = _DIGEST_LINE.match(line.strip())
        if match is None:
            continue
        decision, which, rest = match.group(1).lower(), match.group(2).lower(), match.group(3)
        numbers = None if which == "all" else tuple(int(n) for n in re.findall(r"\d+", which))
        reason = "" if decision == "approve" else clean_text(rest).strip()[:REASON_CHARS]
        found.append(
            DigestDecision(
                numbers, decision, reason or ("" if decision == "approve" else NO_REASON)
            )
        )
    return found


def check_answer(
    secret_key: str,
    trusted_authserv_ids: frozenset[str],
    token: str,
    parsed: ParsedMessage,
    trust: Trust,
) -> None:
    """Always raises `Held`: typed `moderation` when the answer may be carried out."""
    sender = parsed.from_.address if parsed.from_ else ""
    if not secret_key:
        raise Held(HoldKind.invalid_reply, "moderation answer: the bridge has no secret key")
    try:
        claim = verify_moderation_token(
            secret_key, token, address=sender, today=datetime.now(UTC).date()
        )
    except TokenError as exc:
        kind = HoldKind.misused_reply if isinstance(exc, TokenMismatch) else HoldKind.invalid_reply
        raise Held(kind, f"moderation answer: {exc}") from exc
    failed = authentication_failures(parsed.headers, trusted_authserv_ids)
    if failed:
        raise Held(
            HoldKind.auth_failed,
            "moderation answer: authentication failed at a trusted receiving server: "
            + ", ".join(failed),
        )
    if trust.checked and not trust.proven:
        said = trust.summary() or "no verdict"
        raise Held(
            HoldKind.auth_failed,
            f"moderation answer: the sender is not authenticated ({said}); "
            "only a proven moderator may decide by mail",
        )
    if claim.digest:
        lines = digest_commands(parsed)
        if not lines:
            raise Held(
                HoldKind.invalid_reply,
                "moderation answer to a digest names no entry: write e.g. approve 1 3",
            )
        raise Held(
            HoldKind.moderation,
            f"moderation answer: {len(lines)} decision line(s) on digest {claim.raw_id}",
        )
    command = moderation_command(parsed)
    if command is None:
        raise Held(
            HoldKind.invalid_reply,
            "moderation answer names no decision: the first line must say approve or reject",
        )
    raise Held(HoldKind.moderation, f"moderation answer: {command[0]} message {claim.raw_id}")
