"""The wire policy: structured headers folded at their spaces, never RFC 2047 encoded.

Assertions read the bytes `to_wire` writes (what is queued and handed to the
relay), not a parsed message: a parser decodes encoded words and would hide
exactly the fault these tests are about.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header

import pytest

from mail.compose import (
    Addressing,
    Digest,
    DigestItem,
    ListInfo,
    Post,
    compose_digest,
    compose_notice,
    compose_post,
)
from mail.wire import WIRE, fold_items, new_message, to_wire
from tests.support.wire import ENCODED_WORD, check_wire, headers

TOKEN = "reply+" + "Ab9-_" * 40 + "@bridge.example"  # a reply token's length and alphabet
UNSUB_URL = "https://bridge.example/unsubscribe/" + "tK3_" * 40
UNSUB_MAILTO = "mailto:" + TOKEN + "?subject=unsubscribe"


def long_post(**overrides: object) -> Post:
    fields: dict[str, object] = {
        "message_id": "m" * 150 + "@mail.example.com",
        "subject": "Überprüfung der Änderungen für das Projekt " * 3,
        "author_name": "Zoë Álvarez-Núñez",
        "author_address": "zoe@example.com",
        "text": "Text.\n",
        "date": datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        "references": [f"<ref{i}.{'r' * 60}@mail.example.com>" for i in range(25)],
    }
    fields.update(overrides)
    return Post(**fields)  # type: ignore[arg-type]


LIST = ListInfo(
    "Ingeniería, Ñandú & Co. — the long-named community",
    "eng",
    "eng@lists.example.com",
    "bridge.example",
    "https://bridge.example",
)
TO = Addressing(
    "bo@example.com",
    TOKEN,
    unsubscribe_url=UNSUB_URL,
    unsubscribe_mailto=UNSUB_MAILTO,
    recipient_name="Bø Ångström",
)


def test_long_list_unsubscribe_is_folded_not_encoded() -> None:
    """The case seen from outside: a long token made List-Unsubscribe `=?utf-8?q?=3Cmailto…`."""
    raw = to_wire(compose_post(long_post(), LIST, TO))
    found = check_wire(raw)
    value = b" ".join(found["list-unsubscribe"].split())
    assert value == f"<{UNSUB_MAILTO}>, <{UNSUB_URL}>".encode()
    assert b"List-Unsubscribe:" in raw
    assert b",\r\n <https://" in raw
    assert found["list-unsubscribe-post"].strip() == b"List-Unsubscribe=One-Click"


def test_post_headers_on_the_wire() -> None:
    """Message-ID, In-Reply-To, References, List-* readable; Reply-To's address untouched."""
    raw = to_wire(compose_post(long_post(), LIST, TO))
    found = check_wire(raw)
    assert found["message-id"].strip() == b"<" + b"m" * 150 + b"@mail.example.com>"
    refs = found["references"].split()
    assert len(refs) == 20
    assert refs[0].startswith(b"<ref0.")
    assert refs[-1].startswith(b"<ref24.")
    assert found["in-reply-to"].strip() == refs[-1]
    assert found["list-id"].rstrip().endswith(b" <eng.bridge.example>")
    assert found["list-post"].strip() == b"<mailto:eng@lists.example.com>"
    assert found["list-archive"].strip() == b"<https://bridge.example/c/eng>"
    # Reply-To: the phrase may be encoded words, the address never.
    assert f"<{TOKEN}>".encode() in found["reply-to"]
    assert not ENCODED_WORD.search(found["reply-to"].split(b"<")[-1])


def test_non_ascii_phrases_are_encoded_words_and_decode_back() -> None:
    """From/To/Reply-To/List-Id names are RFC 2047 for the phrase only, and read back whole."""
    raw = to_wire(compose_post(long_post(), LIST, TO))
    found = headers(raw)
    for name in ("from", "to", "reply-to", "list-id"):
        phrase = found[name].rsplit(b"<", 1)[0]
        assert ENCODED_WORD.search(phrase), name
    # Decoded as RFC 2047 6.2 says (white space between encoded words dropped): the
    # email package's address parser keeps it, and would read "Ñand ú" here.
    author = str(make_header(decode_header(found["from"].rsplit(b"<", 1)[0].decode())))
    assert author.strip() == f"Zoë Álvarez-Núñez via {LIST.name}"
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["To"].addresses[0].display_name == "Bø Ångström"  # type: ignore[union-attr]
    assert str(parsed["List-Id"]) == f"{LIST.name} <eng.bridge.example>"
    assert parsed["Reply-To"].addresses[0].addr_spec == TOKEN  # type: ignore[union-attr]
    assert parsed["Subject"] == long_post().subject.strip()


def test_digest_and_notice_headers_on_the_wire() -> None:
    """The other two composers go through the same policy."""
    digest = Digest(
        LIST,
        [DigestItem("Hello", "Ana", "Text", datetime(2026, 3, 1, tzinfo=UTC))],
        "digest." + "d" * 100 + "@bridge.example",
        datetime(2026, 3, 2, tzinfo=UTC),
        unsubscribe_url=UNSUB_URL,
        unsubscribe_mailto=UNSUB_MAILTO,
    )
    found = check_wire(to_wire(compose_digest(digest, TO)))
    assert (
        b" ".join(found["list-unsubscribe"].split()) == f"<{UNSUB_MAILTO}>, <{UNSUB_URL}>".encode()
    )
    notice = compose_notice(
        mail_domain="bridge.example",
        to="ana@example.com",
        subject="Your login link " * 8,
        text="Click.",
        message_id="login." + "x" * 120 + "@bridge.example",
        date=datetime(2026, 3, 2, tzinfo=UTC),
    )
    found = check_wire(to_wire(notice))
    assert found["message-id"].strip() == b"<login." + b"x" * 120 + b"@bridge.example>"


def test_fold_items_keeps_lines_short_where_items_allow() -> None:
    """Folded only between items; an item longer than a line stands alone, whole."""
    items = [f"<id{i}@example.com>" for i in range(12)] + ["<" + "z" * 120 + "@example.com>"]
    folded = fold_items("References", " ".join(items))
    lines = folded.removesuffix("\r\n").split("\r\n")
    assert all(len(line) <= 78 for line in lines[:-1])
    assert lines[-1] == " <" + "z" * 120 + "@example.com>"
    assert " ".join(folded.split()).removeprefix("References: ") == " ".join(items)


@pytest.mark.parametrize("value", ["<a@b>\r\nBcc: victim@example.com", "<a@b>\nX: y"])
def test_structured_value_cannot_carry_a_header_of_its_own(value: str) -> None:
    """A line break in a structured value is refused, not written as a second header."""
    msg = new_message()
    with pytest.raises(ValueError, match="line break"):
        msg["References"] = value


def test_stored_id_too_long_for_a_line_is_replaced() -> None:
    """A sender-chosen Message-ID past 900 characters would make a line relays refuse."""
    raw = to_wire(compose_post(long_post(message_id="q" * 2000 + "@example.com"), LIST, TO))
    found = check_wire(raw)
    assert found["message-id"].strip().startswith(b"<cb.")


def test_policy_is_the_smtp_one_for_everything_else() -> None:
    """CRLF and 78 columns, as policy.SMTP: only the structured headers differ."""
    assert WIRE.linesep == "\r\n"
    assert WIRE.max_line_length == 78
    msg = new_message()
    msg["Subject"] = "word " * 40
    raw = to_wire(msg)
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
