"""Signed tokens the bridge puts into addresses and links it mails: reply, bounce, unsubscribe.

All are HMAC-SHA256 with the installation's secret key, each purpose under
its own label so a token made for one can never be taken for another. Pure
functions: no clock, no database (callers pass `today` and look ids up).

- A reply token rides in the Reply-To local part (`reply+TOKEN@mail_domain`).
  Local parts pass through MTAs that fold case, so it is lower-case base32.
  It names the community, thread and person it was made for and the day it
  expires, with two tags: one over those fields (the token is genuine) and
  one over those fields and the person's address (whoever sends with it is
  that person). Keeping them apart lets a forged From be told from a
  mangled token, and the person's id lets the real owner be told of misuse.
  48 characters: "reply+" and the token fit the 64-octet local part of RFC 5321.
- A bounce token (VERP, `bounces+TOKEN@mail_domain`) names the outbound
  mail a delivery report is about, so a DSN need not be trusted for *which*
  address failed.
- An unsubscribe token rides in the https link of List-Unsubscribe and the
  mute links: the address, community and thread it acts on. It does not
  expire: RFC 8058 one-click links must keep working in old mail.
- A consent link token rides in the open / keep-private links of a consent
  nudge (bridge/pipeline/nudges.py): the candidate, the address the nudge went to,
  the action it offers ("open", "private", or "any") and the day it expires.
  Holding the nudge authorises the choice, as with unsubscribe links; unlike
  those it expires (BRIDGE_CONSENT_LINK_DAYS), since publishing is not undone.
- A consent reply token (`consent+TOKEN@mail_domain`, the nudge's Reply-To)
  names the candidate and expiry, bound to the nudged address like a reply
  token, so an answer "open" counts only from the person it was sent to.
  36 characters: "consent+" and the token fit the 64-octet local part.
- A moderation token (`moderate+TOKEN@mail_domain`, the Reply-To of a
  held-mail notice) names the held message, the community whose moderators
  were told, the moderator and the day it expires, bound to the moderator's
  address like a reply token: "approve" counts only from the person the
  notice went to. 48 characters, as a reply token. A digest of several held
  messages has one under a label of its own, naming the digest instead.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import struct
from dataclasses import dataclass
from datetime import date, timedelta

from mail.errors import TokenError, TokenExpired, TokenMismatch

_EPOCH = date(2000, 1, 1)
_REPLY = struct.Struct(">IIIH")  # community, thread, person, expiry (days since 2000)
_TAG, _BIND = 10, 6
_REPLY_BYTES = _REPLY.size + _TAG + _BIND
_BOUNCE = struct.Struct(">Q")
_BOUNCE_TAG = 8


@dataclass(frozen=True, slots=True)
class ReplyClaim:
    """What a reply token says; trusted only once `verify_reply_token` returned it."""

    community_id: int
    thread_id: int
    person_id: int
    expires: date
    token: str


def _mac(key: str, label: bytes, *parts: bytes) -> bytes:
    mac = hmac.new(key.encode(), label + b"\0", hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.digest()


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes | None:
    text = text.strip().upper()
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None


def _address_bytes(address: str) -> bytes:
    return address.strip().lower().encode("utf-8")


def reply_token(
    key: str, *, community_id: int, thread_id: int, person_id: int, address: str, expires: date
) -> str:
    """A token for `address` (person `person_id`) to reply into one thread until `expires`."""
    days = max(0, min((expires - _EPOCH).days, 0xFFFF))
    payload = _REPLY.pack(community_id, thread_id, person_id, days)
    tag = _mac(key, b"reply", payload)[:_TAG]
    bind = _mac(key, b"reply-from", payload, _address_bytes(address))[:_BIND]
    return _b32(payload + tag + bind)


def read_reply_token(token: str) -> ReplyClaim | None:
    """The fields of a reply token, unverified (routing may look; only authorize trusts)."""
    data = _unb32(token)
    if data is None or len(data) != _REPLY_BYTES:
        return None
    community_id, thread_id, person_id, days = _REPLY.unpack(data[: _REPLY.size])
    return ReplyClaim(
        community_id, thread_id, person_id, _EPOCH + timedelta(days=days), token.lower()
    )


def verify_reply_token(key: str, token: str, *, address: str, today: date) -> ReplyClaim:
    """The claim, if genuine, unexpired and used by its own person; else `TokenError`."""
    data = _unb32(token)
    claim = read_reply_token(token)
    if data is None or claim is None:
        raise TokenError("reply token unreadable")
    payload = data[: _REPLY.size]
    tag = data[_REPLY.size : _REPLY.size + _TAG]
    bind = data[_REPLY.size + _TAG :]
    if not hmac.compare_digest(tag, _mac(key, b"reply", payload)[:_TAG]):
        raise TokenError("reply token signature invalid (altered or made with another key)")
    if claim.expires < today:
        raise TokenError(f"reply token expired on {claim.expires.isoformat()}")
    expected = _mac(key, b"reply-from", payload, _address_bytes(address))[:_BIND]
    if not hmac.compare_digest(bind, expected):
        raise TokenMismatch("reply token belongs to someone else: the From address does not match")
    return claim


def reply_token_genuine(key: str, token: str) -> bool:
    """Whether we signed this reply token (its person and expiry are checked later)."""
    data = _unb32(token)
    if data is None or len(data) != _REPLY_BYTES:
        return False
    payload, tag = data[: _REPLY.size], data[_REPLY.size : _REPLY.size + _TAG]
    return hmac.compare_digest(tag, _mac(key, b"reply", payload)[:_TAG])


def bounce_token_genuine(key: str, token: str) -> bool:
    try:
        verify_bounce_token(key, token)
    except TokenError:
        return False
    return True


def bounce_token(key: str, outbound_id: int) -> str:
    """The VERP part of the envelope sender for outbound mail `outbound_id`."""
    payload = _BOUNCE.pack(outbound_id)
    return _b32(payload + _mac(key, b"bounce", payload)[:_BOUNCE_TAG])


def verify_bounce_token(key: str, token: str) -> int:
    """The outbound mail id a `bounces+TOKEN` address names; `TokenError` if forged."""
    data = _unb32(token)
    if data is None or len(data) != _BOUNCE.size + _BOUNCE_TAG:
        raise TokenError("bounce token unreadable")
    payload, tag = data[: _BOUNCE.size], data[_BOUNCE.size :]
    if not hmac.compare_digest(tag, _mac(key, b"bounce", payload)[:_BOUNCE_TAG]):
        raise TokenError("bounce token signature invalid")
    return int(_BOUNCE.unpack(payload)[0])


@dataclass(frozen=True, slots=True)
class UnsubscribeClaim:
    address: str
    community_id: int
    thread_id: int | None


def unsubscribe_token(key: str, *, address: str, community_id: int, thread_id: int | None) -> str:
    """URL-safe token for the unsubscribe and mute links of one mail."""
    body = json.dumps(
        [address.strip().lower(), community_id, thread_id], separators=(",", ":")
    ).encode()
    tag = _mac(key, b"unsubscribe", body)[:12]
    return base64.urlsafe_b64encode(body + tag).decode("ascii").rstrip("=")


def verify_unsubscribe_token(key: str, token: str) -> UnsubscribeClaim:
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("unsubscribe token unreadable") from exc
    body, tag = data[:-12], data[-12:]
    if len(data) <= 12 or not hmac.compare_digest(tag, _mac(key, b"unsubscribe", body)[:12]):
        raise TokenError("unsubscribe token invalid")
    try:
        address, community_id, thread_id = json.loads(body)
    except (ValueError, TypeError) as exc:
        raise TokenError("unsubscribe token unreadable") from exc
    return UnsubscribeClaim(str(address), int(community_id), thread_id)


CONSENT_ACTIONS = ("open", "private", "any")
_CONSENT_REPLY = struct.Struct(">IH")  # candidate, expiry (days since 2000)
_CONSENT_REPLY_BYTES = _CONSENT_REPLY.size + _TAG + _BIND
_CONSENT_LINK_TAG = 12


@dataclass(frozen=True, slots=True)
class ConsentLinkClaim:
    """What a verified consent link says: who may do what to which candidate, until when."""

    candidate_id: int
    address: str
    action: str  # "open", "private" or "any" (the page offers both)
    expires: date


def _days(when: date) -> int:
    return max(0, min((when - _EPOCH).days, 0xFFFF))


def consent_link_token(
    key: str, *, candidate_id: int, address: str, action: str, expires: date
) -> str:
    """URL-safe token for one of a nudge's links; `address` is the nudged person's."""
    if action not in CONSENT_ACTIONS:
        raise ValueError(action)
    body = json.dumps(
        [candidate_id, address.strip().lower(), action, _days(expires)], separators=(",", ":")
    ).encode()
    tag = _mac(key, b"consent-link", body)[:_CONSENT_LINK_TAG]
    return base64.urlsafe_b64encode(body + tag).decode("ascii").rstrip("=")


def verify_consent_link_token(key: str, token: str, *, today: date) -> ConsentLinkClaim:
    """The claim of a genuine, unexpired consent link; `TokenError` (or `TokenExpired`) else."""
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("consent link unreadable") from exc
    body, tag = data[:-_CONSENT_LINK_TAG], data[-_CONSENT_LINK_TAG:]
    expected = _mac(key, b"consent-link", body)[:_CONSENT_LINK_TAG]
    if len(data) <= _CONSENT_LINK_TAG or not hmac.compare_digest(tag, expected):
        raise TokenError("consent link invalid (altered or made with another key)")
    try:
        candidate_id, address, action, days = json.loads(body)
        claim = ConsentLinkClaim(
            int(candidate_id), str(address), str(action), _EPOCH + timedelta(days=int(days))
        )
    except (ValueError, TypeError) as exc:
        raise TokenError("consent link unreadable") from exc
    if claim.action not in CONSENT_ACTIONS:
        raise TokenError("consent link names no known action")
    if claim.expires < today:
        raise TokenExpired(f"consent link expired on {claim.expires.isoformat()}")
    return claim


@dataclass(frozen=True, slots=True)
class ConsentReplyClaim:
    candidate_id: int
    expires: date


def consent_reply_token(key: str, *, candidate_id: int, address: str, expires: date) -> str:
    """The local-part token of a nudge's Reply-To, for `address` to answer by mail."""
    payload = _CONSENT_REPLY.pack(candidate_id, _days(expires))
    tag = _mac(key, b"consent-reply", payload)[:_TAG]
    bind = _mac(key, b"consent-reply-from", payload, _address_bytes(address))[:_BIND]
    return _b32(payload + tag + bind)


