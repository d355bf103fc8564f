"""mail.parse: headers, charsets, MIME structure, limits, and robustness on real and random mail."""

from __future__ import annotations

import email
import email.policy
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail.charsets import decode_text
from mail.headers import Address, parse_msg_ids
from mail.mime import MAX_FILENAME_CHARS, MAX_MIME_DEPTH, safe_filename
from mail.parse import ParsedMessage, parse_message
from tests.support.messages import corpus_messages
from tests.support.paths import MAIL_SAMPLES

SAMPLES = MAIL_SAMPLES
STDLIB_SAMPLES = Path(email.__file__).parent.parent / "test" / "test_email" / "data"


def sample(name: str) -> ParsedMessage:
    return parse_message((SAMPLES / name).read_bytes())


def assert_well_formed(parsed: ParsedMessage) -> None:
    """Every text field is a str, whatever the input was."""
    for value in (
        parsed.subject,
        parsed.text,
        parsed.visible_text,
        parsed.quoted_text,
        parsed.signature,
    ):
        assert isinstance(value, str)
    assert parsed.html is None or isinstance(parsed.html, str)
    assert all(isinstance(n, str) and isinstance(v, str) for n, v in parsed.headers)
    assert all(isinstance(a.address, str) and isinstance(a.name, str) for a in parsed.to)
    assert not any(d.startswith("parser error") for d in parsed.defects), parsed.defects


# --- headers --------------------------------------------------------------------


def test_plain_message_fields() -> None:
    """The envelope fields of a plain UTF-8 message come out decoded and normalised."""
    parsed = sample("0001-plain-utf8.eml")
    assert parsed.message_id == "rollout-2@example.com"
    assert parsed.subject == "Rollout plan"
    assert parsed.from_ == Address("Ana Lima", "ana@example.com")
    assert parsed.to == [
        Address("Ben Ortiz", "ben@example.org"),
        Address("Cruz, Dana", "dana@example.com"),
    ]
    assert parsed.cc == [Address("", "team@lists.example.com")]
    assert parsed.reply_to == [Address("", "team@lists.example.com")]
    assert parsed.date == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert parsed.in_reply_to == ["rollout-1@example.com"]
    assert parsed.references == ["rollout-0@example.com", "rollout-1@example.com"]
    assert parsed.list_id == "team.lists.example.com"
    assert parsed.thread_index == "AdkN2wq3xyz=="
    assert ("Subject", "Rollout plan") in parsed.headers
    assert parsed.text == "Hello all,\n\nthe rollout starts on Monday. Café opens at 9."
    assert parsed.defects == []


def test_to_json_shape() -> None:
    """to_json has the documented keys and JSON-ready values."""
    data = sample("0005-attachment-filenames.eml").to_json()
    assert set(data) == {
        "message_id",
        "subject",
        "from",
        "to",
        "cc",
        "date",
        "in_reply_to",
        "references",
        "text",
        "visible_text",
        "quoted_text",
        "signature",
        "attachments",
        "defects",
        "from_impersonates",
        "html_sanitized",
        "events",
        "limit",
    }
    assert data["from"] == {"name": "Ana Lima", "address": "ana@example.com"}
    assert data["date"] == "2026-03-02T09:00:00+01:00"
    assert data["in_reply_to"] is None
    first = data["attachments"][0]
    assert {k: first[k] for k in ("filename", "content_type", "size", "inline")} == {
        "filename": "€ budget 2026.pdf",
        "content_type": "application/pdf",
        "size": 9,
        "inline": False,
    }
    assert len(first["sha256"]) == 64
    assert first["nested"] is None
    assert (data["events"], data["limit"]) == ([], None)


def test_raw_utf8_headers() -> None:
    """Raw UTF-8 in headers (RFC 6532) is read as UTF-8 without a defect."""
    parsed = sample("0006-raw-utf8-headers.eml")
    assert parsed.subject == "Überprüfung der Zahlen ✓"
    assert parsed.from_ == Address("Ána Lìma", "ana@example.com")
    assert parsed.defects == []


def test_raw_8bit_header_not_utf8_falls_back_to_windows_1252() -> None:
    """Raw 8-bit header bytes that are not UTF-8 are read as windows-1252, with a defect."""
    parsed = parse_message(b"Subject: caf\xe9 \x93ok\x94\n\nbody\n")
    assert parsed.subject == "café “ok”"
    assert "undecodable header Subject: 8-bit bytes read as windows-1252" in parsed.defects


