"""mail.trim: what the author wrote, the history it quotes, and the signature."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mail.parse import ParsedMessage, parse_message
from mail.trim import split_reply

SAMPLES = Path(__file__).parent / "data" / "mail"


def sample(name: str) -> ParsedMessage:
    return parse_message((SAMPLES / name).read_bytes())


@pytest.mark.parametrize(
    ("name", "visible", "quoted_start"),
    [
        (
            "0014-gmail-top-posted.eml",
            "Sounds good, ship it.",
            "On Mon, Mar 2, 2026 at 9:00 AM Ben",
        ),
        ("0015-outlook-top-posted.eml", "Yes, Monday works.\n\nAna", "-----Original Message-----"),
        ("0016-german-top-posted.eml", "Montag passt.", "Am 02.03.2026 um 09:00 schrieb"),
        ("0017-french-top-posted.eml", "Lundi me convient.", "Le lun. 2 mars 2026"),
        ("0032-html-gmail-reply.eml", "Thursday works.\n\nAna", "On Sun, Mar 1, 2026"),
        (
            "0007-html-only-outlook.eml",
            "Hi Ben,\n\nThe numbers look right – approved.\n\nAna",
            "From: Ben",
        ),
    ],
)
def test_top_posted_replies(name: str, visible: str, quoted_start: str) -> None:
    """Everything from the attribution or Outlook header on is quoted history."""
    parsed = sample(name)
    assert parsed.visible_text == visible
    assert parsed.quoted_text.startswith(quoted_start)


def test_outlook_rule_and_header_block() -> None:
    """Outlook's "____" rule with a From/Sent/To/Subject block starts the history."""
    text = (
        "Yes.\n\n________________________________\nFrom: Ben Ortiz <ben@example.org>\n"
        "Sent: Monday, March 2, 2026 9:00\nTo: Ana Lima <ana@example.com>\nSubject: Plan\n\n"
        "Shall we?"
    )
    visible, quoted, _ = split_reply(text)
    assert visible == "Yes."
    assert quoted.startswith("________________________________\nFrom: Ben")


def test_mailing_list_footer_rule_is_not_history() -> None:
    """A rule not followed by a reply header (a list footer) stays visible."""
    footer = "_" * 47 + "\nTeam mailing list\nteam@lists.example.com"
    text = "Hello.\n\n" + footer
    assert split_reply(text) == (text, "", "")


def test_bottom_quoted_reply() -> None:
    """A trailing quote block and the attribution above it are quoted."""
    parsed = sample("0018-bottom-quoted.eml")
    assert parsed.visible_text == "Monday is fine, and I will prepare the notes."
    assert parsed.quoted_text.startswith("Ben Ortiz <ben@example.org> writes:")


def test_interleaved_review_keeps_its_context() -> None:
    """Quotes between answers stay visible; only the trailing quote block is history."""
    parsed = sample("0019-interleaved-review.eml")
    assert parsed.visible_text.startswith(
        "On Mon, Mar 02, 2026 at 09:00:00AM +0100, Ben Ortiz wrote:"
    )
    assert "> +static int frob(struct widget *w)" in parsed.visible_text
    assert parsed.visible_text.endswith("This cannot happen, all callers check it.")
    assert parsed.quoted_text.startswith("> +\treturn w->count;")
    assert parsed.quoted_text.endswith("> +}")
    assert parsed.signature == "Ana"


def test_rfc3676_signature() -> None:
    """Text after a "-- " line is the signature."""
    text = "The fix works.\n\n-- \nAna Lima\nExample Corp"
    assert split_reply(text) == ("The fix works.", "", "Ana Lima\nExample Corp")


def test_sign_off_block_is_a_signature() -> None:
    """A closing, a name and a title at the very end are a signature."""
    parsed = sample("0020-signature-sign-off.eml")
    assert parsed.visible_text == "Thanks for the quick fix, it works here."
    assert parsed.signature == "Best regards,\nAna Lima\nRelease Manager, Example Corp"


@pytest.mark.parametrize(
    "text",
    [
        "I looked.\n\nThanks,\nI will send a v2 shortly.",
        "Thanks,\nAna",
        "Please review.\n\nRegards,\nAna Lima\n"
        + "and a closing line far too long to be part of any signature block" * 2,
    ],
)
def test_sign_off_only_when_clearly_one(text: str) -> None:
    """A closing followed by a sentence, alone, or before a long line is not a signature."""
    assert split_reply(text)[2] == ""


def test_forwarded_block_is_content() -> None:
    """A forwarded message, even with quotes inside, is visible content, not history."""
    parsed = sample("0021-forwarded-inline.eml")
    assert parsed.quoted_text == ""
    assert parsed.visible_text.endswith(
        "The venue is booked for Thursday.\n\n> Can you book the venue?"
    )


def test_reply_above_forward_keeps_the_forward() -> None:
    """Forwarded content after an author's signature stays visible."""
    text = "FYI.\n\n-- \nAna\n\nBegin forwarded message:\n\nFrom: Ben\nSubject: Plan\n\nThe plan."
    visible, quoted, signature = split_reply(text)
    assert visible == "FYI.\n\nBegin forwarded message:\n\nFrom: Ben\nSubject: Plan\n\nThe plan."
    assert (quoted, signature) == ("", "Ana")


def test_all_quoted_stays_visible() -> None:
    """A message that is nothing but quotes keeps them visible."""
    assert split_reply("On Mon, Ben wrote:\n> only\n> quotes\n") == (
        "On Mon, Ben wrote:\n> only\n> quotes",
        "",
        "",
    )


def test_rewrapped_quote_line_stays_in_the_block() -> None:
    """A quoted line re-wrapped without its ">" does not split the trailing block."""
    text = (
        "Agreed.\n\nOn Tue, Ben wrote:\n> a long line that was\nwrapped by a client\n> and goes on"
    )
    assert split_reply(text) == (
        "Agreed.",
        "On Tue, Ben wrote:\n> a long line that was\nwrapped by a client\n> and goes on",
        "",
    )


def test_trailing_blank_lines_are_stripped() -> None:
    """No part ends in blank lines; CRLF is normalised."""
    assert split_reply("Hello\r\n\r\n\r\n") == ("Hello", "", "")
    assert split_reply("") == ("", "", "")
    assert split_reply(" \n \n") == ("", "", "")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("> -_:aAO\nwrote\xa0Thanks,")), max_size=200))
def test_visible_never_empty_when_text_exists(text: str) -> None:
    """Whatever the text, visible is non-empty when the text has any non-blank character."""
    visible, quoted, signature = split_reply(text)
    assert isinstance(quoted, str)
    assert isinstance(signature, str)
    assert bool(visible.strip()) == bool(text.strip())
