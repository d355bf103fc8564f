"""Property tests: generated MIME trees and header soup never break the parser.

Hypothesis builds whole messages: nested multiparts (some without or with
wrong boundaries), parts in many charsets (some unknown or lying), every
transfer encoding (some broken), forwarded messages, calendar parts, and
header sections full of encoded-words (valid and broken), raw 8-bit bytes,
folding and junk. The bytes are written by hand, not by the email package,
so they can be as wrong as real mail. Whatever comes in, the parser returns
without an internal error and every text it returns is valid Unicode
(tests/support/fuzz_parse.py `check`).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fuzz_parse import check

CHARSETS = [
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "windows-1252",
    "iso-8859-15",
    "koi8-r",
    "gb2312",
    "big5",
    "shift_jis",
    "iso-2022-jp",
    "euc-kr",
    "utf-16",
    "utf-7",
    "unknown-8bit",
    "x-unknown",
    "",
    "rot13",  # a codec, not a charset
    "base64",
]
ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus", ""]
LEAF_TYPES = [
    "text/plain",
    "text/html",
    "text/calendar",
    "application/octet-stream",
    "application/pdf",
    "image/png",
    "message/delivery-status",
    "text/rfc822-headers",
    "multipart/mixed",  # a multipart with no parts: shown as text
    "garbage",
]
SUBTYPES = ["mixed", "alternative", "related", "signed", "report", "digest", "x-weird"]

texts = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)),
    max_size=200,
)
header_text = st.text(
    st.characters(min_codepoint=1, max_codepoint=0x2FFF, exclude_categories=("Cs",)), max_size=60
)


@st.composite
def encoded_word(draw: st.DrawFn) -> bytes:
    """An RFC 2047 word, sometimes broken: bad charset, bad base64, cut off, unpadded."""
    charset = draw(st.sampled_from(CHARSETS))
    text = draw(header_text)
    data = text.encode(_codec(charset), "replace")
    if draw(st.booleans()):
        payload = base64.b64encode(data).decode()
        kind = "B"
    else:
        payload = binascii.b2a_qp(data, header=True).decode("ascii", "replace")
        kind = "Q"
    breakage = draw(st.sampled_from(["none", "none", "cut", "junk", "nocharset", "unpadded"]))
    if breakage == "cut":
        payload = payload[: len(payload) // 2]
    elif breakage == "junk":
        payload += draw(st.sampled_from(["!", "=", "?", "==", "\u00e9"]))
    elif breakage == "unpadded":
        payload = payload.rstrip("=")
    label = "" if breakage == "nocharset" else charset
    word = f"=?{label}?{kind}?{payload}?="
    return word.encode("utf-8", "surrogateescape")


@st.composite
def header_value(draw: st.DrawFn) -> bytes:
    """Plain text, encoded-words, raw 8-bit bytes, addresses, folds, in any mix."""
    pieces = draw(
        st.lists(
            st.one_of(
                header_text.map(lambda t: t.encode("utf-8")),
                header_text.map(lambda t: t.encode("latin-1", "replace")),
                encoded_word(),
                st.sampled_from(
                    [
                        b'"Lima, Ana" <ana@example.com>',
                        b"ana@example.com",
                        b'"ceo@example.com" <x@example.net>',
                        b"<id@example.com>",
                        b"undisclosed-recipients:;",
                        b"(comment",
                        b'"unterminated',
                        b"<",
                        b"\n ",
                        b"\r\n\t",
                        b",,;",
                        b"Mon, 2 Mar 2026 09:00:00 +0100",
                        b"Tue, 99 Foo 20261 25:61:61 +9999",
                    ]
                ),
                st.binary(max_size=20),
            ),
            max_size=6,
        )
    )
    return b" ".join(pieces).replace(b"\r", b"").replace(b"\n", b"\n ")


NAMES = [
    b"From",
    b"To",
    b"Cc",
    b"Reply-To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"In-Reply-To",
    b"References",
    b"List-Id",
    b"Thread-Index",
    b"Auto-Submitted",
    b"Precedence",
    b"Sensitivity",
    b"X-Junk",
    b"Content-Type",
    b"Content-Disposition",
    b"Content-Transfer-Encoding",
]


@st.composite
def header_soup(draw: st.DrawFn) -> bytes:
    fields = draw(
        st.lists(
            st.tuples(
                st.one_of(st.sampled_from(NAMES), st.binary(min_size=1, max_size=10)),
                header_value(),
            ),
            max_size=12,
        )
    )
    return b"".join(name + b": " + value + b"\n" for name, value in fields)


def _codec(charset: str) -> str:
    try:
        codecs.lookup(charset or "utf-8")
    except LookupError:
        return "utf-8"
    if charset in ("rot13", "base64", "utf-7"):
        return "utf-8"
    return charset or "utf-8"


def _encode_body(data: bytes, encoding: str, broken: bool) -> bytes:
    if encoding == "base64":
        out = base64.encodebytes(data)
        return out[: len(out) // 2] + b"!*" if broken else out
    if encoding == "quoted-printable":
        out = quopri.encodestring(data)
        return out + b"=G" if broken else out
    if encoding == "x-uuencode":
        return b"begin 644 f\n" + binascii.b2a_uu(data[:45]) + (b"" if broken else b"end\n")
    return data


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    content_type = draw(st.sampled_from(LEAF_TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(ENCODINGS))
    if content_type == "text/calendar":
        summary = draw(texts).replace("\n", "\\n")
        text = (
            "BEGIN:VCALENDAR\nMETHOD:"
            + draw(st.sampled_from(["REQUEST", "CANCEL", "", "x"]))
            + "\nBEGIN:VEVENT\nSUMMARY;LANGUAGE=en:"
            + summary
            + "\nDTSTART;TZID="
            + draw(st.sampled_from(["Europe/Berlin", "W. Europe Standard Time", "../x", ""]))
            + ":"
            + draw(st.sampled_from(["20260310T140000", "20261399T999999", "2026", "x"]))
            + '\nORGANIZER;CN="'
            + draw(header_text)
            + '":mailto:a@example.com\n'
            + draw(st.sampled_from(["END:VEVENT\nEND:VCALENDAR\n", "", "END:VALARM\n"]))
        )
    elif content_type == "text/html":
        text = "<div><p>" + draw(texts) + "</p><blockquote>" + draw(texts) + "</blockquote>"
        text += draw(st.sampled_from(["</div>", "<img src=cid:x@y>", "<table><tr><td>", ""]))
    else:
        text = draw(texts)
    data = text.encode(_codec(charset), "replace")
    if draw(st.integers(0, 9)) == 0:
        data = draw(st.binary(max_size=200))  # bytes that match no declared charset
    body = _encode_body(data, encoding, draw(st.booleans()))
    head = b"Content-Type: " + content_type.encode()
    if charset:
        head += b"; charset=" + draw(st.sampled_from([b"", b'"'])) + charset.encode()
    if draw(st.booleans()):
        head += b'; name="' + draw(header_value()).replace(b'"', b"") + b'"'
    head += b"\n"
    if encoding:
        head += b"Content-Transfer-Encoding: " + encoding.encode() + b"\n"
    disposition = draw(
        st.sampled_from(
            [b"", b"inline", b"attachment", b"attachment; filename*=UTF-8''%E2%82%AC%2F..%2Fx.pdf"]
        )
    )
    if disposition:
        head += b"Content-Disposition: " + disposition + b"\n"
    if draw(st.booleans()):
        head += b"Content-ID: <" + draw(st.sampled_from([b"x@y", b"", b"a b", b"<<"])) + b">\n"
    return head + b"\n" + body


@st.composite
def forwarded(draw: st.DrawFn, inner: st.SearchStrategy[bytes]) -> bytes:
    message = draw(header_soup()) + draw(inner)
    return b"Content-Type: message/rfc822\n\n" + message


@st.composite
def multipart(draw: st.DrawFn, children: st.SearchStrategy[list[bytes]]) -> bytes:
    subtype = draw(st.sampled_from(SUBTYPES))
    boundary = draw(st.sampled_from([b"b1", b"=_Part_0", b"a b", b"", b"--", b"x" * 80]))
    declared = boundary if draw(st.integers(0, 5)) else draw(st.sampled_from([b"other", b""]))
    parts = draw(children)
    head = b"Content-Type: multipart/" + subtype.encode() + b'; boundary="' + declared + b'"\n\n'
    body = draw(st.sampled_from([b"", b"This is a MIME message.\n"]))
    for part in parts:
        body += b"--" + boundary + b"\n" + part + b"\n"
    if draw(st.integers(0, 4)):
        body += b"--" + boundary + b"--\n"  # sometimes never closed
    body += draw(st.sampled_from([b"", b"epilogue\n"]))
    return head + body


mime_part = st.recursive(
    leaf(),
    lambda inner: st.one_of(
        multipart(st.lists(inner, max_size=4)),
        forwarded(inner),
    ),
    max_leaves=12,
)


@st.composite
def message(draw: st.DrawFn) -> bytes:
    """A whole message: header soup, MIME-Version sometimes, a generated MIME tree."""
    head = draw(header_soup())
    if draw(st.booleans()):
        head += b"MIME-Version: 1.0\n"
    raw = head + draw(mime_part)
    if draw(st.booleans()):
        raw = raw.replace(b"\n", b"\r\n")
    return raw


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(message())
def test_generated_mime_trees_parse_to_valid_unicode(raw: bytes) -> None:
    """Any generated message parses without an internal error, all text valid Unicode."""
    check(raw)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header_soup(), texts)
def test_header_soup_parses_to_valid_unicode(head: bytes, body: str) -> None:
    """Header soup over a plain body: every field decoded to valid Unicode."""
    parsed = check(head + b"\n" + body.encode("utf-8"))
    assert isinstance(parsed.subject, str)


@settings(max_examples=200, deadline=None)
@given(st.lists(encoded_word(), min_size=1, max_size=5), st.sampled_from([b" ", b"", b"\n "]))
def test_encoded_words_in_subject_never_leak_surrogates(words: list[bytes], sep: bytes) -> None:
    """Adjacent, broken and mislabelled encoded-words decode to valid Unicode."""
    parsed = check(b"Subject: " + sep.join(words) + b"\nFrom: a@example.com\n\nbody\n")
    parsed.subject.encode("utf-8")
