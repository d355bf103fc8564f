"""Relevance on SQLite: where each query word was found in a match, weighed by its rarity.

FTS5's bm25 weighs a word by the number of messages holding it, and counts them
at every query by reading the word's whole list of messages (for a phrase, the
positions in every one of them): at a million messages that cost up to 60 ms a
query, more where those lists are not in memory, whatever the number of matches
ranked. Here everything is read for the ranked window's rows only. A match's
relevance is bm25's sum over the query's words, with a word's count in the
message replaced by the weight of the best place it was found: the subject as
written (4) over the sender or the subject by a stem (2) over the text as
written (1) over the text by a stem only (0.5), bm25's column weights before. A
word's rarity is bm25's, from its share of the newest DENSITY_SAMPLE messages;
a message's length is FTS5's own count of its words.

The short columns (subject, sender, the subject's stems) are read from FTS5's
stored copy of each window row and matched here, word for word as FTS5 does.
Whether a word is in the text as written or only by a stem is one FTS5 query
a word, restricted to the window's range of rowids and to the query's matches,
and asked only where it can change the order.

How often a word occurs in a message is not counted: within one place, the
shorter message ranks first, then the newer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from threads.search.compiler import Compiler, Forms, forms_of, quoted
from threads.search.language import SearchQuery, Term

SUBJECT, SENDER_OR_SUBJECT_STEM, TEXT, TEXT_STEM = 4.0, 2.0, 1.0, 0.5
# bm25's constants, as FTS5 sets them.
K1, B = 1.2, 0.75
# A word's weight comes from its share of this many of the newest messages.
DENSITY_SAMPLE = 2000
# Words beyond these add no credit for where they were found (each costs up to two
# FTS5 queries over the window).
MOST_TERMS = 8

# FTS5's own tables: its copy of each row's columns (c0 subject, c2 sender, c3 the
# subject's stems) and each row's column sizes.
_STORED = (
    "SELECT c.id, c.c0, c.c2, c.c3, d.sz FROM message_fts_content AS c "
    "JOIN message_fts_docsize AS d ON d.id = c.id "
    "WHERE c.id IN (SELECT value FROM json_each(:ids))"
)


def relevance(
    conn: Connection, compiler: Compiler, query: SearchQuery, expr: str, pks: Sequence[int]
) -> dict[int, float]:
    """Relevance (higher is better) of each of `pks`, the matches of `expr` for `query`."""
    if not pks:
        return {}
    terms = list(dict.fromkeys(query.text_terms))[:MOST_TERMS]
    required = {n for n in query.root.nodes if isinstance(n, Term)}
    stored = {
        pk: (subject.split(), sender.split(), set(stems.split()), _varint_sum(sizes))
        for pk, subject, sender, stems, sizes in _rows(
            conn, _STORED, {"ids": json.dumps(list(pks))}
        )
    }
    forms = [forms_of(t) for t in terms]
    alone = len(query.root.nodes) == 1
    in_text = _in_text(conn, terms, forms, required, expr, pks, alone=alone)
    rarity = _rarity(conn, compiler, terms) if len(terms) > 1 else [1.0]
    matchers = [_Matcher.of(f) for f in forms]
    mean = (sum(s[3] for s in stored.values()) / len(stored) if stored else 0.0) or 1.0
    scores: dict[int, float] = {}
    for pk in pks:
        subject, sender, subject_stems, size = stored.get(pk, ([], [], set(), 0))
        # bm25's saturation of a word's weight, stronger in a message longer than the mean.
        norm = K1 * (1.0 - B + B * (size or mean) / mean)
        score = 0.0
        for i, term in enumerate(terms):
            m = matchers[i]
            if m.holds(subject):
                w = SUBJECT
            elif not m.marked.isdisjoint(subject_stems) or (
                term.field != "subject" and m.holds(sender)
            ):
                w = SENDER_OR_SUBJECT_STEM
            else:
                w = in_text[i].get(pk, 0.0)
            score += rarity[i] * w * (K1 + 1.0) / (w + norm)
        scores[pk] = score
    return scores


def _in_text(
    conn: Connection,
    terms: Sequence[Term],
    forms: Sequence[Forms],
    required: set[Term],
    expr: str,
    pks: Sequence[int],
    *,
    alone: bool,
) -> list[dict[int, float]]:
    """Per term, the weight of its best place in the text, for the messages where it
    is there (a subject: term, only in the subject, is never)."""
    out: list[dict[int, float]] = []
    lookups: list[tuple[int, float, str]] = []
    for i, term in enumerate(terms):
        out.append({})
        if term.field == "subject":
            continue
        exact, marked = quoted(forms[i])
        if term.prefix or (term in required and not marked):
            # Every match holds a required term: not in the subject or the sender, it is
            # in the text, and with no stems there as written. A word start counts so
            # even where not required: looking it up would merge the lists of every word
            # so beginning, over the whole archive.
            out[i] = dict.fromkeys(pks, TEXT)
            continue
        lookups.append((i, TEXT, "{body} : (" + " OR ".join(exact) + ")"))
        if term in required:
            out[i] = dict.fromkeys(pks, TEXT_STEM)  # not as written, then by a stem
        elif marked:
            lookups.append((i, TEXT_STEM, "{body_stems} : (" + " OR ".join(marked) + ")"))
    if not lookups:
        return out
    # Among the query's matches (a common word beside a rare one is in many more rows of
    # the window's range), unless the query is that one term.
    within = "" if alone else f" AND {expr}"
    params: dict[str, object] = {"lo": min(pks), "hi": max(pks)}
    selects = []
    for n, (_, _, lookup) in enumerate(lookups):
        params[f"q{n}"] = lookup + within
        selects.append(
            f"SELECT {n}, rowid FROM message_fts "
            f"WHERE message_fts MATCH :q{n} AND rowid BETWEEN :lo AND :hi"
        )
    for n, pk in _rows(conn, " UNION ALL ".join(selects), params):
        i, weight, _ = lookups[n]
        out[i][pk] = max(out[i].get(pk, 0.0), weight)
    return out


@dataclass(frozen=True, slots=True)
class _Matcher:
    """A term's forms, ready to be looked for in a column's words as FTS5 split them."""

    words: frozenset[str]
    phrases: tuple[tuple[str, ...], ...]
    prefix: tuple[str, ...]
    marked: frozenset[str]

    @classmethod
    def of(cls, forms: Forms) -> _Matcher:
        words = frozenset(seq[0] for seq in forms.exact if len(seq) == 1)
        phrases = tuple(seq for seq in forms.exact if len(seq) > 1)
        return cls(words, phrases, forms.prefix, frozenset(forms.marked))

    def holds(self, tokens: list[str]) -> bool:
        if not self.words.isdisjoint(tokens):
            return True
        if any(_at(tokens, seq, prefix=False) for seq in self.phrases):
            return True
        return bool(self.prefix) and _at(tokens, self.prefix, prefix=True)


def _at(tokens: list[str], seq: tuple[str, ...], *, prefix: bool) -> bool:
    """Whether `seq` occurs in `tokens` word after word (the last word as a word start)."""
    n = len(seq)
    for at in range(len(tokens) - n + 1):
        if tokens[at : at + n - 1] == list(seq[:-1]) and (
            tokens[at + n - 1].startswith(seq[-1]) if prefix else tokens[at + n - 1] == seq[-1]
        ):
            return True
    return False


def _rows(conn: Connection, sql: str, params: dict[str, object]) -> list[Any]:
    """Rows of a statement of SQLite's own, straight from the driver: thousands of
    rows through SQLAlchemy's result objects cost more than the statement."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        rows: list[Any] = cursor.execute(sql, params).fetchall()
        return rows
    finally:
        cursor.close()


