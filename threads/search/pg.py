"""The PostgreSQL planner's side of search: walk the newest rows, or search spans of them.

GIN keeps no order, so "the newest matches" costs either fetching every match
or walking the newest rows and testing each stored vector; both grow with the
archive. This module picks between a walk and growing spans from the
planner's own estimate of how many messages match, plans every search for its
words, and tests operators on a bounded number of the newest messages holding
the words. SQLite's FTS5 needs none of this: its index is ordered by rowid.

Bounds are read as module attributes (`rank.RANK_WINDOW`, and SPAN_FRACTIONS,
WALK_DENSITY here) so that tests can shrink them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    bindparam,
    func,
    select,
    text,
)

from threads.models import Message
from threads.search import rank
from threads.search.compiler import Compiler
from threads.search.index import FTS
from threads.search.rank import Candidate

M = Message.__table__

# The newest matches are looked for in growing spans of the newest rowids (a
# fraction of all rows each time), until a span holds enough of them.
SPAN_FRACTIONS = (1 / 256, 1 / 32, 1 / 4, 1.0)
# Queries expected to match at least this share of messages walk the newest rows.
WALK_DENSITY = 0.1
_SPAN_SETTINGS = ("enable_indexscan", "enable_seqscan")
_INT_ARRAY = ARRAY(Integer)


def plan_for_words(conn: Connection) -> None:
    """Have PostgreSQL plan this transaction's searches for the words they ask for.

    psycopg prepares a statement run five times, and PostgreSQL then tends to a
    generic plan that cannot see which words are asked for, so it walks the
    whole table for a word that is not there; every search is planned for its words.
    """
    conn.exec_driver_sql("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")


def ranked(
    conn: Connection,
    compiler: Compiler,
    expr: str,
    preds: list[ColumnElement[bool]],
    window: Select[Any],
) -> list[Candidate]:
    """The candidates `window` (the newest RANK_WINDOW matches, ranked) selects: by a
    walk of the newest rows, or among the rowids the spans found."""
    plan_for_words(conn)
    top, guess = estimate(conn, compiler, expr)
    if walks(top, guess):
        # Ranked in the walk itself: each vector is read once, in index order
        # (5-8 ms for a common word at 100k, against 15 fetching the 1,000 again).
        stmt = window.where(compiler.match(expr), *preds)
    else:
        found = spans(conn, compiler, expr, preds, rank.RANK_WINDOW, top, guess)
        if not found:
            return []
        stmt = window.where(FTS.c.rowid.in_(found))
    return [Candidate(r[0], r[1], r[2], float(r[3])) for r in conn.execute(stmt)]


def recent(
    conn: Connection,
    compiler: Compiler,
    expr: str,
    preds: list[ColumnElement[bool]],
    limit: int | None = None,
) -> list[int]:
    """The newest `limit` (RANK_WINDOW) matching rowids, at a cost bounded by the window.

    GIN keeps no order, so "the newest 1,000 matches" means either fetching
    every match, or walking the newest rows and testing each one's stored
    vector; both grow with the archive for a word in a few percent of it. So:
    a query the planner expects in at least WALK_DENSITY of messages walks (it
    fills the window within ten thousand rows); any other searches growing
    spans of the newest rows through the index and the primary key together
    (a BitmapAnd reads only the matches inside the span: 13 ms for a word in
    4 % of a million messages, where the walk took 82 ms and reading every
    match 139 ms). Plain index and sequential scans are switched off for the
    spans, because the planner prices the vector test as nearly free and
    would otherwise filter the span row by row. `preds` on the message row
    join it in; none is needed for the index's rows alone.
    """

    limit = limit or rank.RANK_WINDOW
    top, guess = estimate(conn, compiler, expr)
    if walks(top, guess):
        return newest(conn, compiler, expr, preds, limit, 0)
    return spans(conn, compiler, expr, preds, limit, top, guess)


def absent(conn: Connection, lexemes: list[str]) -> frozenset[str]:
    """Those of `lexemes` (a query's stems) that no message holds.

    A query word is looked up with its stem in every language and each stem
    both as a word and marked, and most of these lexemes are in no message
    ('befor' as a word, Finnish stems of English words); yet each costs in every
    GIN scan and on every row whose vector is tested, which made queries of two
    common words 2.5 times slower. The lexemes the planner's statistics count
    among the most common are there; any other is rare or absent, and one GIN
    probe of a rare lexeme reads few entries.
    """
    if not lexemes:
        return frozenset()
    common = conn.execute(_COMMON, {"lex": lexemes}).scalars().all()
    rest = [x for x in lexemes if x not in set(common)]
    found = set(conn.execute(_FOUND, {"lex": rest}).scalars()) if rest else set()
    return frozenset(x for x in rest if x not in found)


# The planner's most common lexemes of the index (ANALYZE's; none before it ran).
_COMMON = text(
    "SELECT x FROM unnest(CAST(:lex AS text[])) AS x WHERE x = ANY("
    " SELECT unnest(most_common_elems::text::text[]) FROM pg_stats"
    " WHERE schemaname = current_schema() AND tablename = 'message_fts' AND attname = 'tsv')"
).bindparams(bindparam("lex", type_=ARRAY(String)))
# quote_literal: the lexeme as one quoted tsquery operand, whatever it holds.
_FOUND = text(
    "SELECT x FROM unnest(CAST(:lex AS text[])) AS x WHERE EXISTS ("
    " SELECT 1 FROM message_fts WHERE tsv @@ CAST(quote_literal(x) AS tsquery))"
).bindparams(bindparam("lex", type_=ARRAY(String)))


def walks(top: int, estimate: float) -> bool:
    """Whether the planner expects the words in at least WALK_DENSITY of the messages."""
    return estimate >= top * WALK_DENSITY


def newest(
    conn: Connection,
    compiler: Compiler,
    expr: str,
    preds: list[ColumnElement[bool]],
    limit: int,
    floor: int,
) -> list[int]:
    """The newest `limit` matching rowids above `floor`."""
    source = FTS.join(M, M.c.id == FTS.c.rowid) if preds else FTS
    stmt = (
        select(FTS.c.rowid)
        .select_from(source)
        .where(compiler.match(expr), FTS.c.rowid > floor, *preds)
        .order_by(FTS.c.rowid.desc())
        .limit(limit)
    )
    return list(conn.execute(stmt).scalars())


def spans(
    conn: Connection,
    compiler: Compiler,
    expr: str,
    preds: list[ColumnElement[bool]],
    limit: int,
    top: int,
    estimate: float,
) -> list[int]:
    """The newest matches searched in growing spans of the newest rowids (see `recent`)."""
    # Spans too small to hold `limit` matches by the estimate are not tried.
    needed = limit / max(estimate, 1.0)
    fractions = [f for f in SPAN_FRACTIONS if f >= needed] or [1.0]
    found: list[int] = []
    for setting in _SPAN_SETTINGS:
        conn.exec_driver_sql(f"SELECT set_config('{setting}', 'off', true)")
    try:
        for fraction in fractions:
            floor = 0 if fraction >= 1 else top - int(top * fraction)
            found = newest(conn, compiler, expr, preds, limit, floor)
            if len(found) >= limit or floor == 0:
                break
    finally:
        for setting in _SPAN_SETTINGS:
            conn.exec_driver_sql(f"SELECT set_config('{setting}', 'on', true)")
    return found


def estimate(conn: Connection, compiler: Compiler, expr: str) -> tuple[int, float]:
    """The newest rowid, and the planner's estimate of how many messages match
    (from the GIN statistics)."""
    top = conn.execute(select(func.max(FTS.c.rowid))).scalar() or 0
    stmt = select(FTS.c.rowid).where(compiler.match(expr))
    sql = stmt.compile(conn, compile_kwargs={"literal_binds": True})
    plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}").scalar_one()
    return top, float(plan[0]["Plan"]["Plan Rows"])


def filtered(
    conn: Connection,
    compiler: Compiler,
    expr: str,
    preds: list[ColumnElement[bool]],
    scan: int,
) -> tuple[list[Candidate], bool]:
    """Words with operators: the operators (and -words, passed in `preds`) tested
    on the newest `scan` (FILTER_SCAN) messages holding the words `expr`; True
    when that bound was reached.

    Fetching those rowids is one ordered read of the word index; testing the
    operators on them is `scan` primary-key probes. Letting the planner
    combine both instead walked the newest rows testing vectors and operators
    on each, 100-500 ms at 100k messages for a selective operator. A -word
    stays out of the index read: GIN cannot exclude, so `a & !b` re-read the
    vector of every message with a (1.5 s at a million).
    """
    plan_for_words(conn)
    ids = recent(conn, compiler, expr, [], scan)
    if not ids:
        return [], False
    stmt = (
        select(M.c.id, M.c.thread_id, rank.day(compiler), rank.score(compiler, expr))
        .select_from(FTS.join(M, M.c.id == FTS.c.rowid))
        .where(FTS.c.rowid == func.any(bindparam(compiler.bind_name("ids"), ids, type_=_INT_ARRAY)))
        .where(*preds)
        .order_by(FTS.c.rowid.desc())
        .limit(rank.RANK_WINDOW)
    )
    found = [Candidate(r[0], r[1], r[2], float(r[3])) for r in conn.execute(stmt)]
    return found, len(ids) >= scan