def consent_reply_token_genuine(key: str, token: str) -> bool:
    """Whether we signed this consent reply token (sender and expiry are checked later)."""
    data = _unb32(token)
    if data is None or len(data) != _CONSENT_REPLY_BYTES:
        return False
    payload = data[: _CONSENT_REPLY.size]
    tag = data[_CONSENT_REPLY.size : _CONSENT_REPLY.size + _TAG]
    return hmac.compare_digest(tag, _mac(key, b"consent-reply", payload)[:_TAG])


def verify_consent_reply_token(
    key: str, token: str, *, address: str, today: date
) -> ConsentReplyClaim:
    """The claim, if we signed it, it has not expired and `address` is who it was sent to."""
    if not consent_reply_token_genuine(key, token):
        raise TokenError("consent reply token invalid (altered or made with another key)")
    data = _unb32(token)
    assert data is not None  # genuine implies readable
    payload = data[: _CONSENT_REPLY.size]
    candidate_id, days = _CONSENT_REPLY.unpack(payload)
    claim = ConsentReplyClaim(candidate_id, _EPOCH + timedelta(days=days))
    if claim.expires < today:
        raise TokenExpired(f"consent reply token expired on {claim.expires.isoformat()}")
    expected = _mac(key, b"consent-reply-from", payload, _address_bytes(address))[:_BIND]
    if not hmac.compare_digest(data[_CONSENT_REPLY.size + _TAG :], expected):
        raise TokenMismatch("consent reply token belongs to someone else: the From does not match")
    return claim


