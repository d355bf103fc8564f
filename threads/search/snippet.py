"""Snippets and highlighting: the words of a result a reader sees, matches marked.

Matched words are wrapped in \x02 and \x03, which the web layer turns into
marks after escaping the text. On SQLite, FTS5's own snippet() gives the
passage around the matches; it costs as much as ranking, so snippets are made
for the page of results only. Where the engine gives none (PostgreSQL, or a
match found by an operator rather than a word), the snippet is cut from the
message's visible text around its first matched word.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, literal_column, select

from threads.search.analysis import WORD, fold
from threads.search.compiler import Compiler
from threads.search.index import FTS


def engine_snippets(
    conn: Connection, compiler: Compiler, expr: str | None, pks: Sequence[int]
) -> dict[int, str]:
    """FTS5's snippets of the bodies of messages `pks` for the words `expr` (SQLite only)."""
    if expr is None or not compiler.sqlite:
        return {}
    snip = func.snippet(literal_column("message_fts"), 1, "\x02", "\x03", " … ", 20)
    stmt = (
        select(FTS.c.rowid, snip)
        .select_from(FTS)
        .where(compiler.match(expr), FTS.c.rowid.in_(list(pks)))
    )
    return {int(r[0]): str(r[1]) for r in conn.execute(stmt)}


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
