"""The search query language: what a person types, parsed into a tree; never an error.

    budget review        both words, anywhere (subject, text, sender), in any of
                         their forms (upgrading finds upgrade: stems)
    "upgrade window"     the words side by side, exactly as written ("upgrade" alone:
                         that form only)
    migrat*              words starting with migrat (two characters at least)
    from:ana  to:  cc:   a sender / recipient whose name or address contains the text
                         (a whole address, from:ana@example.com, is an exact match)
    subject:budget       the word (or "phrase") in the subject
    community:eng        in a community, by slug or name (also in:)
    after:2026-03-01     on or after that day (2026-03 and 2026 work too)
    before:2026-03       before that month
    has:attachment
    a OR b, -word, -from:x, NOT x, AND (the default), ( ... )

OR binds tighter than the implicit AND (`a b OR c` is `a AND (b OR c)`), as in
Gmail. What cannot be read is dropped with a notice for the page. Words are
reduced to letters and digits by the index's own tokenizer
(threads/search/analysis.py), so nothing a person types can become full-text
engine syntax: threads/search/compiler.py quotes every word itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

from threads.search.analysis import WORD, is_cjk, joined_words, words_of

MAX_QUERY_CHARS = 1000
MAX_TERMS = 40
MAX_DEPTH = 8
# A shorter word start would read a large share of the index's words.
MIN_PREFIX = 2

# --- the query as a tree -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """Words in order (one word, or a phrase); `field` is "" (anywhere) or "subject".

    A single word also matches its stems unless `exact` (it was quoted); with
    `prefix` it matches every word it begins.
    """

    words: tuple[str, ...]
    field: str = ""
    exact: bool = False
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Filter:
    """An operator on the message row: from, to, cc, community, before, after, has."""

    field: str
    value: str


@dataclass(frozen=True, slots=True)
class Not:
    node: Node


@dataclass(frozen=True, slots=True)
class All:
    nodes: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Any_:
    nodes: tuple[Node, ...]


Node = Term | Filter | Not | All | Any_


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed query: a conjunction at the top, and what the parser had to say about it."""

    root: All
    notices: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.root.nodes

    @property
    def words(self) -> frozenset[str]:
        """Folded words of the positive text terms, for highlighting."""
        return frozenset(w for t in _positive_terms(self.root) for w in t.words)

    @property
    def terms(self) -> tuple[tuple[str, ...], ...]:
        return tuple(t.words for t in _positive_terms(self.root))

    @property
    def text_terms(self) -> tuple[Term, ...]:
        """The positive text terms, with their exact and prefix marks (for snippets)."""
        return tuple(_positive_terms(self.root))


def _positive_terms(node: Node) -> list[Term]:
    if isinstance(node, Term):
        return [node]
    if isinstance(node, All | Any_):
        return [t for n in node.nodes for t in _positive_terms(n)]
    return []


# --- parsing -----------------------------------------------------------------------------

