"""Full-text search: the query language, the index writes, and the per-dialect query.

The query language, for now: words and "quoted phrases", all required. User
text never reaches the engine as syntax: every term is quoted for FTS5, so
`AND`, `NEAR(`, `*` or a stray quote are just words. The index holds subject,
visible text and sender of each real message, keyed by the message's id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

_TERM = re.compile(r'"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed query: each term is a word or a phrase (a tuple of words)."""

    terms: tuple[tuple[str, ...], ...]

    @property
    def empty(self) -> bool:
        return not self.terms


def parse_query(q: str) -> SearchQuery:
    """Split user input into required words and phrases; punctuation is ignored."""
    terms: list[tuple[str, ...]] = []
    for phrase, word in _TERM.findall(q or ""):
        words = tuple(w.lower() for w in _WORD.findall(phrase if phrase else word))
        if words:
            terms.append(words)
    return SearchQuery(tuple(terms))


def fts5_match(query: SearchQuery) -> str:
    """The FTS5 MATCH expression: each term a quoted string, implicitly ANDed."""
    return " ".join('"' + " ".join(term).replace('"', '""') + '"' for term in query.terms)


@dataclass(frozen=True, slots=True)
class Hit:
    message_pk: int
    thread_id: int
    community_id: int
    subject: str
    snippet: str
    rank: float


@dataclass(frozen=True, slots=True)
class IndexEntry:
    message_pk: int
    subject: str
    body: str
    sender: str


_INDEX_SQLITE = text(
    "INSERT INTO message_fts(rowid, subject, body, sender) VALUES (:id, :s, :b, :f)"
)
_INDEX_POSTGRES = text(
    "INSERT INTO message_fts(rowid, tsv) VALUES (:id, "
    "setweight(to_tsvector('simple', :s), 'A') || "
    "setweight(to_tsvector('simple', :f), 'B') || to_tsvector('simple', :b)) "
    "ON CONFLICT (rowid) DO UPDATE SET tsv = EXCLUDED.tsv"
)


def index_messages(conn: Connection, entries: Sequence[IndexEntry]) -> None:
    """Add messages to the full-text index (one statement for the whole batch)."""
    if not entries:
        return
    stmt = _INDEX_SQLITE if conn.dialect.name == "sqlite" else _INDEX_POSTGRES
    conn.execute(
        stmt, [{"id": e.message_pk, "s": e.subject, "b": e.body, "f": e.sender} for e in entries]
    )


def unindex_message(conn: Connection, message_pk: int) -> None:
    conn.execute(text("DELETE FROM message_fts WHERE rowid = :id"), {"id": message_pk})


def search(
    conn: Connection,
    query: SearchQuery,
    *,
    community_ids: Sequence[int] | None = None,
    limit: int = 50,
) -> list[Hit]:
    """Messages matching every term, best first, limited to `community_ids` when given."""
    if query.empty or (community_ids is not None and not community_ids):
        return []
    if conn.dialect.name == "sqlite":
        return _search_sqlite(conn, query, community_ids, limit)
    return _search_postgres(conn, query, community_ids, limit)


def _community_filter(community_ids: Sequence[int] | None) -> tuple[str, dict[str, int]]:
    if community_ids is None:
        return "", {}
    names = {f"c{i}": cid for i, cid in enumerate(community_ids)}
    return f" AND m.community_id IN ({', '.join(':' + n for n in names)})", names


def _search_sqlite(
    conn: Connection, query: SearchQuery, community_ids: Sequence[int] | None, limit: int
) -> list[Hit]:
    where, params = _community_filter(community_ids)
    sql = text(
        "SELECT m.id, m.thread_id, m.community_id, m.subject, "
        "snippet(message_fts, 1, '\x02', '\x03', ' … ', 16), bm25(message_fts, 4.0, 1.0, 2.0) "
        "FROM message_fts JOIN message m ON m.id = message_fts.rowid "
        f"WHERE message_fts MATCH :q{where} ORDER BY bm25(message_fts, 4.0, 1.0, 2.0) LIMIT :n"
    )
    rows = conn.execute(sql, {"q": fts5_match(query), "n": limit, **params})
    return [Hit(*row) for row in rows]


def _search_postgres(
    conn: Connection, query: SearchQuery, community_ids: Sequence[int] | None, limit: int
) -> list[Hit]:
    where, params = _community_filter(community_ids)
    tsquery = " & ".join(
        "(" + " <-> ".join(_pg_lexeme(w) for w in term) + ")" for term in query.terms
    )
    sql = text(
        "SELECT m.id, m.thread_id, m.community_id, m.subject, "
        "ts_headline('simple', m.visible_text, q, "
        "'StartSel=\x02, StopSel=\x03, MaxFragments=1, MaxWords=16, MinWords=6'), "
        "-ts_rank(f.tsv, q) FROM message_fts f JOIN message m ON m.id = f.rowid, "
        "to_tsquery('simple', :q) q "
        f"WHERE f.tsv @@ q{where} ORDER BY ts_rank(f.tsv, q) DESC LIMIT :n"
    )
    rows = conn.execute(sql, {"q": tsquery, "n": limit, **params})
    return [Hit(*row) for row in rows]


def _pg_lexeme(word: str) -> str:
    # Words are \w+ only, so quoting is enough to keep them literal in to_tsquery.
    return "'" + word.replace("'", "''") + "'"