_MODERATE = struct.Struct(">IIIH")  # held message (or digest), community, moderator, expiry
_MODERATE_BYTES = _MODERATE.size + _TAG + _BIND
# A digest's token signs under a label of its own: its first field is a digest's id.
_MODERATE_LABELS = {False: b"moderate", True: b"moderate-digest"}


@dataclass(frozen=True, slots=True)
class ModerationClaim:
    """What a moderation token says: who may decide which held message (or digest's
    messages, when `digest`), for which community, until when."""

    raw_id: int  # the held raw message; a moderation digest's id when `digest`
    community_id: int
    person_id: int
    expires: date
    digest: bool = False


def moderation_token(
    key: str,
    *,
    raw_id: int,
    community_id: int,
    person_id: int,
    address: str,
    expires: date,
    digest: bool = False,
) -> str:
    """The local-part token of a held-mail notice's reply address, for `address` to answer."""
    label = _MODERATE_LABELS[digest]
    payload = _MODERATE.pack(raw_id, community_id, person_id, _days(expires))
    tag = _mac(key, label, payload)[:_TAG]
    bind = _mac(key, label + b"-from", payload, _address_bytes(address))[:_BIND]
    return _b32(payload + tag + bind)


def read_moderation_token(token: str) -> ModerationClaim | None:
    """The fields of a moderation token, unverified (routing may look; authorize verifies)."""
    data = _unb32(token)
    if data is None or len(data) != _MODERATE_BYTES:
        return None
    raw_id, community_id, person_id, days = _MODERATE.unpack(data[: _MODERATE.size])
    return ModerationClaim(raw_id, community_id, person_id, _EPOCH + timedelta(days=days))