def test_broken_encoded_words() -> None:
    """Split characters, unknown charsets and bad base64 in encoded-words keep their text."""
    parsed = sample("0004-broken-encoded-words.eml")
    assert parsed.subject.startswith("Café au lait €café")
    assert "broken encoded-word in header Subject" in parsed.defects
    assert "charset 'x-unknown' replaced by windows-1252 in header Subject" in parsed.defects


def test_encoded_word_in_gb2312_uses_gbk() -> None:
    """A gb2312 label is read with its superset gbk, as mail clients do."""
    assert sample("0033-gbk-and-unknown-charset.eml").subject == "你好"


def test_encoded_comma_does_not_split_a_display_name() -> None:
    """Addresses are split before encoded-words are decoded."""
    parsed = parse_message(b"To: =?utf-8?q?Cruz=2C_Dana?= <dana@example.com>, ben@example.org\n\n")
    assert parsed.to == [Address("Cruz, Dana", "dana@example.com"), Address("", "ben@example.org")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"Ortiz, Ben" <Ben@EXAMPLE.org>', [Address("Ortiz, Ben", "Ben@example.org")]),
        ("ben@example.org (Ben Ortiz)", [Address("Ben Ortiz", "ben@example.org")]),
        (
            "team: ana@example.com, ben@example.org;",
            [Address("", "ana@example.com"), Address("", "ben@example.org")],
        ),
        ("undisclosed-recipients:;", []),
        ("Ben Ortiz ben@example.org", [Address("Ben Ortiz", "ben@example.org")]),
        ("", []),
    ],
)
def test_address_list_forms(value: str, expected: list[Address]) -> None:
    """Quoted names, comments, groups and bracketless addresses are read leniently."""
    assert parse_message(f"To: {value}\n\n".encode()).to == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@example.com> <b@example.com>", ["a@example.com", "b@example.com"]),
        ("<a@example.com> (Ana's message of Mon)", ["a@example.com"]),
        ("<a@exa\n mple.com>", ["a@example.com"]),
        ("bare@example.com", ["bare@example.com"]),
        ("<a@example.com> junk <a@example.com> <>", ["a@example.com"]),
        ("no ids here", []),
        (None, []),
    ],
)
def test_parse_msg_ids(value: str | None, expected: list[str]) -> None:
    """Id lists tolerate comments, folding, duplicates and missing brackets."""
    assert parse_msg_ids(value) == expected


def test_dates_are_aware() -> None:
    """A "-0000" (unknown zone) date becomes UTC; a garbage date is None with a defect."""
    unknown = parse_message(b"Date: Mon, 2 Mar 2026 09:00:00 -0000\n\n")
    assert unknown.date == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    garbage = parse_message(b"Date: the day after tomorrow\n\n")
    assert garbage.date is None
    assert "unparseable Date" in garbage.defects


def test_header_only_and_empty_input() -> None:
    """Messages without a body, without headers, or empty parse to sensible values."""
    assert parse_message(b"").subject == ""
    assert parse_message(b"Subject: only\n").subject == "only"
    body_only = parse_message(b"\nJust a body.\n")
    assert body_only.text == "Just a body."
    assert body_only.headers == []


def test_crlf_line_endings() -> None:
    """CRLF mail parses like LF mail and its text has LF line ends."""
    parsed = sample("0031-crlf-line-endings.eml")
    assert parsed.subject == "CRLF line ends"
    assert parsed.visible_text == "Line one.\nLine two."
    assert "\r" not in parsed.text


def test_mbox_envelope_line_is_ignored() -> None:
    """A leading mbox "From " line is not a header and not a defect."""
    parsed = parse_message(b"From ana@example.com Mon Mar  2 09:00:00 2026\nSubject: Hi\n\nBody\n")
    assert parsed.subject == "Hi"
    assert parsed.defects == []


# --- body charsets ------------------------------------------------------------------


def test_latin1_label_on_windows_1252_text() -> None:
    """iso-8859-1 labelled text is read as windows-1252, keeping smart quotes and the euro sign."""
    parsed = sample("0002-latin1-label-windows-1252-bytes.eml")
    assert parsed.text == "Outlook wrote “smart quotes” and costs € 5 – café."
    assert "charset 'iso-8859-1' read as windows-1252" in parsed.defects


def test_undeclared_8bit_text_is_utf8() -> None:
    """8-bit text with no charset is tried as UTF-8 first."""
    parsed = sample("0003-undeclared-8bit-utf8.eml")
    assert parsed.text == "Grüße aus Köln — see you."
    assert "undeclared 8-bit text read as utf-8" in parsed.defects


