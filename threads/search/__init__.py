"""Full-text search of the archive, on SQLite's FTS5 or PostgreSQL's tsvector.

One concern a module:

    analysis   what a word is and what the index holds of a message: folding, CJK
               pairs, language guess, stems (pure; the expertise finder uses it too)
    index      writing and removing the index's rows, on either backend
    reindex    rebuilding the index of an archive, in batches, resumable
    language   the query language: what a person types, parsed into a tree
    compiler   a tree compiled to full-text engine syntax and SQL predicates
    rank       which matches are scored, how, and threads by their best match
    pg         PostgreSQL's planner paths: a walk of the newest rows, or spans
    snippet    snippets and highlighted words for the page of results
    suggest    "did you mean": a near word, from what the reader may read
    execute    running a query: its path, the bounds on its cost, one page

Other packages import the names below from `threads.search`.
"""

from threads.search.analysis import IndexEntry, index_entry, word_pairs
from threads.search.execute import Hit, SearchResults, ThreadHit, run, search
from threads.search.index import index_messages, unindex_message
from threads.search.language import SearchQuery, describe_query, parse_query

__all__ = [
    "Hit",
    "IndexEntry",
    "SearchQuery",
    "SearchResults",
    "ThreadHit",
    "describe_query",
    "index_entry",
    "index_messages",
    "parse_query",
    "run",
    "search",
    "unindex_message",
    "word_pairs",
]
