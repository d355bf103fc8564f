"""How a thread's messages are laid out on its page: tree or flat, whole, paged or folded.

A long thread opens short: its first message, then the newest few, with the
ones between behind a link to the paged view (no JavaScript needed). Reply
nesting is capped so a deep exchange does not walk off the right edge; past
the cap each message says whom it answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from threads.people import distinct_writers

View = Literal["tree", "flat"]
VIEWS: tuple[View, ...] = ("tree", "flat")
# Threads longer than this open folded: the first message and the newest ones.
FOLD_OVER = 20
NEWEST_SHOWN = 10
PAGE_SIZE = 50
MAX_INDENT = 4
_EPOCH = datetime.min.replace(tzinfo=UTC)


class ThreadMessage(Protocol):
    """What the layout reads of a message (web/archive.py's conversation rows)."""

    @property
    def pk(self) -> int: ...
    @property
    def date(self) -> datetime | None: ...
    @property
    def depth(self) -> int: ...
    @property
    def parent_pk(self) -> int | None: ...
    @property
    def withdrawn(self) -> bool: ...
    @property
    def from_addr(self) -> str: ...
    @property
    def from_name(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Entry:
    message: ThreadMessage
    indent: int
    # "replying to X": every reply but a tree's top level says whom it answers, since
    # past MAX_INDENT, in the flat view and below a fold the indent cannot.
    says_parent: bool


@dataclass(frozen=True, slots=True)
class Layout:
    entries: list[Entry]
    view: View
    # Folded first view: how many messages are behind the "earlier messages" link,
    # and after which entry that link goes.
    folded: int = 0
    fold_after: int = 0
    page: int | None = None
    pages: int = 1
    newest_pk: int | None = None


def _when(message: ThreadMessage) -> tuple[datetime, int]:
    return (message.date or _EPOCH, message.pk)


def layout(
    messages: Sequence[ThreadMessage], view: View, *, page: int | None = None, whole: bool = False
) -> Layout:
    """The entries to show. `page` (from 1) pages the whole conversation; `whole` shows it
    all at once; otherwise a thread over FOLD_OVER messages is folded."""
    ordered = sorted(messages, key=_when) if view == "flat" else list(messages)
    real = [m for m in messages if not m.withdrawn]
    newest = max(real, key=_when).pk if real else None
    pages = max(1, -(-len(ordered) // PAGE_SIZE))
    if page is not None:
        page = min(page, pages)
        chosen = ordered[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        return Layout(_entries(chosen, view), view, page=page, pages=pages, newest_pk=newest)
    if whole or len(ordered) <= FOLD_OVER:
        return Layout(_entries(ordered, view), view, pages=pages, newest_pk=newest)
    first = ordered[0]
    latest = sorted(ordered[1:], key=_when)[-NEWEST_SHOWN:]
    # The newest ones read in date order under the first message, whatever the view:
    # out of their tree they cannot nest, so each says whom it answers.
    entries = _entries([first], view) + [Entry(m, 0, m.parent_pk is not None) for m in latest]
    return Layout(
        entries,
        view,
        folded=len(ordered) - 1 - len(latest),
        fold_after=1,
        pages=pages,
        newest_pk=newest,
    )


def page_holding(messages: Sequence[ThreadMessage], view: View, pk: int) -> int:
    """The page (from 1) of the paged view that shows message `pk`."""
    ordered = sorted(messages, key=_when) if view == "flat" else list(messages)
    index = next((i for i, m in enumerate(ordered) if m.pk == pk), 0)
    return index // PAGE_SIZE + 1


def _entries(messages: Sequence[ThreadMessage], view: View) -> list[Entry]:
    flat = view == "flat"
    return [
        Entry(
            m,
            0 if flat else min(m.depth, MAX_INDENT),
            m.parent_pk is not None and (flat or m.depth > 0),
        )
        for m in messages
    ]


def participants(messages: Sequence[ThreadMessage]) -> list[tuple[str, str]]:
    """(name, address) of each person who wrote, once, in order of first message
    (threads/people.py `distinct_writers`); withdrawn messages name nobody."""
    return distinct_writers((m.from_name, m.from_addr) for m in messages if not m.withdrawn)
