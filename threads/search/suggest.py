""" "Did you mean": a near word for a query that found nothing, from what the reader may read.

A word of the query the index does not hold at all is replaced by a word one
edit away (a letter dropped, added, changed, or two swapped) that the index
does hold; the corrected query is then run again as the reader's own search,
in the communities they may read, and offered only if it finds threads
there. So a suggestion never names a word that only private communities the
reader cannot see contain. Which words the index holds is asked of it
directly, for the few hundred candidates of a word: one index probe each.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Sequence

from sqlalchemy import ARRAY, Connection, String, bindparam, text

from threads.search.analysis import is_cjk
from threads.search.language import All, Any_, Node, Not, SearchQuery, Term, describe_query

# Words shorter than this have too many neighbours one edit away to guess from.
MIN_LENGTH = 4
# Candidate corrections tried (each is one search) before giving up.
MAX_TRIES = 4

# A match that stops at its first message, not FTS5's vocabulary table, which reads
# every message of each word asked about to count them (15-25 ms for a common word
# at 1M messages). Unquoted words match the exact-word columns only: the stem
# columns hold marked stems.
_KNOWN_SQLITE = text(
    "SELECT value FROM json_each(:words) WHERE EXISTS "
    "(SELECT 1 FROM message_fts WHERE message_fts MATCH '\"' || value || '\"')"
)


_KNOWN_POSTGRES = text(
    "SELECT w FROM unnest(CAST(:words AS text[])) AS w "
    "WHERE EXISTS (SELECT 1 FROM message_fts WHERE tsv @@ CAST(w AS tsquery))"
).bindparams(bindparam("words", type_=ARRAY(String)))


def edits(word: str) -> list[str]:
    """Every word one edit from `word` (letters and digits), sorted."""
    letters = string.ascii_lowercase + string.digits + "".join(sorted(set(word)))
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in letters}
    out |= {a + c + b for a, b in splits for c in letters}
    out.discard(word)
    return sorted(w for w in out if w)


def known(conn: Connection, words: Sequence[str]) -> set[str]:
    """Which of `words` the index holds as exact words (in any community)."""
    if not words:
        return set()
    if conn.dialect.name == "sqlite":
        return set(conn.execute(_KNOWN_SQLITE, {"words": json.dumps(list(words))}).scalars())
    # A nested loop: one probe of the word index per candidate (1.2 ms for 539
    # candidates over 100,000 vectors, measured once the index's pending list is merged).
    return set(conn.execute(_KNOWN_POSTGRES, {"words": list(words)}).scalars())


def suggest(
    conn: Connection, query: SearchQuery, finds: Callable[[SearchQuery], bool]
) -> str | None:
    """A corrected query, as text, that `finds` (the reader's own search) finds something
    with; None when no word needs correcting or no correction finds anything."""
    words = sorted(
        {
            w
            for t in query.text_terms
            if not t.prefix
            for w in t.words
            if len(w) >= MIN_LENGTH and not is_cjk(w) and w.isalpha()
        }
    )
    held = known(conn, words)
    unknown = [w for w in words if w not in held]
    if not unknown:
        return None
    fixes: dict[str, list[str]] = {}
    for w in unknown:
        candidates = sorted(known(conn, edits(w)))
        if not candidates:
            return None
        fixes[w] = candidates
    for attempt in range(MAX_TRIES):
        chosen = {w: c[min(attempt, len(c) - 1)] for w, c in fixes.items()}
        fixed = SearchQuery(_replace(query.root, chosen))  # type: ignore[arg-type]
        if finds(fixed):
            return describe_query(fixed)
        if all(len(c) <= attempt + 1 for c in fixes.values()):
            break
    return None


def _replace(node: Node, chosen: dict[str, str]) -> Node:
    if isinstance(node, Term):
        words = tuple(chosen.get(w, w) for w in node.words)
        return Term(words, node.field, node.exact, node.prefix)
    if isinstance(node, Not):
        return node  # a word left out is not corrected
    if isinstance(node, All):
        return All(tuple(_replace(n, chosen) for n in node.nodes))
    if isinstance(node, Any_):
        return Any_(tuple(_replace(n, chosen) for n in node.nodes))
    return node
