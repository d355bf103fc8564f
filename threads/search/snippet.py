"""Snippets and highlighting: the words of a result a reader sees, matches marked.

Matched words are wrapped in \x02 and \x03, which the web layer turns into
marks after escaping the text. A word is marked when search would have
matched it: its folded form is a query word, begins with a query prefix, or
its stem (in the message's language, as the index stemmed it) is a query
word's stem; inside CJK text, the query's CJK words are marked where they
occur. The snippet is cut from the message's visible text around the first
marked word, the same way on both backends, for the page of results only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice

from threads.search.analysis import (
    CJK_RUN,
    WORD,
    fold,
    guess_language,
    is_cjk,
    joined_words,
    query_stems,
    stem_words,
    words_of,
)
from threads.search.language import Term


@dataclass(frozen=True, slots=True)
class Matcher:
    """What a query's text terms match, word by word."""

    words: frozenset[str]
    stems: frozenset[str]
    prefixes: tuple[str, ...]
    cjk: tuple[str, ...]  # CJK runs of the query, folded, longest first

    @classmethod
    def of(cls, terms: Sequence[Term]) -> Matcher:
        words: set[str] = set()
        stems: set[str] = set()
        prefixes: list[str] = []
        cjk: set[str] = set()
        for t in terms:
            for w in t.words:
                if is_cjk(w):
                    continue
                if t.prefix:
                    prefixes.append(w)
                else:
                    words.add(w)
            if len(t.words) == 1 and not t.exact and not t.prefix:
                stems.update(query_stems(t.words[0]))
                stems.add(t.words[0])
            cjk.update(w for w in joined_words(t.words) if is_cjk(w))
        return cls(
            frozenset(words),
            frozenset(stems),
            tuple(prefixes),
            tuple(sorted(cjk, key=len, reverse=True)),
        )

    @property
    def empty(self) -> bool:
        return not (self.words or self.prefixes or self.cjk)

    def hits(self, folded: Sequence[str], language: str) -> list[bool]:
        """Which of the folded words match (CJK runs are matched by `cjk_marks`)."""
        stems = stem_words(list(folded), language) if self.stems else list(folded)
        return [
            w in self.words or s in self.stems or w.startswith(self.prefixes)
            if self.prefixes
            else w in self.words or s in self.stems
            for w, s in zip(folded, stems, strict=True)
        ]


def mark(value: str, matcher: Matcher, language: str | None = None) -> str:
    """`value` with \x02 \x03 around each word (or CJK word) the query matches."""
    if matcher.empty:
        return value
    runs = list(WORD.finditer(value))
    folded = [fold(r[0]) for r in runs]
    plain = [i for i, r in enumerate(runs) if not CJK_RUN.fullmatch(r[0])]
    lang = language or guess_language(words_of(value[:3000]))
    hits = matcher.hits([folded[i] for i in plain], lang)
    marked = {i for i, hit in zip(plain, hits, strict=True) if hit}
    out: list[str] = []
    at = 0
    for i, r in enumerate(runs):
        out.append(value[at : r.start()])
        if i in marked:
            out.append(f"\x02{r[0]}\x03")
        elif CJK_RUN.fullmatch(r[0]) and matcher.cjk:
            out.append(_mark_cjk(r[0], matcher.cjk))
        else:
            out.append(r[0])
        at = r.end()
    out.append(value[at:])
    return "".join(out)


def _mark_cjk(run: str, needles: tuple[str, ...]) -> str:
    # NFKC leaves CJK ideographs and kana of ordinary width as they are, so the
    # folded run lines up with the original character by character.
    folded = fold(run)
    if len(folded) != len(run):
        return run
    pattern = re.compile("|".join(re.escape(n) for n in needles))
    spans = [(m.start(), m.end()) for m in pattern.finditer(folded)]
    if not spans:
        return run
    out, at = [], 0
    for a, b in spans:
        out.append(run[at:a] + "\x02" + run[a:b] + "\x03")
        at = b
    return "".join(out) + run[at:]


def make_snippet(body: str, matcher: Matcher, size: int = 28) -> str:
    """About `size` words of `body` around the first match (or its start), matches marked.

    Words are read from the start only as far as the first match and the words
    after it: reading and folding every word of a long message for one snippet
    cost more than the search itself.
    """
    text = body[:20_000]
    language = guess_language(words_of(text[:1000]))
    words = WORD.finditer(text)
    tokens: list[re.Match[str]] = []
    first = None
    while first is None and len(tokens) < _LOOK_AHEAD:
        chunk = list(islice(words, _CHUNK))
        if not chunk:
            break
        first = _first_match(chunk, matcher, language)
        first = None if first is None else len(tokens) + first
        tokens += chunk
    if not tokens:
        return " ".join(body[:200].split())
    start = max(0, (first or 0) - 6)
    tokens += islice(words, max(0, start + size + 1 - len(tokens)))
    end = min(len(tokens), start + size)
    piece = text[tokens[start].start() : tokens[end - 1].end()]
    piece = " ".join(mark(piece, matcher, language).split())
    return ("… " if start else "") + piece + (" …" if end < len(tokens) else "")


def _first_match(chunk: list[re.Match[str]], matcher: Matcher, language: str) -> int | None:
    """The index of the first word of `chunk` the query matches, if any."""
    if matcher.empty:
        return 0
    words = [t[0] for t in chunk]
    plain = [i for i, w in enumerate(words) if not CJK_RUN.fullmatch(w)]
    hits = matcher.hits([fold(words[i]) for i in plain], language)
    found = [i for i, hit in zip(plain, hits, strict=True) if hit]
    if matcher.cjk:
        found += [
            i
            for i, w in enumerate(words)
            if CJK_RUN.fullmatch(w) and any(n in fold(w) for n in matcher.cjk)
        ]
    return min(found) if found else None


_CHUNK = 64
# A match further in than this many words (or only in the subject): the snippet is
# the message's start.
_LOOK_AHEAD = 1024