OPERATORS = {
    "from": "from",
    "to": "to",
    "cc": "cc",
    "subject": "subject",
    "community": "community",
    "in": "community",
    "before": "before",
    "after": "after",
    "has": "has",
}
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<lp>\() | (?P<rp>\))
    | (?P<neg>-)(?=[^\s-])
    | (?P<key>[A-Za-z]+):(?P<val>"[^"]*"?|[^\s()"]*)
    | (?P<phrase>"[^"]*"?)
    | (?P<word>[^\s()"]+)
    """,
    re.VERBOSE,
)
_URL_SCHEMES = {"http", "https", "mailto", "ftp", "file", "news", "tel"}


class _Parser:
    """Recursive descent over a token list; every input yields a tree."""

    def __init__(self, tokens: list[tuple[str, str, str]], notices: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.notices = notices
        self.terms = 0
        self.dropped = False

    def conjunction(self, depth: int) -> list[Node]:
        nodes: list[Node] = []
        while self.pos < len(self.tokens):
            kind = self.tokens[self.pos][0]
            if kind == "rp":
                if depth:
                    return nodes
                self.pos += 1  # a stray ")" at the top: ignore it
                continue
            if kind in ("or", "and"):
                self.pos += 1  # OR with nothing on its left, or an explicit AND
                continue
            node = self.disjunction(depth)
            if node is not None:
                nodes.append(node)
        return nodes

    def disjunction(self, depth: int) -> Node | None:
        options = [self.unit(depth)]
        while self.pos < len(self.tokens) and self.tokens[self.pos][0] == "or":
            self.pos += 1
            options.append(self.unit(depth))
        kept = [o for o in options if o is not None]
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else Any_(tuple(kept))

    def unit(self, depth: int) -> Node | None:
        negate = False
        while self.pos < len(self.tokens) and self.tokens[self.pos][0] == "neg":
            negate = not negate
            self.pos += 1
        if self.pos >= len(self.tokens):
            return None
        kind, a, b = self.tokens[self.pos]
        self.pos += 1
        node: Node | None
        if kind == "lp":
            inner = self.conjunction(depth + 1) if depth < MAX_DEPTH else []
            if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "rp":
                self.pos += 1
            node = inner[0] if len(inner) == 1 else (All(tuple(inner)) if inner else None)
        elif kind in ("or", "and", "rp"):
            self.pos -= 1
            return None
        else:
            node = self.atom(kind, a, b)
        if node is None:
            return None
        return Not(node) if negate else node

    def atom(self, kind: str, a: str, b: str) -> Node | None:
        if self.terms >= MAX_TERMS:
            self.dropped = True
            return None
        self.terms += 1
        if kind == "op":
            return self.operator(a, b)
        return self.term(a, kind == "phrase")

    def term(self, text: str, quoted: bool, field: str = "") -> Term | None:
        words = words_of(text)
        if not words:
            return None
        if quoted or not text.endswith("*"):
            # A phrase matches exact forms anyway; only a quoted single word says so.
            return Term(words, field, exact=quoted and len(words) == 1)
        if len(words) > 1:
            self.notices.append(f"{text} searched as a phrase: * works after a single word.")
            return Term(words, field)
        if len(words[0]) < MIN_PREFIX and not is_cjk(words[0]):
            self.notices.append(
                f"{text}: a word start needs {MIN_PREFIX} letters at least; "
                f"searched for {words[0]} alone."
            )
            return Term(words, field)
        return Term(words, field, prefix=True)

    def operator(self, key: str, value: str) -> Node | None:
        quoted = value.startswith('"')
        value = value.strip('"')
        name = OPERATORS[key]
        if not value.strip():
            self.notices.append(f"{key}: needs something after the colon; it was left out.")
            return None
        if name == "subject":
            return self.term(value, quoted, "subject")
        if name in ("before", "after"):
            day = parse_day(value)
            if day is None:
                self.notices.append(
                    f"Could not read the date in {key}:{value} (write 2026-03-01, 2026-03 or "
                    "2026); it was left out."
                )
                return None
            return Filter(name, day.isoformat())
        if name == "has":
            if value.lower() in ("attachment", "attachments", "file", "files"):
                return Filter("has", "attachment")
            self.notices.append(f"has:{value} is not known; has:attachment is.")
            return None
        if not WORD.search(value):
            self.notices.append(f"{key}:{value} has no letters or digits to look for; left out.")
            return None
        return Filter(name, " ".join(value.lower().split()))


def tokenize(q: str, notices: list[str]) -> list[tuple[str, str, str]]:
    """(kind, text, value) tokens; kinds: lp rp neg or and op phrase word."""
    out: list[tuple[str, str, str]] = []
    unclosed = False
    for m in _TOKEN.finditer(q):
        kind = "key" if m.group("key") is not None else m.lastgroup
        if kind == "space":
            continue
        if kind == "key":
            key, val = m.group("key"), m.group("val")
            if key.lower() in OPERATORS:
                if val.startswith('"'):
                    unclosed |= len(val) == 1 or not val.endswith('"')
                out.append(("op", key.lower(), val))
                continue
            if key.lower() not in _URL_SCHEMES and val:
                notices.append(
                    f"{key}: is not a search operator, so {key}:{val} was searched as words."
                )
            out.append(("word", m.group(0), ""))
            continue
        value = m.group(0)
        if kind == "phrase":
            unclosed |= len(value) == 1 or not value.endswith('"')
            out.append(("phrase", value.strip('"'), ""))
        elif kind == "word" and value in ("OR", "|"):
            out.append(("or", value, ""))
        elif kind == "word" and value in ("AND", "&"):
            out.append(("and", value, ""))
        elif kind == "word" and value == "NOT":
            out.append(("neg", value, ""))
        else:
            out.append((kind or "word", value, ""))
    if unclosed:
        notices.append("A quotation mark was not closed; the rest was read as a phrase.")
    # "from: ana" means from:ana.
    for i, (kind, key, val) in enumerate(out[:-1]):
        if kind == "op" and not val and out[i + 1][0] in ("word", "phrase"):
            out[i] = ("op", key, out[i + 1][1])
            out[i + 1] = ("space", "", "")
    return [t for t in out if t[0] != "space"]


def parse_query(q: str) -> SearchQuery:
    """Parse user input into a query tree; never raises."""
    notices: list[str] = []
    q = (q or "").replace("\x00", " ")
    if len(q) > MAX_QUERY_CHARS:
        q = q[:MAX_QUERY_CHARS]
        notices.append(f"The search was cut to its first {MAX_QUERY_CHARS:,} characters.")
    tokens = tokenize(q, notices)
    parser = _Parser(tokens, notices)
    nodes = parser.conjunction(0)
    if parser.dropped:
        notices.append(f"Only the first {MAX_TERMS} terms were used.")
    return SearchQuery(All(tuple(nodes)), tuple(dict.fromkeys(notices)))


def parse_day(value: str) -> date | None:
    """2026-03-01, 2026/03/01, 2026-03 or 2026, as the first day of that period."""
    m = re.fullmatch(r"(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?", value.strip())
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2] or 1), int(m[3] or 1))
    except ValueError:
        return None


def describe_query(query: SearchQuery) -> str:
    """The parsed query in words, for a page or the API to echo back."""
    return _show(query.root, top=True)


def _show(node: Node, top: bool = False) -> str:
    if isinstance(node, Term):
        shown = joined_words(node.words)
        body = " ".join(shown)
        body = f'"{body}"' if len(shown) > 1 or node.exact else body
        body += "*" if node.prefix else ""
        return f"subject:{body}" if node.field else body
    if isinstance(node, Filter):
        return f"{node.field}:{json.dumps(node.value) if ' ' in node.value else node.value}"
    if isinstance(node, Not):
        return "-" + _show(node.node)
    if isinstance(node, Any_):
        return "(" + " OR ".join(_show(n) for n in node.nodes) + ")"
    inner = " ".join(_show(n) for n in node.nodes)
    return inner if top else f"({inner})"
