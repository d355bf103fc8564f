"""Learnt signatures (mail/trim/learned.py): what is learnt, what is removed, what is kept.

Fictional senders only; real mail is in the corpus test (tests/bridge/pipeline).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mail.trim.learned import (
    MAX_BLOCK_LINES,
    learn,
    learn_from,
    line_key,
    remove_learned,
    tail_of,
)

SIGNATURE = "Jane Doe\nSenior Engineer | Example Corp\n+1 555 0100"
OPENINGS = [
    "Hello all,\n\nthe build is green again.",
    "I pushed the fix to the release branch.",
    "Can someone review the migration?\nIt touches the billing tables.",
    "Thanks, merged.",
]


def _bodies(signature: str = SIGNATURE, count: int = 4) -> list[str]:
    return [f"{OPENINGS[i % len(OPENINGS)]}\n\n{signature}" for i in range(count)]


def _keys(text: str) -> tuple[str, ...]:
    # Lines end at "\n" only, as in the trimmer (str.splitlines also splits at \x1e...).
    return tuple(line_key(line) for line in text.split("\n") if line.strip())


def test_block_shared_by_three_messages_is_learnt_and_removed() -> None:
    """Three messages ending with the same three lines teach them; a new one loses them."""
    block = learn_from(_bodies(count=3))
    assert block == _keys(SIGNATURE)
    kept, removed = remove_learned("Ship it.\n\n" + SIGNATURE, block)
    assert (kept, removed) == ("Ship it.", SIGNATURE)


def test_two_messages_are_not_enough() -> None:
    """Two messages ending alike can be chance."""
    assert learn_from(_bodies(count=2)) == ()


def test_a_majority_is_needed() -> None:
    """Three of eight (or six) messages is not a majority; three of five is."""
    bodies = _bodies(count=3) + [f"Other text number {i}." for i in range(5)]
    assert learn_from(bodies) == ()
    assert learn_from(bodies[:6]) == ()
    assert learn_from(bodies[:5]) == _keys(SIGNATURE)


def test_whitespace_differences_are_the_same_line() -> None:
    """Blank runs and trailing spaces vary between clients: the lines still match."""
    loose = "Jane  Doe \nSenior Engineer |\tExample Corp\n+1 555 0100  "
    block = learn_from(_bodies(count=2) + _bodies(loose, 1))
    assert block == _keys(SIGNATURE)
    assert remove_learned("Done.\n\n" + loose, block)[1] == loose


def test_a_varying_line_ends_the_block() -> None:
    """A line that changes (a ticket number) is not part of the block, and a message
    whose block is interrupted by it keeps everything."""
    bodies = [f"Fixed.\n\nJane Doe\nTicket ACME-{i}\n+1 555 0100" for i in range(4)]
    block = learn_from(bodies)
    assert block == _keys("+1 555 0100")
    kept, removed = remove_learned("Fixed.\n\nJane Doe\nTicket ACME-9\n+1 555 0100", block)
    assert kept.endswith("Ticket ACME-9")
    assert removed == "+1 555 0100"


def test_the_whole_message_is_never_removed() -> None:
    """A message that is only the block keeps it; such messages do not teach it either."""
    block = learn_from(_bodies(count=3))
    assert remove_learned(SIGNATURE, block) == (SIGNATURE, "")
    assert learn_from(["+1", "+1", "+1", "+1"]) == ()


def test_quotes_diffs_and_code_are_kept() -> None:
    """Lines in a quote, a diff or a code block are never signature lines."""
    quoted = "\n".join("> " + line for line in SIGNATURE.splitlines())
    block = learn_from(_bodies(count=3))
    assert remove_learned("I agree with this:\n\n" + quoted, block)[1] == ""
    diff = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+Jane Doe"
    assert learn_from([f"Patch {i}:\n\n{diff}" for i in range(4)]) == ()
    code = "Run this:\n\n    make test\n    make lint"
    assert learn_from([code] * 4) == ()


def test_long_lines_are_not_signature_lines() -> None:
    """A paragraph that repeats (a long boilerplate line) stops the block."""
    long_line = "This is a very long closing paragraph. " * 6
    block = learn_from([f"Text {i}.\n\n{long_line}\n{SIGNATURE}" for i in range(3)])
    assert block == _keys(SIGNATURE)


def test_blocks_longer_than_the_cap_are_cut_to_their_last_lines() -> None:
    """A twenty-line block that repeats is learnt by its last MAX_BLOCK_LINES lines."""
    big = "\n".join(f"line {i}" for i in range(20))
    block = learn_from([f"Text {i}.\n\n{big}" for i in range(3)])
    assert len(block) == MAX_BLOCK_LINES


def test_the_newer_signature_wins_once_it_is_the_majority() -> None:
    """A sender who changed signature: the new one is learnt once it ends most messages."""
    new = "Jane Doe\nPrincipal Engineer | Example Corp"
    bodies = _bodies(count=3) + _bodies(new, 4)
    assert learn_from(bodies) == _keys(new)


def test_tails_keep_keys_not_text() -> None:
    """What learning stores holds no word of the message."""
    tail = tail_of("Secret plan inside.\n\n" + SIGNATURE)
    stored = repr(tail.to_json())
    assert "Jane" not in stored
    assert "Secret" not in stored
    assert learn([tail, tail, tail]) == _keys(SIGNATURE)


# --- properties -------------------------------------------------------------------------------

LINE = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\r\n"),
    max_size=30,
)
BODY = st.lists(st.one_of(LINE, st.sampled_from(["", "> quoted", "-- ", "    code", "+x"])))


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(BODY.map("\n".join), min_size=3, max_size=10),
    signature=st.lists(LINE, min_size=1, max_size=5).map("\n".join),
    body=BODY.map("\n".join),
    ends=st.booleans(),
)
def test_removal_takes_only_the_learnt_block_and_never_everything(
    texts: list[str], signature: str, body: str, ends: bool
) -> None:
    """Whatever the mail: removal takes a suffix whose lines are exactly the learnt block,
    what is kept plus blanks plus what is removed is the body, and text stays."""
    block = learn_from([f"{t}\n{signature}" for t in texts])
    text = f"{body}\n{signature}" if ends else body
    kept, removed = remove_learned(text, block)
    if not removed:
        assert kept == text
        return
    assert block
    assert _keys(removed) == tuple(block)
    assert text.endswith(removed)
    assert text[: len(text) - len(removed)].rstrip() == kept
    assert kept.strip()