def _moderation_label(key: str, token: str) -> bytes | None:
    """The label this token was signed under by us, or None when we did not sign it."""
    data = _unb32(token)
    if data is None or len(data) != _MODERATE_BYTES:
        return None
    payload, tag = data[: _MODERATE.size], data[_MODERATE.size : _MODERATE.size + _TAG]
    for label in _MODERATE_LABELS.values():
        if hmac.compare_digest(tag, _mac(key, label, payload)[:_TAG]):
            return label
    return None


def moderation_token_genuine(key: str, token: str) -> bool:
    """Whether we signed this moderation token (its sender and expiry are checked later)."""
    return _moderation_label(key, token) is not None


def verify_moderation_token(key: str, token: str, *, address: str, today: date) -> ModerationClaim:
    """The claim, if we signed it, it has not expired and `address` is its moderator's."""
    label = _moderation_label(key, token)
    if label is None:
        raise TokenError("moderation token invalid (altered or made with another key)")
    data, claim = _unb32(token), read_moderation_token(token)
    assert data is not None  # genuine implies readable
    assert claim is not None
    payload = data[: _MODERATE.size]
    if claim.expires < today:
        raise TokenExpired(f"moderation token expired on {claim.expires.isoformat()}")
    expected = _mac(key, label + b"-from", payload, _address_bytes(address))[:_BIND]
    if not hmac.compare_digest(data[_MODERATE.size + _TAG :], expected):
        raise TokenMismatch("moderation token belongs to someone else: the From does not match")
    return dataclasses.replace(claim, digest=label == _MODERATE_LABELS[True])
