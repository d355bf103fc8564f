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


# Ranking scores every candidate; for a word in half the archive that is
# hundreds of thousands of rows. Relevance is therefore computed over the most
# recent RANK_WINDOW matches (message ids grow with arrival), which keeps a
# query's cost bounded at any archive size and favours recent discussion.
RANK_WINDOW = 1000


def _community_filter(community_ids: Sequence[int] | None) -> tuple[str, dict[str, int]]:
    if community_ids is None:
        return "", {}
    names = {f"c{i}": cid for i, cid in enumerate(community_ids)}
    return f" AND m.community_id IN ({', '.join(':' + n for n in names)})", names


def _search_sqlite(
    conn: Connection, query: SearchQuery, community_ids: Sequence[int] | None, limit: int
) -> list[Hit]:
    where, params = _community_filter(community_ids)
    params.update(q=fts5_match(query), k=RANK_WINDOW, n=limit)
    join = " JOIN message m ON m.id = message_fts.rowid" if where else ""
    floor = conn.execute(
        text(
            f"SELECT min(rowid) FROM (SELECT message_fts.rowid FROM message_fts{join} "
            f"WHERE message_fts MATCH :q{where} ORDER BY message_fts.rowid DESC LIMIT :k)"
        ),
        params,
    ).scalar()
    if floor is None:
        return []
    top = conn.execute(
        text(
            f"SELECT message_fts.rowid, bm25(message_fts, 4.0, 1.0, 2.0) FROM message_fts{join} "
            f"WHERE message_fts MATCH :q AND message_fts.rowid >= :floor{where} "
            "ORDER BY bm25(message_fts, 4.0, 1.0, 2.0) LIMIT :n"
        ),
        {**params, "floor": floor},
    ).all()
    if not top:
        return []
    # Snippets cost as much as ranking, so they are made for the page of results only.
    ids = {f"r{i}": rowid for i, (rowid, _) in enumerate(top)}
    rows = conn.execute(
        text(
            "SELECT m.id, m.thread_id, m.community_id, m.subject, "
            "snippet(message_fts, 1, '\x02', '\x03', ' … ', 16) "
            "FROM message_fts JOIN message m ON m.id = message_fts.rowid "
            "WHERE message_fts MATCH :q "
            f"AND message_fts.rowid IN ({', '.join(':' + k for k in ids)})"
        ),
        {"q": params["q"], **ids},
    )
    found = {row[0]: row for row in rows}
    return [Hit(*found[rowid], rank) for rowid, rank in top if rowid in found]


def _search_postgres(
    conn: Connection, query: SearchQuery, community_ids: Sequence[int] | None, limit: int
) -> list[Hit]:
    where, params = _community_filter(community_ids)
    tsquery = " & ".join(
        "(" + " <-> ".join(_pg_lexeme(w) for w in term) + ")" for term in query.terms
    )
    params.update(q=tsquery, k=RANK_WINDOW, n=limit)
    join = " JOIN message m ON m.id = f.rowid" if where else ""
    # The tsquery is written inline, not in a CTE: only then can the planner use
    # the GIN statistics to choose between the index (rare words) and a backward
    # scan of the newest rows (common words), which is what keeps this fast.
    sql = text(
        f"WITH recent AS (SELECT f.rowid FROM message_fts f{join} "
        f"WHERE f.tsv @@ to_tsquery('simple', :q){where} ORDER BY f.rowid DESC LIMIT :k), "
        "top AS (SELECT f.rowid, ts_rank(f.tsv, to_tsquery('simple', :q)) AS rank "
        "FROM message_fts f JOIN recent USING (rowid) ORDER BY rank DESC, f.rowid DESC LIMIT :n) "
        "SELECT m.id, m.thread_id, m.community_id, m.subject, "
        "ts_headline('simple', m.visible_text, to_tsquery('simple', :q), "
        "'StartSel=\x02, StopSel=\x03, MaxFragments=1, MaxWords=16, MinWords=6'), "
        "-top.rank FROM top JOIN message m ON m.id = top.rowid "
        "ORDER BY top.rank DESC, top.rowid DESC"
    )
    rows = conn.execute(sql, {**params})
    return [Hit(*row) for row in rows]


def _pg_lexeme(word: str) -> str:
    # Words are \w+ only, so quoting is enough to keep them literal in to_tsquery.
    return "'" + word.replace("'", "''") + "'"