def _varint_sum(blob: bytes) -> int:
    """The sum of SQLite variable-length integers, one after the other: seven bits a
    byte, the high bit set on all but the last (the nine-byte form, for counts of
    2**56 and more, cannot occur in a word count)."""
    total = value = 0
    for byte in blob:
        if byte & 0x80:
            value = (value << 7) | (byte & 0x7F)
        else:
            total += (value << 7) | byte
            value = 0
    return total


def _rarity(conn: Connection, compiler: Compiler, terms: Sequence[Term]) -> list[float]:
    """bm25's weight of each term, from the share of the newest messages that hold it."""
    top = conn.execute(text("SELECT rowid FROM message_fts ORDER BY rowid DESC LIMIT 1")).scalar()
    floor = (top or 0) - DENSITY_SAMPLE
    params: dict[str, object] = {"floor": floor}
    selects = ["SELECT -1, count(*) FROM message_fts WHERE rowid > :floor"]
    for i, term in enumerate(terms):
        params[f"t{i}"] = compiler.engine_expr(term)
        selects.append(
            f"SELECT {i}, count(*) FROM message_fts "
            f"WHERE message_fts MATCH :t{i} AND rowid > :floor"
        )
    found = conn.execute(text(" UNION ALL ".join(selects)), params)
    counts: dict[int, int] = dict(found.tuples().all())
    sample = counts[-1]
    # bm25's inverse document frequency, kept above zero as FTS5 keeps it.
    return [
        max(math.log((sample - counts[i] + 0.5) / (counts[i] + 0.5)), 1e-6)
        for i in range(len(terms))
    ]
