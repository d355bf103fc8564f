"""mail.trim: what the author wrote, the history it quotes, and the signature."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mail.html import html_to_text
from mail.parse import ParsedMessage, parse_message
from mail.trim import split_reply
from tests.support.paths import MAIL_SAMPLES

SAMPLES = MAIL_SAMPLES


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


def test_mailing_list_footer_is_a_signature_not_history() -> None:
    """A rule followed by a list footer (Mailman's) is the signature, not quoted history."""
    footer = "_" * 47 + "\nTeam mailing list\nteam@lists.example.com"
    text = "Hello.\n\n" + footer
    assert split_reply(text) == ("Hello.", "", footer)


def test_rule_alone_stays_visible() -> None:
    """A rule with neither a header block nor a list footer under it is the author's text."""
    text = "Totals:\n\n" + "_" * 30 + "\nAll four teams agreed."
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


# --- top-posting in many clients and languages ---------------------------------------------

REPLY = "Sounds good to me."
HISTORY = "Can we move the review to Thursday?\nThe room is free after ten."


@pytest.mark.parametrize(
    "attribution",
    [
        # Gmail and Apple Mail, on one line and wrapped by the client.
        "On Mon, Mar 2, 2026 at 9:00 AM Ben Ortiz <ben@example.com> wrote:",
        "On Mon, Mar 2, 2026 at 9:00 AM Ben Ortiz <\nben@example.com> wrote:",
        "On Mon, Mar 2, 2026 at 9:00 AM Ben Ortiz <ben@example.com>\nwrote:",
        "On 2 Mar 2026,\nat 09:00,\nBen Ortiz <ben@example.com> wrote:",
        "On 2 Mar 2026, at 09:00, Ben Ortiz <ben@example.com> wrote:",
        # Webmail without a colon, framed in dashes or not.
        "---- On Mon, 02 Mar 2026 09:00:00 +0100 ben@example.com wrote ----",
        "On Mon, 02 Mar 2026 09:00:00 +0100 Ben Ortiz <ben@example.com> wrote",
        # The same in other languages.
        "Am 02.03.2026 um 09:00 schrieb Ben Ortiz <ben@example.com>:",
        "Le lun. 2 mars 2026 à 09:00, Ben Ortiz <ben@example.com> a écrit :",
        "Le lun. 2 mars 2026 à 09:00, Ben Ortiz <ben@example.com>\na écrit :",
        "El lun, 2 mar 2026 a las 9:00, Ben Ortiz (<ben@example.com>) escribió:",
        "Il giorno lun 2 mar 2026 alle ore 09:00 Ben Ortiz <ben@example.com> ha scritto:",
        "Op ma 2 mrt 2026 om 09:00 schreef Ben Ortiz <ben@example.com>:",
        "Em seg., 2 de mar. de 2026 às 09:00, Ben Ortiz <ben@example.com> escreveu:",
        "Den mån 2 mars 2026 kl 09:00 skrev Ben Ortiz <ben@example.com>:",
        "man. 2. mar. 2026 kl. 09.00 skrev Ben Ortiz <ben@example.com>:",
        "ma. 2. mar. 2026 kl. 09:00 skrev Ben Ortiz <ben@example.com\n>:",
        "pon., 2 mar 2026 o 09:00 Ben Ortiz <ben@example.com> napisał(a):",
        "W dniu 2026-03-02 09:00:00 użytkownik Ben Ortiz <ben@example.com> napisał:",
        "2026年3月2日(月) 9:00 Ben Ortiz <ben@example.com>:",
        "2026/03/02 9:00、Ben Ortiz <ben@example.com> のメッセージ:",
        "Ben Ortiz <ben@example.com> 于2026年3月2日周一 09:00写道：",
        "在 2026年3月2日 09:00，Ben Ortiz <ben@example.com> 写道：",
        "Ben Ortiz <ben@example.com> 於 2026年3月2日 週一 上午9:00 寫道：",
        # Mutt.
        "* Ben Ortiz <ben@example.com> [2026-03-02 09:00]:",
    ],
)
@pytest.mark.parametrize("marks", ["> ", ""])
def test_attribution_lines_start_the_history(attribution: str, marks: str) -> None:
    """An attribution, wrapped or not, in any of the languages, starts the quoted history,
    whether the client marks the quoted lines with ">" or not."""
    history = "\n".join(marks + line for line in HISTORY.split("\n"))
    text = f"{REPLY}\n\n{attribution}\n\n{history}\n"
    visible, quoted, signature = split_reply(text)
    assert (visible, signature) == (REPLY, "")
    assert quoted == f"{attribution}\n\n{history}"


@pytest.mark.parametrize(
    "header",
    [
        "From: Ben Ortiz <ben@example.com>\nSent: Monday, March 2, 2026 9:00 AM\n"
        "To: Ana Lima <ana@example.com>\nSubject: Review",
        # Outlook web: the rule above belongs to the block; a long From value wraps.
        "________________________________\nFrom: Ben Ortiz (Example Engineering Team) \n"
        "<ben@example.com>\nSent: Monday, March 2, 2026 9:00 AM\nTo: Ana Lima\nSubject: Review",
        # Outlook desktop's rule, and Hotmail's block that starts with the date.
        "-----Original Message-----\nFrom: Ben Ortiz [mailto:ben@example.com]\n"
        "Sent: Monday, March 2, 2026 9:00 AM\nTo: Ana Lima\nSubject: Review",
        "Date: Mon, 2 Mar 2026 09:00:00 +0100\nFrom: ben@example.com\nTo: ana@example.com\n"
        "Subject: Review",
        # Gmail's HTML made plain, with bold labels.
        "*From:* Ben Ortiz <ben@example.com>\n*Sent:* Monday, March 2, 2026 9:00 AM\n"
        "*To:* Ana Lima <ana@example.com>\n*Subject:* Review",
        # The same blocks in other languages.
        "-----Ursprüngliche Nachricht-----\nVon: Ben Ortiz <ben@example.com>\n"
        "Gesendet: Montag, 2. März 2026 09:00\nAn: Ana Lima <ana@example.com>\nBetreff: Review",
        "De : Ben Ortiz <ben@example.com>\nEnvoyé : lundi 2 mars 2026 09:00\n"
        "À : Ana Lima <ana@example.com>\nObjet : Review",
        "De: Ben Ortiz <ben@example.com>\nEnviado el: lunes, 2 de marzo de 2026 9:00\n"
        "Para: Ana Lima <ana@example.com>\nAsunto: Review",
        "Da: Ben Ortiz <ben@example.com>\nInviato: lunedì 2 marzo 2026 09:00\n"
        "A: Ana Lima <ana@example.com>\nOggetto: Review",
        "Van: Ben Ortiz <ben@example.com>\nVerzonden: maandag 2 maart 2026 09:00\n"
        "Aan: Ana Lima <ana@example.com>\nOnderwerp: Review",
        "De: Ben Ortiz <ben@example.com>\nEnviada em: segunda-feira, 2 de março de 2026 09:00\n"
        "Para: Ana Lima <ana@example.com>\nAssunto: Review",
        "Från: Ben Ortiz <ben@example.com>\nSkickat: den 2 mars 2026 09:00\n"
        "Till: Ana Lima <ana@example.com>\nÄmne: Review",
        "Fra: Ben Ortiz <ben@example.com>\nSendt: 2. marts 2026 09:00\n"
        "Til: Ana Lima <ana@example.com>\nEmne: Review",
        "Od: Ben Ortiz <ben@example.com>\nWysłano: poniedziałek, 2 marca 2026 09:00\n"
        "Do: Ana Lima <ana@example.com>\nTemat: Review",
        "差出人: Ben Ortiz <ben@example.com>\n送信日時: 2026年3月2日 9:00\n"
        "宛先: Ana Lima <ana@example.com>\n件名: Review",
        "发件人: Ben Ortiz <ben@example.com>\n发送时间: 2026年3月2日 9:00\n"
        "收件人: Ana Lima <ana@example.com>\n主题: Review",
        "寄件者： Ben Ortiz <ben@example.com>\n寄件日期： 2026年3月2日 上午 09:00\n"
        "收件者： Ana Lima <ana@example.com>\n主旨： Review",
        # Yahoo's French block, indented, with the space before each colon.
        "      De : Ben Ortiz <ben@example.com>\n À : Ana Lima <ana@example.com>\n"
        " Envoyé le : lundi 2 mars 2026 09h00\n Objet : Review",
    ],
)
def test_header_blocks_start_the_history(header: str) -> None:
    """An Outlook-style header block, in any of the languages, starts the quoted history."""
    text = f"{REPLY}\n\n{header}\n\n{HISTORY}"
    assert split_reply(text) == (REPLY, f"{header}\n\n{HISTORY}", "")


def test_html_outlook_header_block_in_german() -> None:
    """Outlook's HTML reply in German: the bold Von/Gesendet/An/Betreff block is history."""
    html = (
        "<html><body><p>Passt, danke.</p><div style='border-top:solid #E1E1E1 1.0pt'>"
        "<p><b>Von:</b> Ben Ortiz &lt;ben@example.com&gt;<br><b>Gesendet:</b> Montag, 2. März "
        "2026 09:00<br><b>An:</b> Ana Lima &lt;ana@example.com&gt;<br><b>Betreff:</b> Review"
        "</p></div><p>Können wir die Besprechung verschieben?</p></body></html>"
    )
    visible, quoted, _ = split_reply(html_to_text(html))
    assert visible == "Passt, danke."
    assert quoted.startswith("Von: Ben Ortiz <ben@example.com>")
    assert quoted.endswith("Können wir die Besprechung verschieben?")


@pytest.mark.parametrize(
    "text",
    [
        # Prose that ends in a colon or a verb is not an attribution.
        "Plan for Monday:\n\nFirst the review, then lunch.",
        "As Ben wrote in 2024:\n\nShip small changes often.",
        "On Monday I wrote\nthe first draft, and Ana reviewed it.",
        # A changelog line with an address and a colon, and a trailer above it.
        "v2:\nLink: https://lists.example.com/r/20260302091500.12345-1-ben@example.com\n"
        "- Ben Ortiz <ben@example.com>:\n  - fix the return value",
        # A From line without the rest of a header block.
        "Thanks.\n\nFrom: the team at Example\nWe hope you enjoy it.",
    ],
)
def test_no_false_history(text: str) -> None:
    """Lines that merely look like markers leave the whole text visible."""
    assert split_reply(text) == (text, "", "")


def test_snip_mark_under_attribution_keeps_interleaving() -> None:
    """A "[...]" between the attribution and the quotes is not unquoted history."""
    text = (
        "On Mon, Mar 2, 2026 at 09:00, Ben Ortiz wrote:\n[...]\n> +\tcount++;\n\n"
        "This needs the lock.\n\n> +\treturn count;\n\nAnd this too."
    )
    assert split_reply(text) == (text, "", "")


# --- bottom-posting and interleaved answers --------------------------------------------------


def test_single_leading_quote_block_is_history() -> None:
    """Bottom-posting: one quote block first, the answer below it: the block is history."""
    text = "On Mon, Ben Ortiz wrote:\n> Can we meet on Thursday?\n> At ten?\n\nYes, ten works."
    assert split_reply(text) == (
        "Yes, ten works.",
        "On Mon, Ben Ortiz wrote:\n> Can we meet on Thursday?\n> At ten?",
        "",
    )


def test_interleaved_answers_stay_visible() -> None:
    """Answers between quoted lines stay visible with the quotes they answer."""
    text = (
        "On Mon, Ben Ortiz <ben@example.com> wrote:\n> Can we meet on Thursday?\n\nYes.\n\n"
        "> And can you bring the budget?\n\nI will.\n\n> Thanks,\n> Ben"
    )
    visible, quoted, _ = split_reply(text)
    assert visible == (
        "On Mon, Ben Ortiz <ben@example.com> wrote:\n> Can we meet on Thursday?\n\nYes.\n\n"
        "> And can you bring the budget?\n\nI will."
    )
    assert quoted == "> Thanks,\n> Ben"


def test_greeting_above_interleaved_quotes_stays_visible() -> None:
    """With the author's text above and below a quote, the quote is context, not history."""
    text = "Hi Ben,\n\n> Can we meet on Thursday?\n\nYes, at ten."
    assert split_reply(text) == (text, "", "")


def test_quote_between_reply_and_closing_is_history() -> None:
    """A reply, the quoted message, then a one-line closing: the quote is history."""
    text = "Thursday works.\n\nOn Mon, Ben Ortiz wrote:\n\n> Can we meet?\n\nRegards, Ana"
    assert split_reply(text) == (
        "Thursday works.",
        "On Mon, Ben Ortiz wrote:\n\n> Can we meet?",
        "Regards, Ana",
    )


# --- footers, signatures, disclaimers ----------------------------------------------------------


@pytest.mark.parametrize(
    "footer",
    [
        "Sent from my iPhone",
        "Sent from my Galaxy Tab S9",
        "Sent with Proton Mail secure email.",
        "Get Outlook for Android<https://aka.ms/example>",
        "Von meinem iPhone gesendet",
        "Envoyé de mon iPad",
        "Enviado desde mi móvil",
        "Inviato da iPhone",
        "Verzonden vanaf mijn iPhone",
        "Enviado do meu iPhone",
        "Skickat från min iPhone",
        "Sendt fra min iPhone",
        "Wysłane z iPhone'a",
        "iPhoneから送信",
        "发自我的 iPhone",
    ],
)
def test_phone_footer_is_the_signature_and_ends_the_reply(footer: str) -> None:
    """A phone footer is the signature; history the phone put under it without any
    attribution is quoted."""
    assert split_reply(f"{REPLY}\n\n{footer}") == (REPLY, "", footer)
    assert split_reply(f"{REPLY}\n\n{footer}\n\n{HISTORY}") == (REPLY, HISTORY, footer)


def test_sentence_starting_like_a_footer_is_text() -> None:
    """ "Sent from my desk, ..." is a sentence, not a footer."""
    text = f"{REPLY}\n\nSent from my desk, which is easier than the phone."
    assert split_reply(text) == (text, "", "")


def test_signature_of_an_inline_patch_is_not_the_signature() -> None:
    """The "-- " that ends an inline patch, with quotes below it, is passed over."""
    text = (
        "Try this:\n\n--- a/main.c\n+++ b/main.c\n-old\n+new\n-- \n2.45.0\n\n"
        "> Does it build?\n\n-- \nAna Lima"
    )
    visible, quoted, signature = split_reply(text)
    assert visible.endswith("-- \n2.45.0")
    assert (quoted, signature) == ("> Does it build?", "Ana Lima")


def test_corporate_disclaimer_is_part_of_the_signature() -> None:
    """A closing confidentiality paragraph goes to the signature, with the closing above it."""
    disclaimer = (
        "This e-mail and any attachments are confidential and intended solely for the "
        "addressee. If you are not the intended recipient, please delete it."
    )
    text = f"{REPLY}\n\nBest regards,\nAna Lima\n\n{disclaimer}"
    assert split_reply(text) == (REPLY, "", f"Best regards,\nAna Lima\n\n{disclaimer}")


def test_disclaimer_in_another_language_and_under_history() -> None:
    """An Italian disclaimer after the author's text is the signature."""
    disclaimer = (
        "Le informazioni contenute in questo messaggio sono riservate e destinate "
        "esclusivamente al destinatario."
    )
    text = f"{REPLY}\n\n{disclaimer}"
    assert split_reply(text) == (REPLY, "", disclaimer)


def test_confidential_in_the_body_is_not_a_disclaimer() -> None:
    """A paragraph that mentions confidentiality but is followed by more text stays."""
    text = (
        "The budget is confidential until Friday, so do not forward it.\n\n"
        "Please send your numbers to the intended owner of each line by Thursday.\n\n"
        "Then we meet."
    )
    assert split_reply(text)[0] == text


def test_one_line_closing_is_a_signature() -> None:
    """ "Cheers, Ana" on the last line is a signature; "Thanks, that works." is not."""
    assert split_reply(f"{REPLY}\n\nCheers, Ana") == (REPLY, "", "Cheers, Ana")
    assert split_reply(f"{REPLY}\n\nThanks, that works.")[2] == ""


# --- forwards ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "marker",
    [
        "---------- Forwarded message ---------",
        "-------- Weitergeleitete Nachricht --------",
        "-------- Message transféré --------",
        "Begin forwarded message:",
        "Anfang der weitergeleiteten Nachricht:",
        "Début du message réexpédié :",
    ],
)
def test_forwarded_content_is_kept(marker: str) -> None:
    """What was forwarded stays visible, header block and quotes included."""
    forwarded = (
        f"{marker}\nFrom: Ben Ortiz <ben@example.com>\nDate: Mon, Mar 2, 2026\n"
        "Subject: Review\nTo: Carla Diaz <carla@example.com>\n\nThe review is on Thursday.\n\n"
        "On Sun, Carla Diaz <carla@example.com> wrote:\n> When is it?"
    )
    text = f"FYI, see below.\n\n{forwarded}"
    assert split_reply(text) == (text, "", "")


