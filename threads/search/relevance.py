"""Relevance on SQLite: where each query word was found in a match, weighed by its rarity.

FTS5's bm25 weighs a word by the number of messages holding it, and counts them
at every query by reading the word's whole list of messages (for a phrase, the
positions in every one of them): at a million messages that cost 10-60 ms a
query, whatever the number of matches ranked. Here everything is read for the
ranked window's rows only. A match's relevance is bm25's sum over the query's
words, with a word's count in the message replaced by the weight of the best
place it was found: the subject as written (4) over the sender or the subject
by a stem (2) over the text as written (1) over the text by a stem only (0.5),
bm25's column weights before. A word's rarity is bm25's, from its share of the
newest DENSITY_SAMPLE messages; a message's length is FTS5's own count of its
words. Where a word was found is one FTS5 query per word and place, restricted
to the window's range of rowids and to the query's matches, so each reads
about the window's rows.

How often a word occurs in a message is not counted: within one place, the
shorter message ranks first, then the newer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from threads.search.compiler import Compiler
from threads.search.language import SearchQuery, Term

FIELD_WEIGHTS = {
    "subject": 4.0,
    "sender": 2.0,
    "subject_stems": 2.0,
    "body": 1.0,
    "body_stems": 0.5,
}
# bm25's constants, as FTS5 sets them.
K1, B = 1.2, 0.75
# A word's weight comes from its share of this many of the newest messages.
DENSITY_SAMPLE = 2000
# Words beyond these add no field credit: each costs up to five SELECTs over the window
# (and SQLite allows 500 in one compound statement).
MOST_TERMS = 8


def relevance(
    conn: Connection, compiler: Compiler, query: SearchQuery, expr: str, pks: Sequence[int]
) -> dict[int, float]:
    """Relevance (higher is better) of each of `pks`, the matches of `expr` for `query`."""
    if not pks:
        return {}
    terms = list(dict.fromkeys(query.text_terms))[:MOST_TERMS]
    required = {n for n in query.root.nodes if isinstance(n, Term)}
    parts: list[tuple[int, str, str]] = []
    unseen: list[float] = []
    for i, term in enumerate(terms):
        fields, weight = _looked_up(compiler, term, term in required)
        parts += [(i, field, lookup) for field, lookup in fields]
        unseen.append(weight)
    # Looked up among the query's matches (a common word beside a rare one is in many
    # more rows of the window's range), unless the query is that one term.
    within = "" if len(query.root.nodes) == 1 else f" AND {expr}"
    params: dict[str, object] = {"lo": min(pks), "hi": max(pks)}
    selects = []
    for n, (_, _, lookup) in enumerate(parts):
        params[f"q{n}"] = f"{lookup}{within}"
        selects.append(
            f"SELECT {n}, rowid FROM message_fts "
            f"WHERE message_fts MATCH :q{n} AND rowid BETWEEN :lo AND :hi"
        )
    # Per term: the weight of the best place it was found in, per message.
    found: list[dict[int, float]] = [{} for _ in terms]
    for part, pk in _rows(conn, " UNION ALL ".join(selects), params) if selects else []:
        i, field, _ = parts[part]
        found[i][pk] = max(found[i].get(pk, 0.0), FIELD_WEIGHTS[field])
    rarity = _rarity(conn, compiler, terms) if len(terms) > 1 else [1.0]
    sizes = _sizes(conn, pks)
    mean = (sum(sizes.values()) / len(sizes) if sizes else 0.0) or 1.0
    scores: dict[int, float] = {}
    for pk in pks:
        # bm25's saturation of a word's weight, stronger in a message longer than the mean.
        norm = K1 * (1.0 - B + B * sizes.get(pk, mean) / mean)
        score = 0.0
        for i, rare in enumerate(rarity):
            w = found[i].get(pk, unseen[i])
            score += rare * w * (K1 + 1.0) / (w + norm)
        scores[pk] = score
    return scores


def _looked_up(
    compiler: Compiler, term: Term, required: bool
) -> tuple[list[tuple[str, str]], float]:
    """The fields to look `term` up in, and the weight of a match where it was not found."""
    fields = compiler.fields(term)
    if term.prefix:
        # A word start is looked up by merging the lists of every word so beginning,
        # over the whole archive whatever the rowids asked for, at each mention: only
        # its subject matches are told apart, the others count as the text's.
        return [f for f in fields if f[0] == "subject"], FIELD_WEIGHTS["body"]
    if not required:
        return fields, 0.0
    # Every match holds a required term: where it is in no other field, it is in the
    # least weighed one, which need not be looked up.
    fields.sort(key=lambda f: FIELD_WEIGHTS[f[0]])
    return fields[1:], FIELD_WEIGHTS[fields[0][0]]


def _sizes(conn: Connection, pks: Sequence[int]) -> dict[int, int]:
    """Each message's length in words, all columns, as FTS5 keeps it for bm25: its
    `_docsize` table holds one varint a column per row."""
    rows = _rows(
        conn,
        "SELECT id, sz FROM message_fts_docsize WHERE id IN (SELECT value FROM json_each(:ids))",
        {"ids": json.dumps(list(pks))},
    )
    return {pk: _varint_sum(sz) for pk, sz in rows}


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
