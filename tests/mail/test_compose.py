"""The composer and the tokens, as pure functions: headers, encodings, signatures, expiry."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from email import message_from_bytes, policy

import pytest

from bridge.pipeline.replies import authentication_failures, reply_command
from mail.compose import (
    MAX_REFERENCES,
    Addressing,
    ListInfo,
    Post,
    chain_headers,
    compose_notice,
    compose_post,
    thread_index_header,
)
from mail.parse import ParsedMessage
from mail.tokens import (
    TokenError,
    bounce_token,
    read_reply_token,
    reply_token,
    unsubscribe_token,
    verify_bounce_token,
    verify_reply_token,
    verify_unsubscribe_token,
)

KEY = "k" * 48
LIST = ListInfo("Ingeniería", "eng", "eng@lists.example.com", "bridge.example", "https://b.example")
WHEN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def post(**overrides: object) -> Post:
    fields: dict[str, object] = {
        "message_id": "web-1@bridge.example",
        "subject": "Re: Plan für Montag",
        "author_name": "Zoë Álvarez",
        "author_address": "zoe@example.com",
        "text": "Einverstanden.\n\nBis Montag.",
        "date": WHEN,
        "references": ["a@example.com", "b@example.com"],
        "thread_topic": "Plan für Montag",
        "thread_index_header": thread_index_header(None, "a@example.com", WHEN),
    }
    fields.update(overrides)
    return Post(**fields)  # type: ignore[arg-type]


def to(**overrides: object) -> Addressing:
    fields: dict[str, object] = {
        "recipient": "bo@example.com",
        "reply_to": "reply+abc@bridge.example",
        "unsubscribe_url": "https://b.example/unsubscribe/t",
        "unsubscribe_mailto": "mailto:reply+abc@bridge.example?subject=unsubscribe",
    }
    fields.update(overrides)
    return Addressing(**fields)  # type: ignore[arg-type]


def wire(msg: object) -> object:
    """What a receiver parses: the bytes on the wire, read back."""
    from bridge.outbound.posts import as_bytes

    return message_from_bytes(as_bytes(msg), policy=policy.default)  # type: ignore[arg-type]


def test_non_ascii_names_survive_the_wire() -> None:
    """RFC 2047 encoded words for the author and community; the address stays the list's."""
    msg = wire(compose_post(post(), LIST, to()))
    sender = msg["From"].addresses[0]  # type: ignore[index]
    assert sender.display_name == "Zoë Álvarez via Ingeniería"
    assert sender.addr_spec == "eng@lists.example.com"
    assert msg["Subject"] == "Re: Plan für Montag"  # type: ignore[index]
    # The phrase alone is encoded, and decodes to the name; the list id stays readable.
    assert msg["List-Id"] == "Ingeniería <eng.bridge.example>"  # type: ignore[index]
    assert all(len(line) <= 998 for line in msg.as_bytes().split(b"\n"))  # type: ignore[attr-defined]


def test_thread_index_keeps_the_threads_outlook_header() -> None:
    """Outlook's 22-byte conversation header is reused; one 5-byte block per level below."""
    header = bytes.fromhex("01" + "ab" * 5 + "cd" * 16)
    msg = compose_post(post(thread_index_header=header), LIST, to())
    raw = base64.b64decode(str(msg["Thread-Index"]))
    assert raw[:22] == header
    assert len(raw) == 22 + 5 * 2
    assert thread_index_header(header.hex(), "x@example.com", WHEN) == header
    ours = thread_index_header(None, "a@example.com", WHEN)
    assert ours == thread_index_header(None, "a@example.com", WHEN)
    assert len(ours) == 22


def test_references_are_trimmed_keeping_root_and_recent() -> None:
    """Long threads: the root and the newest ids (RFC 5322 3.6.4), the parent last."""
    ids = [f"m{i}@example.com" for i in range(60)]
    in_reply_to, references = chain_headers(ids)
    kept = references.split()  # type: ignore[union-attr]
    assert in_reply_to == "<m59@example.com>"
    assert len(kept) == MAX_REFERENCES
    assert kept[0] == "<m0@example.com>"
    assert kept[-1] == "<m59@example.com>"
    assert chain_headers([]) == (None, None)


def test_one_click_header_only_with_an_https_link() -> None:
    """Without a public URL: the mailto only, and no List-Unsubscribe-Post."""
    msg = compose_post(post(), LIST, to(unsubscribe_url=""))
    assert msg["List-Unsubscribe"] == "<mailto:reply+abc@bridge.example?subject=unsubscribe>"
    assert msg["List-Unsubscribe-Post"] is None


def test_html_part_escapes_the_text() -> None:
    """Text written by people is escaped in the HTML part."""
    msg = compose_post(post(text="<script>x</script> & co"), LIST, to())
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt; &amp; co" in html


