"""mail.blocks: prose, inline quotes, diffs and code told apart, nothing lost."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mail.blocks import Block, diff_line_kind, text_blocks
from mail.parse import parse_message
from tests.support.messages import corpus_messages

PATCH_MAIL = (
    "Hi,\n\nOn Mon, 2 Mar 2026, Ana Lima wrote:\n"
    "> Does this fix the leak on resume?\n"
    "> > It leaks one URB per cycle.\n\n"
    "Yes, see below.\n\n"
    "Signed-off-by: Ben Ortiz <ben@example.com>\n"
    "---\n"
    " drivers/usb/core/hub.c | 4 ++--\n"
    " 1 file changed, 2 insertions(+), 2 deletions(-)\n\n"
    "diff --git a/drivers/usb/core/hub.c b/drivers/usb/core/hub.c\n"
    "index 1234abc..5678def 100644\n"
    "--- a/drivers/usb/core/hub.c\n"
    "+++ b/drivers/usb/core/hub.c\n"
    "@@ -10,7 +10,7 @@ static int hub_resume(struct usb_interface *intf)\n"
    " \tint status;\n"
    "-\tusb_free_urb(urb);\n"
    "+\tusb_kill_urb(urb);\n"
    " \treturn status;\n\n"
    "-- \n"
    "2.34.1\n"
)


def kinds(text: str) -> list[str]:
    return [b.kind for b in text_blocks(text) if b.kind != "text" or b.text.strip()]


def test_a_patch_mail_reads_as_prose_quote_diffstat_and_diff() -> None:
    blocks = [b for b in text_blocks(PATCH_MAIL) if b.kind != "text" or b.text.strip()]
    assert [b.kind for b in blocks] == ["text", "quote", "text", "code", "diff", "text"]
    quote = blocks[1]
    assert (quote.depth, quote.lines) == (1, 2)
    diff = blocks[4]
    assert diff.text.startswith("diff --git")
    assert diff.text.endswith("\treturn status;")
    # The signature delimiter under the patch is not a removed line.
    assert "-- " not in diff.text.split("\n")
    assert [diff_line_kind(x) for x in diff.text.split("\n")[3:8]] == [
        "meta",
        "hunk",
        "ctx",
        "del",
        "add",
    ]


def test_a_rule_line_is_not_a_diff() -> None:
    text = "Agenda\n--- morning ---\nCoffee at nine\n+ bring notes\n"
    assert kinds(text) == ["text"]


def test_tracebacks_and_kernel_logs_are_code() -> None:
    python = (
        "It fails with:\n\nTraceback (most recent call last):\n"
        '  File "run.py", line 3, in <module>\n    main()\n'
        "ValueError: bad config\n\nAny idea?"
    )
    assert kinds(python) == ["text", "code", "text"]
    kernel = (
        "dmesg says:\n[   12.345678] usb 1-1: new high-speed USB device number 2\n"
        "[   12.456789] usb 1-1: device descriptor read/64, error -71\nThoughts?"
    )
    assert kinds(kernel) == ["text", "code", "text"]
    java = (
        "Exception in thread main\n\tat com.example.Main.run(Main.java:10)\n"
        "\tat com.example.Main.main(Main.java:3)\n"
    )
    assert kinds(java) == ["code"]


def test_indented_code_needs_a_blank_line_above_and_two_lines() -> None:
    assert kinds("Try:\n\n    for x in y:\n        print(x)\n\nthen run it.") == [
        "text",
        "code",
        "text",
    ]
    # One indented line, or indentation continuing a sentence, stays prose.
    assert kinds("Try:\n\n    make clean\n\nthen build.") == ["text"]
    assert kinds("The list:\n    first item\n    second item\n") == ["text"]


def test_quote_depth_counts_the_markers() -> None:
    blocks = text_blocks("> > > deep\n> > > still\nanswer")
    assert blocks[0] == Block("quote", "> > > deep\n> > > still", 3)


@given(st.text(alphabet=st.sampled_from(list("ab >+-@ \t\n:|0123456789.[]"))))
def test_blocks_give_the_text_back(text: str) -> None:
    assert "\n".join(b.text for b in text_blocks(text)) == text


@pytest.mark.corpus
def test_patches_on_a_real_list_are_found_whole() -> None:
    """linux-usb: every message whose visible text holds a git diff gets one diff block
    starting at its "diff --git" line, and every block decomposition gives the text back."""
    patches = 0
    for raw in corpus_messages("linux-usb-vger-106k", limit=3000):
        text = parse_message(raw).visible_text
        blocks = text_blocks(text)
        assert "\n".join(b.text for b in blocks) == text
        if "\ndiff --git " not in text:
            continue
        patches += 1
        diffs = [b for b in blocks if b.kind == "diff"]
        starts = text.count("\ndiff --git ")
        found = sum(b.text.count("diff --git ") for b in diffs)
        assert found == starts, text[:300]
        for index, block in enumerate(blocks):
            if block.kind != "diff" or index + 1 == len(blocks):
                continue
            # The diff did not stop early: what follows does not go on with a hunk.
            after = [x for x in blocks[index + 1].text.split("\n") if x.strip()]
            if after:
                assert after[0] == "-- " or not after[0].startswith(("+", "-", "@@")), after[0]
    assert patches > 100  # the corpus is a patch list
