"""Running a parsed query: the path it takes, the bounds on its cost, one page of threads.

The text part of the query becomes one full-text match and the operators SQL
predicates (threads/search/compiler.py), next to the viewer's readable
communities, in one statement where the engine allows it. A query of words is
ranked over its newest matches (threads/search/rank.py; on PostgreSQL through
the planner paths of threads/search/pg.py); words with operators check the
operators on a bounded number of the newest messages with the words; operators
alone look at the newest messages only. Each bound that cut a search short
says so in a notice. Results are grouped by thread, and only the page shown
is described (subjects, senders, snippets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, func, not_, select

from threads.models import Community, Message, Thread, as_utc
from threads.search import pg, rank
from threads.search.compiler import Compiler
from threads.search.index import FTS
from threads.search.language import All, Not, SearchQuery
from threads.search.rank import Candidate
from threads.search.relevance import relevance
from threads.search.snippet import Matcher, make_snippet, mark
from threads.search.suggest import suggest

M, C, T = Message.__table__, Community.__table__, Thread.__table__

# A query of operators alone (no words) looks at this many of the newest messages.
SCAN_WINDOW = 10_000
# Words with operators: the operators are checked on this many of the newest
# messages holding the words (a common word and a rare sender would otherwise
# read every message with the word).
FILTER_SCAN = 2_000


@dataclass(frozen=True, slots=True)
class Hit:
    """One message that matched (the CLI's and bench's shape)."""

    message_pk: int
    thread_id: int
    community_id: int
    subject: str
    snippet: str
    rank: float


@dataclass(frozen=True, slots=True)
class ThreadHit:
    """A thread with matches: its best message, highlighted, and how many matched."""

    thread_id: int
    subject: str  # with \x02 \x03 around matched words
    community_id: int
    community_slug: str
    community_name: str
    message_pk: int
    from_name: str
    from_addr: str
    date: datetime | None
    snippet: str  # with \x02 \x03 around matched words
    matches: int
    score: float


@dataclass
class SearchResults:
    threads: list[ThreadHit] = field(default_factory=list)
    total_threads: int = 0
    total_messages: int = 0
    capped: bool = False  # more matched than were ranked
    notices: list[str] = field(default_factory=list)
    # "Did you mean": a corrected query that finds threads the reader may read.
    suggestion: str | None = None


def run(
    conn: Connection,
    query: SearchQuery,
    *,
    community_ids: Sequence[int] | None = None,
    offset: int = 0,
    limit: int = 20,
    address_domains: Sequence[str] | None = None,
    suggestions: bool = True,
) -> SearchResults:
    """Threads matching `query` in `community_ids` (None: all), best first, one page of them.

    `address_domains`: from:/to:/cc: match only addresses at these domains
    (the reader's visible ones; None: every address). When nothing is found,
    `suggestion` may hold a corrected query that finds something in the same
    communities (`suggestions=False`: do not look for one).
    """
    results = SearchResults(notices=list(query.notices))
    if query.empty or (community_ids is not None and not community_ids):
        return results
    sqlite = conn.dialect.name == "sqlite"
    compiler = Compiler(conn.dialect.name, _communities(conn, community_ids), address_domains)
    if not sqlite:
        compiler.absent = pg.absent(conn, compiler.stem_lexemes(query.root))
    pos, neg, preds = _split(compiler, query.root)
    readable: list[ColumnElement[bool]] = [M.c.placeholder.is_(False)]
    if community_ids is not None:
        # `+ 0` keeps SQLite from driving the query by a community index: the
        # newest-first walk of the full-text index (or of the table) is what is bounded.
        col = (M.c.community_id + 0) if sqlite else M.c.community_id
        readable.append(col.in_(list(community_ids)))
    expr = compiler.combine(pos, neg) if pos else None
    if expr is not None:
        floor = _filter_floor(conn, compiler, expr) if preds and sqlite else None
        if not sqlite:
            # PostgreSQL is driven by the word index, whose rows are real messages:
            # the message row is joined only for a community it must leave out.
            readable = [] if _all_communities(conn, community_ids) else readable[1:]
        if preds and not sqlite:
            positive = compiler.combine(pos, [])
            negated = [not_(compiler.match(n)) for n in neg]
            candidates, bounded = pg.filtered(
                conn, compiler, positive, [*readable, *negated, *preds], FILTER_SCAN
            )
        else:
            if floor is not None:
                preds.append(FTS.c.rowid >= floor)
            candidates = _ranked(conn, compiler, expr, [*readable, *preds], query)
            bounded = floor is not None
        if bounded and len(candidates) < rank.RANK_WINDOW:
            results.notices.append(
                f"The operators were checked on the newest {FILTER_SCAN:,} messages with "
                "these words; add words to reach older ones."
            )
    else:
        for n in neg:
            preds.append(not_(M.c.id.in_(select(FTS.c.rowid).where(compiler.match(n)))))
        candidates, scanned_all = _scanned(conn, compiler, [*readable, *preds])
        if not scanned_all and len(candidates) < rank.RANK_WINDOW:
            results.notices.append(
                f"Without words, only the newest {SCAN_WINDOW:,} messages were looked at; "
                "add a word to search them all."
            )
    results.notices.extend(n for n in compiler.notices if n not in results.notices)
    results.capped = len(candidates) >= rank.RANK_WINDOW
    threads = rank.group(candidates)
    results.total_messages = len(candidates)
    results.total_threads = len(threads)
    page = threads[offset : offset + limit]
    results.threads = _describe(conn, Matcher.of(query.text_terms), page)
    if suggestions and not threads and offset == 0 and expr is not None:

        def finds(fixed: SearchQuery) -> bool:
            again = run(
                conn,
                fixed,
                community_ids=community_ids,
                limit=1,
                address_domains=address_domains,
                suggestions=False,
            )
            return again.total_threads > 0

        results.suggestion = suggest(conn, query, finds)
    return results


def search(
    conn: Connection,
    query: SearchQuery,
    *,
    community_ids: Sequence[int] | None = None,
    limit: int = 50,
) -> list[Hit]:
    """The best message of each matching thread, best first (for `bridge search` and bench)."""
    found = run(conn, query, community_ids=community_ids, limit=limit)
    return [
        Hit(
            t.message_pk,
            t.thread_id,
            t.community_id,
            t.subject.replace("\x02", "").replace("\x03", ""),
            t.snippet,
            -t.score,
        )
        for t in found.threads
    ]


def _all_communities(conn: Connection, readable: Sequence[int] | None) -> bool:
    """Whether `readable` (None: everything) holds every community there is."""
    if readable is None:
        return True
    known = set(conn.execute(select(C.c.id)).scalars())
    return known <= set(readable)


def _communities(conn: Connection, readable: Sequence[int] | None) -> dict[str, list[int]]:
    """community: values (slug, or name in lower case) to ids, among readable communities."""
    stmt = select(C.c.id, C.c.slug, C.c.name)
    if readable is not None:
        stmt = stmt.where(C.c.id.in_(list(readable)))
    out: dict[str, list[int]] = {}
    for cid, slug, name in conn.execute(stmt):
        for key in {slug.lower(), " ".join(name.lower().split())}:
            out.setdefault(key, []).append(cid)
    return out


def _split(compiler: Compiler, root: All) -> tuple[list[str], list[str], list[ColumnElement[bool]]]:
    """Top-level parts: positive engine expressions, negated ones, and SQL predicates."""
    pos: list[str] = []
    neg: list[str] = []
    preds: list[ColumnElement[bool]] = []
    for node in root.nodes:
        inner = node.node if isinstance(node, Not) else node
        expr = compiler.engine_expr(inner)
        if expr is None:
            preds.append(compiler.predicate(node))
        elif isinstance(node, Not):
            neg.append(expr)
        else:
            pos.append(expr)
    return pos, neg, preds


def _ranked(
    conn: Connection,
    compiler: Compiler,
    expr: str,
    preds: list[ColumnElement[bool]],
    query: SearchQuery,
) -> list[Candidate]:
    """The most recent RANK_WINDOW matches with their relevance (higher is better)."""
    if compiler.sqlite:
        stmt = (
            select(M.c.id, M.c.thread_id, rank.day(compiler))
            .select_from(FTS.join(M, M.c.id == FTS.c.rowid))
            .where(compiler.match(expr), *preds)
            .order_by(FTS.c.rowid.desc())
            .limit(rank.RANK_WINDOW)
        )
        rows = conn.execute(stmt).all()
        scores = relevance(conn, compiler, query, expr, [r[0] for r in rows])
        return [Candidate(r[0], r[1], r[2], scores[r[0]]) for r in rows]
    newest = (
        select(M.c.id, M.c.thread_id, rank.day(compiler), rank.score(compiler, expr))
        .select_from(FTS.join(M, M.c.id == FTS.c.rowid))
        .order_by(FTS.c.rowid.desc())
        .limit(rank.RANK_WINDOW)
    )
    return pg.ranked(conn, compiler, expr, preds, newest)


def _filter_floor(conn: Connection, compiler: Compiler, expr: str) -> int | None:
    """The rowid of the FILTER_SCAN-th newest message holding the words, if there are that many."""
    if not compiler.sqlite:
        # Planned for its words, like the search itself.
        pg.plan_for_words(conn)
    stmt = (
        select(FTS.c.rowid)
        .where(compiler.match(expr))
        .order_by(FTS.c.rowid.desc())
        .offset(FILTER_SCAN - 1)
        .limit(1)
    )
    return conn.execute(stmt).scalar()


def _scanned(
    conn: Connection, compiler: Compiler, preds: list[ColumnElement[bool]]
) -> tuple[list[Candidate], bool]:
    """Operators only: the newest matching messages among the newest SCAN_WINDOW."""
    top = conn.execute(select(func.max(M.c.id))).scalar() or 0
    floor = top - SCAN_WINDOW
    stmt = (
        select(M.c.id, M.c.thread_id, rank.day(compiler))
        .where(*preds, M.c.id > floor)
        .order_by(M.c.id.desc())
        .limit(rank.RANK_WINDOW)
    )
    rows = [Candidate(r[0], r[1], r[2], 1.0) for r in conn.execute(stmt)]
    return rows, floor <= 0


def _describe(
    conn: Connection, matcher: Matcher, page: list[tuple[float, int, Candidate]]
) -> list[ThreadHit]:
    """Subjects, senders, communities and snippets for one page of threads."""
    if not page:
        return []
    pks = [c.pk for _, _, c in page]
    rows = {
        r.id: r
        for r in conn.execute(
            select(
                M.c.id,
                M.c.from_name,
                M.c.from_addr,
                M.c.visible_text,
                M.c.date,
                T.c.subject,
                C.c.id.label("cid"),
                C.c.slug,
                C.c.name,
            )
            .select_from(M.join(T, T.c.id == M.c.thread_id).join(C, C.c.id == M.c.community_id))
            .where(M.c.id.in_(pks))
        )
    }
    out = []
    for score, matches, c in page:
        r = rows.get(c.pk)
        if r is None:
            continue
        snippet = make_snippet(r.visible_text or "", matcher)
        out.append(
            ThreadHit(
                c.thread_id,
                mark(r.subject or "", matcher),
                r.cid,
                r.slug,
                r.name,
                c.pk,
                r.from_name,
                r.from_addr,
                as_utc(r.date),
                snippet,
                matches,
                score,
            )
        )
    return out
