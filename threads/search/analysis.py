"""What the search index holds of a message: its words, as both backends must see them.

One tokenizer decides what a word is, for the index and for queries alike:
letters and digits, with underscore and punctuation separating words and Latin
diacritics folded, as FTS5's `unicode61 remove_diacritics 2` tokenizer does.
PostgreSQL's tsvector is fed those same words (`pg_words`) rather than its own
parser's tokens, plus the adjacent word pairs its phrase search looks up
(`word_pairs`), so both backends match the same messages. What is indexed is
a message's subject, visible text and sender's name, with addresses scrubbed
(`index_entry`). Pure functions: nothing here touches the database.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import pairwise

from threads.privacy import index_text

# Letters and digits; underscore and punctuation separate words, as in FTS5's unicode61.
WORD = re.compile(r"[^\W_]+")
_LATIN = {
    c: unicodedata.normalize("NFD", chr(c))[0]
    for c in [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]
    if len(unicodedata.normalize("NFD", chr(c))) > 1
}
# PostgreSQL keeps lexemes up to 2 KB; a pair of longer words is not worth indexing.
_MAX_PAIR = 200


def fold(word: str) -> str:
    """Lower case with Latin diacritics removed, as FTS5's `remove_diacritics 2` does."""
    return word.translate(_LATIN).lower()


def words_of(value: str) -> tuple[str, ...]:
    return tuple(fold(w) for w in WORD.findall(value))


@dataclass(frozen=True, slots=True)
class IndexEntry:
    message_pk: int
    subject: str
    body: str
    sender: str


def index_entry(message_pk: int, subject: str, body: str, from_name: str) -> IndexEntry:
    """What the index holds of a message: its texts and sender's name, without addresses.

    Which addresses a reader may see depends on the reader; the index is one
    for all, so a word search for an outsider's mailbox name must find nothing
    (threads/privacy.py, `index_text`). from:/to:/cc: search the stored
    addresses, limited to those the reader sees.
    """
    return IndexEntry(message_pk, index_text(subject), index_text(body), index_text(from_name))


def word_pairs(*values: str) -> list[str]:
    """Adjacent word pairs ("budget review") of each text, for phrase search on PostgreSQL.

    GIN cannot check word positions, so a phrase query used to re-read the
    stored vector of every message holding both words, which grows with the
    archive. Indexed as lexemes of their own, a two-word phrase is one exact
    index lookup, like any word. Pairs never span two fields.
    """
    pairs: set[str] = set()
    for value in values:
        words = words_of(value)
        pairs.update(f"{a} {b}" for a, b in pairwise(words) if len(a) + len(b) < _MAX_PAIR)
    return sorted(pairs)


def pg_words(value: str) -> str:
    """The text as FTS5 would tokenize it, for PostgreSQL's parser: words and spaces only.

    PostgreSQL's default parser keeps e-mail addresses, URLs, file paths and
    version numbers as single tokens and does not fold diacritics; handing it
    plain folded words makes both backends match the same messages.
    """
    return " ".join(words_of(value))
