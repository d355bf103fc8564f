"""Full-text search: the index writes, and running a parsed query on either backend.

The language itself (threads/search/language.py) parses any input into a tree.
Here the text part of that tree becomes one FTS5 MATCH (or one tsquery), with
every word quoted by this module; the operators become SQL predicates on the
message row in the same statement, next to the viewer's readable communities.
Only the most recent RANK_WINDOW matches are scored (relevance times a gentle
recency weight), so a query's cost is bounded at any archive size; results
are grouped by thread. PostgreSQL's tsvector is fed the same word stream as
FTS5's tokenizer sees (letters and digits, Latin diacritics folded), so both
backends match the same messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    column,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    table,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import TSQUERY

from threads.models import Community, Message, Thread, as_utc
from threads.privacy import index_text
from threads.search.language import (
    WORD,
    All,
    Any_,
    Filter,
    Node,
    Not,
    SearchQuery,
    Term,
    fold,
    words_of,
)

M, C, T = Message.__table__, Community.__table__, Thread.__table__
FTS = table("message_fts", column("rowid", Integer), column("tsv"))

# --- the index -----------------------------------------------------------------------------


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


_INDEX_SQLITE = text(
    "INSERT INTO message_fts(rowid, subject, body, sender) VALUES (:id, :s, :b, :f)"
)
_INDEX_POSTGRES = text(
    "INSERT INTO message_fts(rowid, tsv) VALUES (:id, "
    "setweight(to_tsvector('simple', :s), 'A') || "
    "setweight(to_tsvector('simple', :f), 'B') || to_tsvector('simple', :b) || "
    "array_to_tsvector(CAST(:p AS text[]))) "
    "ON CONFLICT (rowid) DO UPDATE SET tsv = EXCLUDED.tsv"
).bindparams(bindparam("p", type_=ARRAY(String)))
# PostgreSQL keeps lexemes up to 2 KB; a pair of longer words is not worth indexing.
_MAX_PAIR = 200


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


def index_messages(conn: Connection, entries: Sequence[IndexEntry]) -> None:
    """Add messages to the full-text index (one statement for the whole batch)."""
    if not entries:
        return
    if conn.dialect.name == "sqlite":
        rows = [{"id": e.message_pk, "s": e.subject, "b": e.body, "f": e.sender} for e in entries]
        conn.execute(_INDEX_SQLITE, rows)
        return
    rows = [
        {
            "id": e.message_pk,
            "s": pg_words(e.subject),
            "b": pg_words(e.body),
            "f": pg_words(e.sender),
            "p": word_pairs(e.subject, e.sender, e.body),
        }
        for e in entries
    ]
    conn.execute(_INDEX_POSTGRES, rows)


def unindex_message(conn: Connection, message_pk: int) -> None:
    conn.execute(text("DELETE FROM message_fts WHERE rowid = :id"), {"id": message_pk})


# --- compiling the tree for one engine -------------------------------------------------


class _Compiler:
    """Turns query nodes into an engine expression string or SQL predicates."""

    def __init__(
        self,
        dialect: str,
        communities: dict[str, list[int]],
        address_domains: Sequence[str] | None = None,
    ) -> None:
        self.sqlite = dialect == "sqlite"
        self.communities = communities
        # from:/to:/cc: match addresses at these domains only (None: any), so a
        # reader cannot confirm an address the pages hide from them.
        self.address_domains = (
            None if address_domains is None else [d.lower() for d in address_domains]
        )
        self.params = 0
        self.notices: list[str] = []

    # The text engine's own syntax; None where it cannot express the node.
    def engine_expr(self, node: Node) -> str | None:
        if isinstance(node, Term):
            return self._term(node)
        if isinstance(node, Any_):
            parts = [self.engine_expr(n) for n in node.nodes]
            if any(p is None for p in parts):
                return None
            return "(" + (" OR " if self.sqlite else " | ").join(parts) + ")"  # type: ignore[arg-type]
        if isinstance(node, All):
            pos = [self.engine_expr(n) for n in node.nodes if not isinstance(n, Not)]
            neg = [self.engine_expr(n.node) for n in node.nodes if isinstance(n, Not)]
            if not pos or any(p is None for p in [*pos, *neg]):
                return None
            return self.combine(pos, neg)  # type: ignore[arg-type]
        return None

    def combine(self, pos: list[str], neg: list[str]) -> str:
        if self.sqlite:
            expr = "(" + " AND ".join(pos) + ")"
            for n in neg:
                expr = f"({expr} NOT {n})"
            return expr
        return "(" + " & ".join([*pos, *(f"!{n}" for n in neg)]) + ")"

    def _term(self, term: Term) -> str:
        if self.sqlite:
            phrase = '"' + " ".join(term.words).replace('"', '""') + '"'
            return f"subject : {phrase}" if term.field == "subject" else phrase
        # Words are letters and digits only, so single quotes keep them literal.
        weight = ":A" if term.field == "subject" else ""
        words = term.words
        positional = "(" + " <-> ".join(f"'{w}'{weight}" for w in words) + ")"
        if len(words) == 1:
            return positional
        # The pair lexemes (word_pairs) find a phrase's messages through the index
        # alone. A two-word phrase anywhere is exactly its pair; longer phrases and
        # subject: phrases (pairs carry no field) also check positions, on those few.
        pairs = " & ".join(f"'{a} {b}'" for a, b in pairwise(words))
        if len(words) == 2 and not weight:
            return f"({pairs})"
        return f"({pairs} & {positional})"

    def match(self, expr: str) -> ColumnElement[bool]:
        """`the row of message_fts in FROM matches expr`."""
        param = bindparam(self._name("q"), expr)
        if self.sqlite:
            return literal_column("message_fts").op("MATCH")(param)
        # A cast, not to_tsquery(): to_tsquery would split a pair lexeme back into
        # words. The words are already folded as the index's are.
        return FTS.c.tsv.op("@@")(cast(param, TSQUERY))

    def predicate(self, node: Node) -> ColumnElement[bool]:
        """A SQL condition on the message row `message` for any node."""
        if isinstance(node, Not):
            return not_(self.predicate(node.node))
        if isinstance(node, All):
            return and_(true(), *(self.predicate(n) for n in node.nodes))
        if isinstance(node, Any_):
            return or_(false(), *(self.predicate(n) for n in node.nodes))
        if isinstance(node, Term):
            expr = self._term(node)
            return M.c.id.in_(select(FTS.c.rowid).where(self.match(expr)))
        return self.filter(node)

    def filter(self, f: Filter) -> ColumnElement[bool]:
        if f.field == "has":
            return M.c.attachment_count > 0
        if f.field in ("before", "after"):
            day = date.fromisoformat(f.value)
            at = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return M.c.date < at if f.field == "before" else M.c.date >= at
        if f.field == "community":
            ids = self.communities.get(f.value)
            if not ids:
                self.notices.append(f"There is no community “{f.value}” that you can read.")
                return false()
            # `+ 0` on SQLite: a community index must not drive the newest-first walk.
            return ((M.c.community_id + 0) if self.sqlite else M.c.community_id).in_(ids)
        needle = f.value
        if f.field == "from" and re.fullmatch(r"[^@\s]+@[^@\s]+", needle):
            if not self._may_match(needle):
                return false()
            return M.c.from_addr == needle  # a whole address: exact, and indexed
        # Names and addresses match from the start of a word: from:ana finds
        # "Ana Lima" and ana.lima@…, not "Dana". SQL's lower() folds ASCII only
        # (SQLite; PostgreSQL under the C locale), so "élodie" is also tried as
        # typed in title and upper case to find "Élodie".
        spaced = " ".join(_SEPARATORS.sub(" ", needle.lower()).split())
        cased = [_like(v) for v in dict.fromkeys([spaced, spaced.title(), spaced.upper()])]
        addr: ColumnElement[Any]
        name: ColumnElement[Any]
        if f.field == "from":
            addr, name = M.c.from_addr, M.c.from_name
        else:
            col = M.c.to_addrs if f.field == "to" else M.c.cc_addrs
            if self.sqlite:
                j = func.json_each(col).table_valued("value").alias("j")
            else:
                # A JSON null (not SQL NULL) would make json_array_elements raise.
                array = case(
                    (func.json_typeof(col) == "array", col), else_=literal_column("'[]'::json")
                )
                j = func.json_array_elements(array).table_valued("value").alias("j")
            if self.sqlite:
                addr = func.json_extract(j.c.value, "$.address")
                name = func.json_extract(j.c.value, "$.name")
            else:
                addr, name = j.c.value.op("->>")("address"), j.c.value.op("->>")("name")
        tests = [
            self._visible(addr, _spaced(func.lower(addr)).like(cased[0], escape="\\")),
            _spaced(func.lower(name)).like(cased[0], escape="\\"),
            *(_spaced(name).like(p, escape="\\") for p in cased[1:]),
        ]
        if f.field == "from":
            return or_(*tests)
        return exists().select_from(j).where(or_(*tests))

    def _may_match(self, address: str) -> bool:
        domains = self.address_domains
        return domains is None or address.rsplit("@", 1)[-1].lower() in domains

    def _visible(self, addr: ColumnElement[Any], test: ColumnElement[bool]) -> ColumnElement[bool]:
        """`test` on an address, limited to the addresses this reader may see."""
        if self.address_domains is None:
            return test
        at = [
            func.lower(addr).like(f"%@{_like_escape(d)}", escape="\\") for d in self.address_domains
        ]
        return and_(test, or_(*at)) if at else false()

    def _name(self, prefix: str) -> str:
        self.params += 1
        return f"{prefix}{self.params}"


_SEPARATORS = re.compile(r"[.@\-_+<>\"'\s]+")


def _spaced(value: ColumnElement[Any]) -> ColumnElement[str]:
    """ " " + the value with separators as spaces, so LIKE '% word%' finds word starts."""
    out: ColumnElement[Any] = value
    for sep in ".@-_+<>\"'":
        out = func.replace(out, sep, " ", type_=String)
    return literal(" ", String).concat(out)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(spaced: str) -> str:
    return f"% {_like_escape(spaced)}%"


# --- running a query --------------------------------------------------------------------

# Ranking scores every candidate; for a word in half the archive that is
# hundreds of thousands of rows. Relevance is therefore computed over the most
# recent RANK_WINDOW matches (message ids grow with arrival), which keeps a
# query's cost bounded at any archive size and favours recent discussion.
RANK_WINDOW = 1000
# A query of operators alone (no words) looks at this many of the newest messages.
SCAN_WINDOW = 10_000
# Words with operators: the operators are checked on this many of the newest
# messages holding the words (a common word and a rare sender would otherwise
# read every message with the word).
FILTER_SCAN = 2_000
_INT_ARRAY = ARRAY(Integer)
# Recency: a match loses up to half its weight with age (half of that in HALF_LIFE days).
HALF_LIFE_DAYS = 180.0


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


@dataclass(frozen=True, slots=True)
class _Candidate:
    pk: int
    thread_id: int
    day: float | None  # the date in days, for recency: cheaper to read than a datetime
    relevance: float


def _day(compiler: _Compiler) -> ColumnElement[float]:
    if compiler.sqlite:
        return func.julianday(M.c.date)
    return func.extract("epoch", M.c.date) / 86400.0


def run(
    conn: Connection,
    query: SearchQuery,
    *,
    community_ids: Sequence[int] | None = None,
    offset: int = 0,
    limit: int = 20,
    address_domains: Sequence[str] | None = None,
) -> SearchResults:
    """Threads matching `query` in `community_ids` (None: all), best first, one page of them.

    `address_domains`: from:/to:/cc: match only addresses at these domains
    (the reader's visible ones; None: every address).
    """
    results = SearchResults(notices=list(query.notices))
    if query.empty or (community_ids is not None and not community_ids):
        return results
    sqlite = conn.dialect.name == "sqlite"
    compiler = _Compiler(conn.dialect.name, _communities(conn, community_ids), address_domains)
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
            candidates, bounded = _pg_filtered(
                conn, compiler, positive, [*readable, *negated, *preds]
            )
        else:
            if floor is not None:
                preds.append(FTS.c.rowid >= floor)
            candidates = _ranked(conn, compiler, expr, [*readable, *preds])
            bounded = floor is not None
        if bounded and len(candidates) < RANK_WINDOW:
            results.notices.append(
                f"The operators were checked on the newest {FILTER_SCAN:,} messages with "
                "these words; add words to reach older ones."
            )
    else:
        for n in neg:
            preds.append(not_(M.c.id.in_(select(FTS.c.rowid).where(compiler.match(n)))))
        candidates, scanned_all = _scanned(conn, compiler, [*readable, *preds])
        if not scanned_all and len(candidates) < RANK_WINDOW:
            results.notices.append(
                f"Without words, only the newest {SCAN_WINDOW:,} messages were looked at; "
                "add a word to search them all."
            )
    results.notices.extend(n for n in compiler.notices if n not in results.notices)
    results.capped = len(candidates) >= RANK_WINDOW
    threads = _group(candidates)
    results.total_messages = len(candidates)
    results.total_threads = len(threads)
    page = threads[offset : offset + limit]
    results.threads = _describe(conn, compiler, expr, query.words, page)
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


def _split(
    compiler: _Compiler, root: All
) -> tuple[list[str], list[str], list[ColumnElement[bool]]]:
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
    conn: Connection, compiler: _Compiler, expr: str, preds: list[ColumnElement[bool]]
) -> list[_Candidate]:
    """The most recent RANK_WINDOW matches with their relevance (higher is better)."""
    newest = (
        select(M.c.id, M.c.thread_id, _day(compiler), _score(compiler, expr))
        .select_from(FTS.join(M, M.c.id == FTS.c.rowid))
        .order_by(FTS.c.rowid.desc())
        .limit(RANK_WINDOW)
    )
    if compiler.sqlite:
        stmt = newest.where(compiler.match(expr), *preds)
        return [_Candidate(r[0], r[1], r[2], r[3]) for r in conn.execute(stmt)]
    # psycopg prepares a statement run five times, and PostgreSQL then tends to a
    # generic plan that cannot see which words are asked for, so it walks the
    # whole table for a word that is not there; every search is planned for its words.
    conn.exec_driver_sql("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")
    top, estimate = _pg_estimate(conn, compiler, expr)
    if _walks(top, estimate):
        # Ranked in the walk itself: each vector is read once, in index order
        # (5-8 ms for a common word at 100k, against 15 fetching the 1,000 again).
        stmt = newest.where(compiler.match(expr), *preds)
    else:
        recent = _pg_spans(conn, compiler, expr, preds, RANK_WINDOW, top, estimate)
        if not recent:
            return []
        stmt = newest.where(FTS.c.rowid.in_(recent))
    return [_Candidate(r[0], r[1], r[2], float(r[3])) for r in conn.execute(stmt)]


def _score(compiler: _Compiler, expr: str) -> ColumnElement[float]:
    """Relevance, higher is better: bm25 (lower is better, so negated) or ts_rank."""
    if compiler.sqlite:
        return -func.bm25(literal_column("message_fts"), 4.0, 1.0, 2.0)
    return func.ts_rank(FTS.c.tsv, cast(bindparam(compiler._name("q"), expr), TSQUERY))


# PostgreSQL: the newest matches are looked for in growing spans of the newest
# rowids (a fraction of all rows each time), until a span holds enough of them.
SPAN_FRACTIONS = (1 / 256, 1 / 32, 1 / 4, 1.0)
# Queries expected to match at least this share of messages walk the newest rows.
WALK_DENSITY = 0.1


def _pg_recent(
    conn: Connection,
    compiler: _Compiler,
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

    limit = limit or RANK_WINDOW
    top, estimate = _pg_estimate(conn, compiler, expr)
    if _walks(top, estimate):
        return _pg_newest(conn, compiler, expr, preds, limit, 0)
    return _pg_spans(conn, compiler, expr, preds, limit, top, estimate)


def _walks(top: int, estimate: float) -> bool:
    """Whether the planner expects the words in at least WALK_DENSITY of the messages."""
    return estimate >= top * WALK_DENSITY


def _pg_newest(
    conn: Connection,
    compiler: _Compiler,
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


def _pg_spans(
    conn: Connection,
    compiler: _Compiler,
    expr: str,
    preds: list[ColumnElement[bool]],
    limit: int,
    top: int,
    estimate: float,
) -> list[int]:
    """The newest matches searched in growing spans of the newest rowids (see _pg_recent)."""
    # Spans too small to hold `limit` matches by the estimate are not tried.
    needed = limit / max(estimate, 1.0)
    spans = [f for f in SPAN_FRACTIONS if f >= needed] or [1.0]
    found: list[int] = []
    for setting in _SPAN_SETTINGS:
        conn.exec_driver_sql(f"SELECT set_config('{setting}', 'off', true)")
    try:
        for fraction in spans:
            floor = 0 if fraction >= 1 else top - int(top * fraction)
            found = _pg_newest(conn, compiler, expr, preds, limit, floor)
            if len(found) >= limit or floor == 0:
                break
    finally:
        for setting in _SPAN_SETTINGS:
            conn.exec_driver_sql(f"SELECT set_config('{setting}', 'on', true)")
    return found


_SPAN_SETTINGS = ("enable_indexscan", "enable_seqscan")


def _pg_estimate(conn: Connection, compiler: _Compiler, expr: str) -> tuple[int, float]:
    """The newest rowid, and the planner's estimate of how many messages match
    (from the GIN statistics)."""
    top = conn.execute(select(func.max(FTS.c.rowid))).scalar() or 0
    stmt = select(FTS.c.rowid).where(compiler.match(expr))
    sql = stmt.compile(conn, compile_kwargs={"literal_binds": True})
    plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}").scalar_one()
    return top, float(plan[0]["Plan"]["Plan Rows"])


def _pg_filtered(
    conn: Connection, compiler: _Compiler, expr: str, preds: list[ColumnElement[bool]]
) -> tuple[list[_Candidate], bool]:
    """Words with operators on PostgreSQL: the operators (and -words, passed in
    `preds`) tested on the newest FILTER_SCAN messages holding the words `expr`;
    True when that bound was reached.

    Fetching those rowids is one ordered read of the word index; testing the
    operators on them is FILTER_SCAN primary-key probes. Letting the planner
    combine both instead walked the newest rows testing vectors and operators
    on each, 100-500 ms at 100k messages for a selective operator. A -word
    stays out of the index read: GIN cannot exclude, so `a & !b` re-read the
    vector of every message with a (1.5 s at a million).
    """
    conn.exec_driver_sql("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")
    ids = _pg_recent(conn, compiler, expr, [], FILTER_SCAN)
    if not ids:
        return [], False
    stmt = (
        select(M.c.id, M.c.thread_id, _day(compiler), _score(compiler, expr))
        .select_from(FTS.join(M, M.c.id == FTS.c.rowid))
        .where(FTS.c.rowid == func.any(bindparam(compiler._name("ids"), ids, type_=_INT_ARRAY)))
        .where(*preds)
        .order_by(FTS.c.rowid.desc())
        .limit(RANK_WINDOW)
    )
    found = [_Candidate(r[0], r[1], r[2], float(r[3])) for r in conn.execute(stmt)]
    return found, len(ids) >= FILTER_SCAN


def _filter_floor(conn: Connection, compiler: _Compiler, expr: str) -> int | None:
    """The rowid of the FILTER_SCAN-th newest message holding the words, if there are that many."""
    if not compiler.sqlite:
        # Planned for its words, like the search itself (see _ranked).
        conn.exec_driver_sql("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)")
    stmt = (
        select(FTS.c.rowid)
        .where(compiler.match(expr))
        .order_by(FTS.c.rowid.desc())
        .offset(FILTER_SCAN - 1)
        .limit(1)
    )
    return conn.execute(stmt).scalar()


def _scanned(
    conn: Connection, compiler: _Compiler, preds: list[ColumnElement[bool]]
) -> tuple[list[_Candidate], bool]:
    """Operators only: the newest matching messages among the newest SCAN_WINDOW."""
    top = conn.execute(select(func.max(M.c.id))).scalar() or 0
    floor = top - SCAN_WINDOW
    stmt = (
        select(M.c.id, M.c.thread_id, _day(compiler))
        .where(*preds, M.c.id > floor)
        .order_by(M.c.id.desc())
        .limit(RANK_WINDOW)
    )
    rows = [_Candidate(r[0], r[1], r[2], 1.0) for r in conn.execute(stmt)]
    return rows, floor <= 0


def _group(candidates: list[_Candidate]) -> list[tuple[float, int, _Candidate]]:
    """Threads by their best match (relevance times recency); (score, matches, best)."""
    dated = [c.day for c in candidates if c.day is not None]
    newest = max(dated) if dated else None
    best: dict[int, tuple[float, int, _Candidate]] = {}
    for c in candidates:
        age = newest - c.day if newest is not None and c.day is not None else 0.0
        score = c.relevance * (0.5 + 0.5 * math.pow(2.0, -max(age, 0.0) / HALF_LIFE_DAYS))
        prev = best.get(c.thread_id)
        if prev is None:
            best[c.thread_id] = (score, 1, c)
        else:
            top = (score, c) if score > prev[0] else (prev[0], prev[2])
            best[c.thread_id] = (top[0], prev[1] + 1, top[1])

    def key(item: tuple[float, int, _Candidate]) -> tuple[float, float, int]:
        when = item[2].day or 0.0
        return (-item[0], -when, -item[2].pk)

    return sorted(best.values(), key=key)


def _describe(
    conn: Connection,
    compiler: _Compiler,
    expr: str | None,
    words: frozenset[str],
    page: list[tuple[float, int, _Candidate]],
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
    snippets: dict[int, str] = {}
    if expr is not None and compiler.sqlite:
        # Snippets cost as much as ranking, so they are made for the page of results only.
        snip = func.snippet(literal_column("message_fts"), 1, "\x02", "\x03", " … ", 20)
        stmt = (
            select(FTS.c.rowid, snip)
            .select_from(FTS)
            .where(compiler.match(expr), FTS.c.rowid.in_(pks))
        )
        snippets = {int(r[0]): str(r[1]) for r in conn.execute(stmt)}
    out = []
    for score, matches, c in page:
        r = rows.get(c.pk)
        if r is None:
            continue
        snippet = snippets.get(c.pk)
        if not snippet or "\x02" not in snippet:
            snippet = make_snippet(r.visible_text or "", words)
        out.append(
            ThreadHit(
                c.thread_id,
                mark_words(r.subject or "", words),
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


def mark_words(value: str, words: frozenset[str]) -> str:
    """`value` with \x02 \x03 around each word whose folded form is in `words`."""
    if not words:
        return value
    return WORD.sub(lambda m: f"\x02{m[0]}\x03" if fold(m[0]) in words else m[0], value)


def make_snippet(body: str, words: frozenset[str], size: int = 28) -> str:
    """About `size` words of `body` around the first match (or its start), matches marked."""
    tokens = list(WORD.finditer(body[:20_000]))
    if not tokens:
        return " ".join(body[:200].split())
    first = next((i for i, t in enumerate(tokens) if fold(t[0]) in words), 0)
    start = max(0, first - 6)
    end = min(len(tokens), start + size)
    piece = body[tokens[start].start() : tokens[end - 1].end()]
    piece = " ".join(mark_words(piece, words).split())
    return ("… " if start else "") + piece + (" …" if end < len(tokens) else "")
