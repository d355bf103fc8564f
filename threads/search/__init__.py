"""Full-text search of the archive: the index, the query language, and running a query.

`language` parses what a person types into a tree (never an error);
`execute` writes the index and runs a parsed query on SQLite's FTS5 or
PostgreSQL's tsvector. Callers use the names exported here.
"""

from threads.search.execute import (
    Hit,
    IndexEntry,
    SearchResults,
    ThreadHit,
    index_entry,
    index_messages,
    run,
    search,
    unindex_message,
    word_pairs,
)
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