def test_unknown_charset_is_replaced() -> None:
    """An unknown charset label falls back to UTF-8 and says so."""
    parsed = sample("0033-gbk-and-unknown-charset.eml")
    assert parsed.text == "naïve café"
    assert "charset 'x-made-up' replaced by utf-8" in parsed.defects


def test_decode_text_never_loses_bytes() -> None:
    """Mixed UTF-8 with stray bytes keeps the UTF-8 and maps each stray byte to a character."""
    defects: list[str] = []
    text = decode_text(
        "Grüße ".encode() + b"\x81\x93x" + " déjà vu, très bien".encode(), "utf-8", defects
    )
    assert text == "Grüße \x81“x déjà vu, très bien"
    assert defects == ["text not valid utf-8: read as utf-8 with windows-1252 for invalid bytes"]


def test_codec_names_that_are_not_charsets_are_refused() -> None:
    """charset=unicode_escape must not run Python's escape decoder on mail."""
    parsed = parse_message(b"Content-Type: text/plain; charset=unicode_escape\n\nA\\x41 \xc3\xa9\n")
    assert parsed.text == "A\\x41 é"


# --- MIME structure -----------------------------------------------------------------


def test_html_only_outlook_mail_becomes_text() -> None:
    """An HTML-only Outlook message gives readable text, trimmed at its reply header."""
    parsed = sample("0007-html-only-outlook.eml")
    assert parsed.text.startswith("Hi Ben,\n\nThe numbers look right – approved.\n\nAna\nFrom: Ben")
    assert parsed.visible_text == "Hi Ben,\n\nThe numbers look right – approved.\n\nAna"
    assert parsed.quoted_text.endswith("Please approve the budget.")
    assert parsed.html is not None
    assert "<style" not in parsed.html


def test_placeholder_plain_part_yields_to_html() -> None:
    """A "this is an HTML message" plain alternative is replaced by the HTML's text."""
    parsed = sample("0008-alternative-placeholder-plain.eml")
    assert parsed.text == "Spring meetup on our site (https://example.com/meetup)."
    assert parsed.html is not None
    assert "<b>meetup</b>" in parsed.html


def test_plain_alternative_is_preferred_and_html_sanitised() -> None:
    """A real plain alternative is the text; the HTML alternative is kept, sanitised."""
    parsed = sample("0009-alternative-plain-preferred.eml")
    assert parsed.text == "Agenda: budget, hiring."
    assert parsed.html == "<p>Agenda: <b>budget</b>, hiring.</p>"


def test_mixed_inline_texts_join_and_attachments_split() -> None:
    """Inline text parts join the text; a file part becomes an attachment."""
    parsed = sample("0010-mixed-inline-text-and-attachment.eml")
    assert parsed.text == "First part.\n\nSecond part after the image."
    [chart] = parsed.attachments
    assert (chart.filename, chart.content_type, chart.size) == ("chart.png", "image/png", 8)
    assert chart.payload.startswith(b"\x89PNG")
    assert not chart.inline


def test_attachment_filenames_are_decoded_and_safe() -> None:
    """RFC 2231 and RFC 2047 names are decoded; paths and bidi tricks are removed."""
    names = [a.filename for a in sample("0005-attachment-filenames.eml").attachments]
    assert names == ["€ budget 2026.pdf", "passwd", "résumé.txt", "invoicegpj.exe"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("evil\x00name\x07.txt", "evilname.txt"),
        ("..", None),
        ("/", None),
        ("  .hidden ", "hidden"),
        ("a" * 300 + ".pdf", "a" * (MAX_FILENAME_CHARS - 4) + ".pdf"),
        ("invoice.pdf.exe. . ", "invoice.pdf.exe"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("Lpt1.log", "_Lpt1.log"),
        ("console.txt", "console.txt"),
    ],
)
def test_safe_filename(raw: str, expected: str | None) -> None:
    """safe_filename gives a base name without controls, at most 255 characters."""
    assert safe_filename(raw) == expected


def test_forwarded_message_is_an_attachment_named_by_subject() -> None:
    """A message/rfc822 part is an attachment named after its subject."""
    parsed = sample("0011-forwarded-message-rfc822.eml")
    assert parsed.text == "Forwarding the old thread."
    [forwarded] = parsed.attachments
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.filename == "Old thread: plans_2025.eml"
    assert b"The old content." in forwarded.payload


def test_signed_message_keeps_content_and_attaches_signature() -> None:
    """multipart/signed: the signed text is the body, the signature an attachment."""
    parsed = sample("0012-pgp-signed.eml")
    assert parsed.text == "This text is signed."
    assert [a.content_type for a in parsed.attachments] == ["application/pgp-signature"]