def test_notice_is_automatic() -> None:
    msg = compose_notice(
        mail_domain="bridge.example",
        to="ana@example.com",
        subject="Sign in",
        text="Your link: https://b.example/login/x",
        message_id="n1@bridge.example",
        date=WHEN,
    )
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["From"].addresses[0].addr_spec == "bridge@bridge.example"
    assert msg["X-Commons-Bridge-Loop"] == "bridge.example"


def token(**overrides: object) -> str:
    fields: dict[str, object] = {
        "community_id": 3,
        "thread_id": 77,
        "person_id": 12,
        "address": "Bo@Example.com",
        "expires": date(2026, 9, 1),
    }
    fields.update(overrides)
    return reply_token(KEY, **fields)  # type: ignore[arg-type]


def test_reply_token_fits_a_local_part_and_verifies() -> None:
    """Lower-case base32, 48 characters; bound to the address case-insensitively."""
    t = token()
    assert len("reply+" + t) <= 64
    assert t == t.lower()
    claim = verify_reply_token(KEY, t.upper(), address="bo@example.com", today=date(2026, 8, 1))
    assert (claim.community_id, claim.thread_id, claim.person_id) == (3, 77, 12)


@pytest.mark.parametrize(
    ("mangle", "address", "today", "reason"),
    [
        (lambda t: t, "eve@example.com", date(2026, 8, 1), "belongs to someone else"),
        (lambda t: t, "bo@example.com", date(2026, 9, 2), "expired"),
        (
            lambda t: ("b" if t[3] != "b" else "c").join([t[:3], t[4:]]),
            "bo@example.com",
            date(2026, 8, 1),
            "signature invalid",
        ),
        (lambda t: t[:-2], "bo@example.com", date(2026, 8, 1), "unreadable"),
    ],
)
def test_reply_token_refusals(mangle, address, today, reason) -> None:  # type: ignore[no-untyped-def]
    """Someone else's From, an expired token, an altered one, a truncated one."""
    with pytest.raises(TokenError, match=reason):
        verify_reply_token(KEY, mangle(token()), address=address, today=today)


def test_other_key_and_other_purposes_do_not_verify() -> None:
    t = token()
    with pytest.raises(TokenError, match="signature"):
        verify_reply_token("other" * 10, t, address="bo@example.com", today=date(2026, 8, 1))
    assert read_reply_token(bounce_token(KEY, 5)) is None
    assert verify_bounce_token(KEY, bounce_token(KEY, 5)) == 5
    with pytest.raises(TokenError):
        verify_bounce_token("other" * 10, bounce_token(KEY, 5))
    u = unsubscribe_token(KEY, address="Bo@example.com", community_id=3, thread_id=None)
    claim = verify_unsubscribe_token(KEY, u)
    assert (claim.address, claim.community_id, claim.thread_id) == ("bo@example.com", 3, None)
    with pytest.raises(TokenError):
        verify_unsubscribe_token(KEY, u[:5] + ("A" if u[5] != "A" else "B") + u[6:])


def test_authentication_results_only_from_trusted_servers() -> None:
    """dkim/spf/dmarc=fail count only under a trusted authserv-id; softfail holds nothing."""
    headers = [
        ("Authentication-Results", "mx.example.com; dkim=pass; spf=softfail; dmarc=fail"),
        ("Authentication-Results", "forged.example.net; dkim=fail"),
    ]
    trusted = frozenset({"mx.example.com"})
    assert authentication_failures(headers, trusted) == ["dmarc=fail (mx.example.com)"]
    assert authentication_failures(headers, frozenset()) == []


@pytest.mark.parametrize(
    ("text", "subject", "command"),
    [
        ("mute", "Re: Plan", "mute"),
        ("Mute.", "Re: Plan", "mute"),
        ("unsubscribe", "Re: Plan", "unsubscribe"),
        ("This message was automatically generated by Gmail.", "unsubscribe", "unsubscribe"),
        ("Please mute the alarms on Monday", "Re: Plan", None),
        ("Stop", "Re: Plan", "mute"),
    ],
)
def test_reply_commands(text: str, subject: str, command: str | None) -> None:
    assert reply_command(ParsedMessage(subject=subject, visible_text=text)) == command


def test_names_with_line_breaks_stay_on_one_header_line() -> None:
    """A community or subject an admin typed with a newline cannot break the header."""
    lst = ListInfo("Eng\nineering", "eng", "eng@lists.example.com", "bridge.example")
    msg = wire(compose_post(post(subject="Re: two\r\nlines"), lst, to()))
    assert msg["From"].addresses[0].display_name == "Zoë Álvarez via Eng ineering"  # type: ignore[index]
    assert msg["Subject"] == "Re: two lines"  # type: ignore[index]
