"""What the search index holds of a message: its words, as both backends must see them.

One analysis, in Python, decides what a word is for the index and for queries
alike, and both backends are fed its output rather than their own tokenizers'
(so SQLite and PostgreSQL find the same messages):

- folding (`fold`): NFKC (full-width letters and digits become the ordinary
  ones, ligatures split), case folding, and Latin diacritics removed, so
  `Muller` finds `Müller` and `ｕｓｂ` finds `usb`;
- words (`words_of`): runs of letters and digits; Chinese, Japanese, Korean
  and Thai, written without spaces between words, become overlapping pairs of
  characters (as Lucene's CJK analyser does), so any word inside a sentence is
  found as the phrase of its pairs;
- stems (`stems_of`): each message's language is guessed from its most common
  short words (`guess_language`) and its words reduced by that language's
  Snowball stemmer; only stems that differ from the word are kept, beside the
  exact words, so exact forms still rank first;
- the adjacent word pairs PostgreSQL's phrase search looks up (`word_pairs`).

What is indexed is a message's subject, visible text and sender's name, with
addresses scrubbed (`index_entry`). Pure functions: nothing here touches the
database. Other packages (the expertise finder) use `fold`, `words_of`,
`guess_language`, `stem_words` and `query_stems` to see text as search does.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cache
from itertools import pairwise

import Stemmer

from threads.privacy import index_text

# Scripts written without spaces between words: Han, kana, Hangul, Thai (with its marks).
_CJK = (
    "\u0e00-\u0e7f\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff"
)
CJK_RUN = re.compile(f"[{_CJK}]+")
_CJK_FROM = "\u0e00"
# A word: letters and digits; underscore and punctuation separate words. CJK runs
# are words of their own, cut into pairs by `words_of`.
WORD = re.compile(f"[{_CJK}]+|[^\\W_{_CJK}]+")
_LATIN = {
    c: unicodedata.normalize("NFD", chr(c))[0]
    for c in [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]
    if len(unicodedata.normalize("NFD", chr(c))) > 1
}
# Marks left over after NFKC (no precomposed letter for them, or from case folding
# such as İ → i + dot above) would split a word; Cyrillic й stays composed.
_COMBINING = re.compile("[\u0300-\u036f]")
# PostgreSQL keeps lexemes up to 2 KB; a pair of longer words is not worth indexing.
_MAX_PAIR = 200
# Stems in PostgreSQL's single vector carry a mark, so `migrat*` and exact words
# never match a stem (FTS5 keeps them in columns of their own). Subject stems have
# a mark of their own: stems are stored without positions, and PostgreSQL keeps a
# lexeme's weight with its positions, so a weight could not tell them apart.
STEM_MARK = "~"
SUBJECT_STEM_MARK = "^"


def _common(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Snowball's names for the languages the bridge already knows (mail/trim_words.py),
# each with a few of its most frequent short words, folded as `fold` folds them.
STOPWORDS: dict[str, frozenset[str]] = {
    "english": _common("the and of to is in that it for with this on are be not you"),
    "german": _common("und der die das ist nicht ich mit sich auf ein eine dem den zu"),
    "french": _common("le la les et est une des pour que dans pas qui sur avec du je"),
    "spanish": _common("el los las que es por para una con del se como pero muy esta"),
    "italian": _common("il di che per una sono non della con gli del questo anche ho"),
    "portuguese": _common("de que nao uma para com os da do em mas por voce isso esta"),
    "dutch": _common("het een en van is dat niet op te zijn met voor ik we"),
    "swedish": _common("och att det som ar en pa med inte jag av till har vi"),
    "norwegian": _common("og er det som pa en med ikke jeg av til har vi ikkje"),
    "danish": _common("og er det at som pa en med ikke jeg af til har vi"),
    "finnish": _common("ja on ei se etta oli kun mutta tai ovat olla myos"),
    "russian": frozenset(),  # told by its script
}
LANGUAGES = tuple(STOPWORDS)
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {
    w: tuple(lang for lang, common in STOPWORDS.items() if w in common)
    for w in set().union(*STOPWORDS.values())
}
DEFAULT_LANGUAGE = "english"
_CYRILLIC = re.compile("[\u0400-\u04ff]")


def fold(text: str) -> str:
    """NFKC, case-folded, Latin diacritics removed: the form every word is compared in."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if folded.isascii():  # most mail: nothing to fold further
        return folded
    return _COMBINING.sub("", folded.translate(_LATIN))


def words_of(value: str) -> tuple[str, ...]:
    """The words of a text as the index holds them, in order; CJK runs as character pairs."""
    out: list[str] = []
    for run in WORD.findall(fold(value)):
        # A run is all CJK or has none (WORD's alternatives), and CJK starts at U+0E00.
        if run[0] >= _CJK_FROM and CJK_RUN.match(run):
            # Code points no script has yet (unassigned) are no part of a word.
            run = run if run.isprintable() else "".join(c for c in run if c.isprintable())
            out.extend(cjk_pairs(run) if run else ())
        else:
            out.append(run)
    return tuple(out)