def test_related_image_keeps_cid_and_drops_remote_image() -> None:
    """An inline image's cid: reference survives for the web layer; a tracking pixel does not."""
    parsed = sample("0013-related-cid-image.eml")
    [logo] = parsed.attachments
    assert (logo.content_id, logo.inline) == ("logo.123@example.com", True)
    assert parsed.html is not None
    assert 'src="cid:logo.123@example.com"' in parsed.html
    assert "tracker.example.net" not in parsed.html
    assert parsed.text == "Our logo: and a pixel"


def test_inline_text_attachment_is_the_body_when_nothing_else_is() -> None:
    """An inline text/plain part with a filename is an attachment, and the text if alone."""
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n'
        b'Content-Disposition: inline; filename="note.txt"\n\nThe note.\n--b--\n'
    )
    parsed = parse_message(raw)
    assert parsed.text == "The note."
    assert [a.filename for a in parsed.attachments] == ["note.txt"]


def test_multipart_without_boundary_is_shown_as_text() -> None:
    """A multipart declared without a usable boundary still shows its content."""
    parsed = parse_message(b"Content-Type: multipart/mixed\n\nplain words\n")
    assert parsed.text == "plain words"


# --- limits -----------------------------------------------------------------------


def test_deep_mime_nesting_is_refused() -> None:
    """More than MAX_MIME_DEPTH nested multiparts are not handed to the stdlib."""
    depth = MAX_MIME_DEPTH * 20
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth)
    )
    closing = b"".join(b"--b%d--\n" % i for i in reversed(range(depth)))
    parsed = parse_message(b"Subject: deep\n" + opening + b"\ninner\n" + closing)
    assert parsed.subject == "deep"
    assert f"MIME nesting deeper than {MAX_MIME_DEPTH}: body not parsed" in parsed.defects


def test_moderate_nesting_is_parsed() -> None:
    """Nesting within the limit parses normally."""
    depth = 10
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth)
    )
    closing = b"".join(b"--b%d--\n" % i for i in reversed(range(depth)))
    parsed = parse_message(opening + b"Content-Type: text/plain\n\ninner\n" + closing)
    assert parsed.text == "inner"


def test_huge_header_section_is_truncated() -> None:
    """A header section over 1 MB is cut, with a defect, and the body is not parsed."""
    raw = b"Subject: big\n" + b"X-Filler: " + b"a" * 2_000_000 + b"\n\nbody\n"
    parsed = parse_message(raw)
    assert parsed.subject == "big"
    assert "header section larger than 1 MB: truncated, body not parsed" in parsed.defects
    assert parsed.text == ""


def test_huge_message_body_is_not_parsed() -> None:
    """A message over 50 MB keeps its headers and skips its body, with a defect."""
    raw = b"Subject: huge\n\n" + b"x" * (50 * 1024 * 1024 + 1)
    parsed = parse_message(raw)
    assert parsed.subject == "huge"
    assert "message larger than 50 MB: body not parsed" in parsed.defects


# --- robustness -----------------------------------------------------------------------


def test_every_cpython_sample_parses() -> None:
    """Every file in CPython's own test_email data parses without an internal error."""
    if not STDLIB_SAMPLES.is_dir():
        pytest.skip("CPython's test_email data is not installed")
    files = sorted(p for p in STDLIB_SAMPLES.iterdir() if p.is_file())
    assert files
    for path in files:
        assert_well_formed(parse_message(path.read_bytes()))


def test_every_sample_file_parses() -> None:
    """Every hand-made sample parses cleanly."""
    for path in sorted(SAMPLES.glob("*.eml")):
        assert_well_formed(parse_message(path.read_bytes()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    """Arbitrary bytes give a ParsedMessage with str fields."""
    assert_well_formed(parse_message(raw))


_MIME_SKELETON = (
    b"From: =?utf-8?q?Ana?= <ana@example.com>\nTo: ben@example.org\n"
    b"Subject: =?iso-8859-1?q?caf=E9?=\nDate: Mon, 2 Mar 2026 09:00:00 +0100\n"
    b'Content-Type: multipart/alternative; boundary="alt"\n\n--alt\n'
    b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
    b"Hello =C3=A9\n> quoted\n--alt\nContent-Type: text/html; charset=utf-8\n"
    b"Content-Transfer-Encoding: base64\n\nPGI+SGVsbG88L2I+\n--alt--\n"
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_MIME_SKELETON)), st.binary(max_size=8)), max_size=12))
def test_mutated_mime_never_raises(edits: list[tuple[int, bytes]]) -> None:
    """A MIME message with random bytes spliced in still parses to str fields."""
    raw = bytearray(_MIME_SKELETON)
    for position, junk in edits:
        raw[position : position + len(junk)] = junk
    assert_well_formed(parse_message(bytes(raw)))