def test_quoted_forward_is_history() -> None:
    """A forward inside a quote block is part of the quoted history."""
    text = (
        "Thanks!\n\nOn Mon, Ben Ortiz <ben@example.com> wrote:\n"
        "> ---------- Forwarded message ---------\n> From: Carla Diaz\n>\n> The plan."
    )
    assert split_reply(text)[0] == "Thanks!"


def test_forward_below_history_belongs_to_the_history() -> None:
    """A forward inside Outlook's quoted history is history, not this message's content."""
    text = (
        "Noted.\n\n-----Original Message-----\nFrom: Ben Ortiz\nSent: Monday\nTo: Ana Lima\n"
        "Subject: FW: Plan\n\nFYI\n\n---------- Forwarded message ---------\nFrom: Carla Diaz"
    )
    visible, quoted, _ = split_reply(text)
    assert visible == "Noted."
    assert quoted.startswith("-----Original Message-----")


def test_attribution_joined_to_the_reply_line() -> None:
    """A client that flattened HTML put the attribution on the reply's own line."""
    text = "Agreed. On Mon, Mar 2, 2026 at 9:00 AM, ben@example.com wrote:\n> Ship it?"
    assert split_reply(text) == (
        "Agreed.",
        "On Mon, Mar 2, 2026 at 9:00 AM, ben@example.com wrote:\n> Ship it?",
        "",
    )