def cjk_pairs(run: str) -> list[str]:
    """Overlapping character pairs of a run of CJK (or Thai) text; a lone character as is."""
    if len(run) < 2:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def is_cjk(word: str) -> bool:
    return CJK_RUN.fullmatch(word) is not None


def joined_words(words: tuple[str, ...]) -> list[str]:
    """Words with CJK character pairs joined back into their runs ("数据", "据库" → "数据库").

    Pairs overlap by a character, so consecutive pairs chain; anything else
    starts a new run. For showing a query, and for finding its CJK words in text.
    """
    out: list[str] = []
    chaining = False
    for w in words:
        if chaining and is_cjk(w) and len(w) == 2 and out[-1][-1] == w[0]:
            out[-1] += w[1]
        else:
            out.append(w)
        chaining = is_cjk(w)
    return out


def guess_language(words: tuple[str, ...] | list[str]) -> str:
    """The Snowball language whose frequent short words are most common among `words`.

    Cheap by design: a count over the first few hundred words. Text in Cyrillic
    is taken for Russian; text with none of the listed words for English.
    """
    sample = words[:400]
    if any(_CYRILLIC.match(w) for w in sample[:50]):
        return "russian"
    counts = Counter(lang for w in sample for lang in _LANGUAGES_OF.get(w, ()))
    if not counts:
        return DEFAULT_LANGUAGE
    best, n = counts.most_common(1)[0]
    return best if n >= 2 else DEFAULT_LANGUAGE


@cache
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language, 20_000)


def stem_words(words: tuple[str, ...] | list[str], language: str) -> list[str]:
    """Each word's Snowball stem in `language`."""
    # Snowball leaves what it has no rules for as it is (CJK pairs, numbers, short
    # words), so every word goes through the stemmer in one call.
    return list(_stemmer(language).stemWords(list(words)))


def stems_of(words: tuple[str, ...], language: str) -> list[str]:
    """The stems of `words` that differ from the word itself, in order.

    A word that is its own stem is already in the exact column, so a query
    looks a stem up among the exact words too (`query_stems`); this keeps the
    stem column to the inflected words only.
    """
    return [s for w, s in zip(words, stem_words(words, language), strict=True) if s != w]


def query_stems(word: str) -> tuple[str, ...]:
    """The stems a query word may have been indexed under: its stem in every language,
    and the word itself (it may be the stem of other words: reunion of reunions).

    A query is too short to tell its language, so the word is stemmed in each
    and all distinct stems are looked up (usually one to three).
    """
    if is_cjk(word):
        return ()
    return tuple(sorted({_stemmer(lang).stemWord(word) for lang in LANGUAGES} | {word}))


@dataclass(frozen=True, slots=True)
class IndexEntry:
    message_pk: int
    subject: str
    body: str
    sender: str
    # Worked out already (in a parse process, bridge/pipeline/derived.py), else at writing.
    analysed: Analysed | None = None


@dataclass(frozen=True, slots=True)
class Analysed:
    """A message's index rows: exact folded words per field, and the stems that differ."""

    subject: tuple[str, ...]
    body: tuple[str, ...]
    sender: tuple[str, ...]
    subject_stems: tuple[str, ...]
    body_stems: tuple[str, ...]
    language: str


def index_entry(message_pk: int, subject: str, body: str, from_name: str) -> IndexEntry:
    """What the index holds of a message: its texts and sender's name, without addresses.

    Which addresses a reader may see depends on the reader; the index is one
    for all, so a word search for an outsider's mailbox name must find nothing
    (threads/privacy.py, `index_text`). from:/to:/cc: search the stored
    addresses, limited to those the reader sees.
    """
    return IndexEntry(message_pk, index_text(subject), index_text(body), index_text(from_name))


def analyse(entry: IndexEntry) -> Analysed:
    """The words, stems and language of an entry; the language is guessed from the body
    (the subject when the body has too few words)."""
    subject, body = words_of(entry.subject), words_of(entry.body)
    language = guess_language(body if len(body) >= 8 else subject + body)
    return Analysed(
        subject,
        body,
        words_of(entry.sender),
        tuple(stems_of(subject, language)),
        tuple(stems_of(body, language)),
        language,
    )


def word_pairs(*values: str | tuple[str, ...]) -> list[str]:
    """Adjacent word pairs ("budget review") of each text, for phrase search on PostgreSQL.

    GIN cannot check word positions, so a phrase query used to re-read the
    stored vector of every message holding both words, which grows with the
    archive. Indexed as lexemes of their own, a two-word phrase is one exact
    index lookup, like any word. Pairs never span two fields. Each value is
    a text, or its words already (`words_of`).
    """
    pairs: set[str] = set()
    for value in values:
        words = words_of(value) if isinstance(value, str) else value
        pairs.update(f"{a} {b}" for a, b in pairwise(words) if len(a) + len(b) < _MAX_PAIR)
    return sorted(pairs)