REAL_MESSAGES = [
    path.read_bytes()
    for folder in (STDLIB_SAMPLES, SAMPLES)
    if folder.is_dir()
    for path in sorted(folder.glob("msg_*.txt" if folder == STDLIB_SAMPLES else "*.eml"))
]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(REAL_MESSAGES),
    st.lists(st.tuples(st.floats(0, 1), st.binary(max_size=12)), min_size=1, max_size=10),
)
def test_mutated_real_messages_never_raise(raw: bytes, edits: list[tuple[float, bytes]]) -> None:
    """CPython's sample mail and ours, with random bytes spliced in, still parse to str fields."""
    mutated = bytearray(raw)
    for where, junk in edits:
        position = int(where * len(mutated))
        mutated[position : position + len(junk)] = junk
    assert_well_formed(parse_message(bytes(mutated)))


# --- real corpora ---------------------------------------------------------------------


def _normalized(text: str) -> str:
    return " ".join(text.split())


def _matches_default_policy(raw: bytes, parsed: ParsedMessage) -> None:
    """Message-ID, Subject and From agree with email.policy.default's reading."""
    reference = email.message_from_bytes(raw, policy=email.policy.default)
    message_id = reference["message-id"]
    expected_id = _normalized(str(message_id)).strip("<>") if message_id is not None else None
    assert (parsed.message_id or None) == (expected_id or None)
    assert _normalized(parsed.subject) == _normalized(str(reference["subject"] or ""))
    sender = reference["from"]
    # Spam sometimes puts encoded-words inside the address itself; RFC 2047
    # section 5 forbids that and the stdlib "decodes" it into garbage: skip those.
    if sender is not None and sender.addresses and sender.addresses[0].addr_spec.isascii():
        first = sender.addresses[0]
        assert parsed.from_ is not None
        assert parsed.from_.address.lower() == first.addr_spec.lower()
        # The stdlib drops "(Name)" comments and adds spaces between adjacent
        # encoded-words (RFC 2047 section 6.2 says to drop them): compare loosely.
        if first.display_name:
            assert "".join(parsed.from_.name.split()) == "".join(first.display_name.split())


@pytest.mark.corpus
@pytest.mark.slow
@pytest.mark.parametrize(("corpus", "limit"), [("ksummit-3k", None), ("cgroups-vger-36k", 5000)])
def test_corpus_parses_and_agrees_with_stdlib(corpus: str, limit: int | None) -> None:
    """Real list mail parses without error; a sample matches policy.default on id, subject, from."""
    chooser = random.Random(20260302)
    count = 0
    for raw in corpus_messages(corpus, limit):
        parsed = parse_message(raw)
        assert_well_formed(parsed)
        if chooser.random() < 0.1:
            _matches_default_policy(raw, parsed)
        count += 1
    assert count > 1000


@pytest.mark.parametrize(
    ("from_header", "claimed"),
    [
        ('"ceo@example.com" <x@attacker.example>', "ceo@example.com"),
        ('"Ana (ana@example.com)" <ana.lima@example.net>', "ana@example.com"),
        ('"ana@example.com" <ANA@example.com>', None),
        ("Ana Lima <ana@example.com>", None),
    ],
)
def test_display_name_claiming_another_address_is_flagged(from_header: str, claimed) -> None:
    """A display name that shows a different address than the real sender is reported."""
    raw = f"From: {from_header}\r\nTo: eng@lists.example.com\r\nSubject: pay\r\n\r\nnow\r\n"
    assert parse_message(raw.encode()).to_json()["from_impersonates"] == claimed


def test_json_reports_sanitized_html_and_attachment_identity() -> None:
    """parse --json carries the sanitised HTML and each attachment's inline flag and sha256."""
    import hashlib
    from email.message import EmailMessage

    m = EmailMessage()
    m["From"] = "ana@example.com"
    m["Subject"] = "report"
    m.set_content("see attached")
    m.add_alternative(
        '<p onclick="x()">see <b>attached</b></p><script>bad()</script>', subtype="html"
    )
    m.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="q1.pdf")
    out = parse_message(bytes(m)).to_json()
    assert "onclick" not in out["html_sanitized"]
    assert "script" not in out["html_sanitized"]
    assert "<b>attached</b>" in out["html_sanitized"]
    (att,) = out["attachments"]
    assert att["inline"] is False
    assert att["sha256"] == hashlib.sha256(b"%PDF-1.4 fake").hexdigest()
