"""Compiling a parsed query for one backend: full-text engine syntax and SQL predicates.

The text part of a query tree (words, phrases, subject:, and any AND, OR or
NOT of them) becomes one FTS5 MATCH expression or one tsquery, with every word
quoted here, so nothing a person types is read as engine syntax. What the
engine cannot express (the operators from:, to:, cc:, community:, before:,
after:, has:, and anything mixing them with words) becomes SQL predicates on
the message row. On PostgreSQL phrases are found through the word-pair
lexemes threads/search/analysis.py indexes. from:/to:/cc: match only the
addresses the reader may see, so a search cannot confirm one a page hides.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import TSQUERY

from threads.models import Message
from threads.search.analysis import STEM_MARK, SUBJECT_STEM_MARK, query_stems
from threads.search.index import FTS
from threads.search.language import All, Any_, Filter, Node, Not, Term

M = Message.__table__


class Compiler:
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
        # Stem lexemes the PostgreSQL index was found not to hold (`stem_lexemes`),
        # left out of the tsquery: every alternative of a word costs on each row
        # tested and in each GIN scan, found or not.
        self.absent: frozenset[str] = frozenset()

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

    def stem_lexemes(self, node: Node) -> list[str]:
        """The lexemes a PostgreSQL tsquery would look up for the stems of the words in
        `node` (not the words themselves): the ones worth checking for (`absent`)."""
        if isinstance(node, Not):
            return self.stem_lexemes(node.node)
        if isinstance(node, All | Any_):
            return list(dict.fromkeys(x for n in node.nodes for x in self.stem_lexemes(n)))
        if not isinstance(node, Term) or node.exact or node.prefix or len(node.words) > 1:
            return []
        word, mark = node.words[0], SUBJECT_STEM_MARK if node.field == "subject" else STEM_MARK
        out = []
        for s in query_stems(word):
            out += [s, mark + s] if s != word else [mark + s]
        return out

    def _term(self, term: Term) -> str:
        """A term in engine syntax: exact words, or a word in any of its stems, or a prefix.

        Stems differing from their word live apart from the exact words (marked, in
        their own FTS5 columns; marked lexemes on PostgreSQL), so a word `w` with stems `s`
        (`w` among them) is `w`, or any `s` among the exact words (a word that is
        its own stem is only there), or any `s` among the stems. Exact words weigh more in the
        ranking, so the form asked for ranks first.
        """
        words = term.words
        subject = term.field == "subject"
        if self.sqlite:
            forms, marked = quoted(forms_of(term))
            if not subject:
                # No column filter: a marked stem is only in the stem columns, an exact
                # form only in the others, and a filter costs a read of positions a row.
                return "(" + " OR ".join(forms + marked) + ")"
            parts = [f"{{subject}} : {f}" for f in forms]
            parts += [f"{{subject_stems}} : {m}" for m in marked]
            return "(" + " OR ".join(parts) + ")"
        stems = () if term.exact or term.prefix or len(words) > 1 else query_stems(words[0])
        # Words are letters and digits only, so single quotes keep them literal.
        weight = ":A" if subject else ""
        if term.prefix:
            return f"('{words[0]}':*{weight[1:]})"
        if stems:
            alternatives = [f"'{words[0]}'{weight}"]
            mark = SUBJECT_STEM_MARK if subject else STEM_MARK
            for s in stems:
                if s != words[0] and s not in self.absent:
                    alternatives.append(f"'{s}'{weight}")
                # Every stem is indexed with STEM_MARK, a subject's also with its own.
                if mark + s not in self.absent:
                    alternatives.append(f"'{mark}{s}'")
            return "(" + " | ".join(alternatives) + ")"
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
        param: BindParameter[str] = bindparam(self.bind_name("q"), expr)
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

    def bind_name(self, prefix: str) -> str:
        """A bind parameter name not yet used in this query's statements."""
        self.params += 1
        return f"{prefix}{self.params}"


@dataclass(frozen=True, slots=True)
class Forms:
    """What a term matches in the SQLite index: sequences of exact words (a word, its
    stems as words where they differ from it, or a phrase), or words ending in a word
    start (`prefix`), and its marked stems."""

    exact: tuple[tuple[str, ...], ...]
    prefix: tuple[str, ...]
    marked: tuple[str, ...]


def forms_of(term: Term) -> Forms:
    words = term.words
    if term.prefix:
        return Forms((), words, ())
    stems = () if term.exact or len(words) > 1 else query_stems(words[0])
    exact = (words, *((s,) for s in stems if s != words[0]))
    return Forms(exact, (), tuple(STEM_MARK + s for s in stems))


def quoted(forms: Forms) -> tuple[list[str], list[str]]:
    """A term's exact forms and marked stems in FTS5 syntax (see `Compiler._term`)."""
    if forms.prefix:
        return ['"' + " ".join(forms.prefix) + '" *'], []
    exact = ['"' + " ".join(seq) + '"' for seq in forms.exact]
    return exact, [f'"{m}"' for m in forms.marked]


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