def test_czech_attribution_with_both_genders() -> None:
    """ "napsal(a)" is a verb like "wrote"."""
    text = "Díky.\n\nDne 2.3.2026 v 9:00 Ben Ortiz napsal(a):\n> Hotovo?"
    assert split_reply(text) == ("Díky.", "Dne 2.3.2026 v 9:00 Ben Ortiz napsal(a):\n> Hotovo?", "")


def test_outlook_original_under_inline_answers() -> None:
    """Outlook appends the whole original under inline answers: that part is history."""
    text = (
        "Hi Ben,\n\n> Can you check the totals?\n\nDone, they match.\n\n"
        "________________________________\nFrom: Ben Ortiz <ben@example.com>\n"
        "Sent: Monday, March 2, 2026 9:00 AM\nTo: Ana Lima <ana@example.com>\nSubject: Totals\n\n"
        "Can you check the totals?\nAnd the dates?"
    )
    visible, quoted, _ = split_reply(text)
    assert visible == "Hi Ben,\n\n> Can you check the totals?\n\nDone, they match."
    assert quoted.startswith("________________________________\nFrom: Ben Ortiz")


def test_inline_patch_below_a_quote_is_not_history() -> None:
    """A git patch pasted under an answer starts with From/Date/Subject: it stays visible."""
    text = (
        "On Mon, Ben Ortiz wrote:\n> It crashes on start.\n\nDoes this help?\n\n"
        "From: Ana Lima <ana@example.com>\nDate: Mon, 2 Mar 2026 10:00:00 +0100\n"
        "Subject: [PATCH] fix the start\n\n---\n main.c | 2 +-\n\n> Thanks"
    )
    visible, quoted, _ = split_reply(text)
    assert "Subject: [PATCH] fix the start" in visible
    assert quoted == "> Thanks"


def test_bottom_post_under_an_outlook_header_block() -> None:
    """An Outlook header block and one quote block above the answer are history."""
    text = (
        "-----Original Message-----\nFrom: Ben Ortiz <ben@example.com>\nSent: Monday\n"
        "To: Ana Lima\nSubject: Totals\n\n> Can you check the totals?\n\nThey match."
    )
    visible, quoted, _ = split_reply(text)
    assert visible == "They match."
    assert quoted.startswith("-----Original Message-----")


def test_line_wrapped_at_a_greater_than_sign_is_not_a_quote() -> None:
    """Code wrapped by a client at ">" is the author's text: the history below still counts."""
    text = (
        "Try this:\n\n    if (a->\n>b)\n        return;\n\n"
        "-----Original Message-----\nFrom: Ben Ortiz\nSent: Monday\nTo: Ana Lima\n"
        "Subject: Bug\n\nIt fails."
    )
    visible, quoted, _ = split_reply(text)
    assert visible == "Try this:\n\n    if (a->\n>b)\n        return;"
    assert quoted.startswith("-----Original Message-----")
