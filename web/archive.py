"""The archive as one reader may see it: the only way web/ reads threads, messages and search.

`ReaderArchive(core, viewer)` holds the request's connection, the
communities the viewer may read and the viewer's `Privacy`; every method
applies both inside the query and passes what it returns through
`Privacy.redact` (threads/privacy.py) before a route sees it. So a page, a
feed, the API, a search snippet or an export cannot show an address the
reader may not see, whichever route asks: a new route reads through here
(tests/web/test_reader_routes.py walks every route, and checks that no other
module of web/ reads the archive's tables).

`stored` is the unredacted read, for decisions about the viewer (did they
write this message?) and never for display.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection

from bridge.core import Core
from mail.html import sanitize_html
from threads import expert_reads, queries, search, thread_reads, unread
from threads.access import Viewer
from threads.privacy import Privacy, Record
from web.reading import (
    NOT_FOUND_THREAD,
    PAGE_SIZE,
    not_found,
    privacy,
    readable,
)

P = ParamSpec("P")
T = TypeVar("T")


class ReaderArchive:
    """One request's reads, each redacted for its viewer (see the module docstring)."""

    def __init__(self, core: Core, viewer: Viewer) -> None:
        self.viewer = viewer
        self.conn: Connection = core.engine.connect()
        self.privacy: Privacy = privacy(self.conn, core.settings, viewer)
        self.readable: list[int] = readable(self.conn, viewer)

    def __enter__(self) -> ReaderArchive:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.conn.close()

    def stored(
        self, query: Callable[Concatenate[Connection, P], T], *args: P.args, **kw: P.kwargs
    ) -> T:
        """A query's result as stored: for decisions about the viewer, never to be shown."""
        return query(self.conn, *args, **kw)

    def _shown(
        self, query: Callable[Concatenate[Connection, P], T], *args: P.args, **kw: P.kwargs
    ) -> T:
        return self.privacy.redact(query(self.conn, *args, **kw))

    # --- communities and their threads ------------------------------------------------------

    def communities(
        self, *, recent: int = 0, only: int | None = None
    ) -> list[queries.CommunitySummary]:
        """The readable communities (`only`: just that one, if readable)."""
        ids = self.readable if only is None else [i for i in self.readable if i == only]
        return self._shown(queries.communities, ids, recent=recent)

    def community(self, slug: str) -> Any:
        """The community if readable, else None."""
        return self._shown(queries.community_by_slug, slug, self.readable)

    def threads_page(
        self,
        community_id: int,
        page: int,
        filters: queries.ThreadFilters,
        *,
        page_size: int = PAGE_SIZE,
    ) -> tuple[list[queries.ThreadSummary], int | None, bool]:
        """A page of a community's threads.

        Filtering by a hidden address finds nothing, exactly like an address
        that never wrote: the filter must not confirm who took part.
        """
        if filters.person and self.privacy.hidden(filters.person):
            return [], None, False
        return self._shown(
            queries.threads_page,
            community_id,
            offset=(page - 1) * page_size,
            limit=page_size,
            filters=filters,
        )

    def recent_threads(self, community_id: int, limit: int) -> list[queries.ThreadSummary]:
        return self._shown(queries.recent_threads, community_id, limit)

    def latest_messages(self, thread_ids: list[int]) -> dict[int, Any]:
        return self._shown(queries.latest_message, thread_ids)

    def unread(self, thread_ids: list[int], pending: dict[int, int]) -> dict[int, int]:
        """Unread messages per thread for a logged-in viewer (none for an anonymous one),
        counted over readable communities only; `pending`: the viewer's unwritten marks."""
        if self.viewer.person_id is None:
            return {}
        return unread.unread_counts(
            self.conn,
            self.viewer.person_id,
            thread_ids,
            communities=self.readable,
            pending=pending,
        )

    def seen_mark(self, thread_id: int) -> int | None:
        """How far the viewer had read a thread (None: never opened, or anonymous)."""
        if self.viewer.person_id is None:
            return None
        return unread.seen_mark(self.conn, self.viewer.person_id, thread_id)

    # --- a thread and its messages ------------------------------------------------------------

    def thread(self, thread_id: int) -> Any:
        """The thread if readable; otherwise the 404 of a thread that does not exist."""
        row = self._shown(queries.thread_by_id, thread_id, self.readable)
        if row is None:
            raise not_found(NOT_FOUND_THREAD)
        return row

    def linked_thread_subject(self, thread_id: int) -> str | None:
        """The subject of a thread a signed link names (the link, not the viewer, is the
        permission: an unsubscribe or mute link mailed to one recipient)."""
        return self._shown(queries.thread_subject, thread_id)

    def thread_messages(
        self, thread_id: int, *, withdrawn: bool = False
    ) -> list[queries.ThreadMessage]:
        """Callers check the thread is readable first (`thread`)."""
        return self._shown(queries.thread_messages, thread_id, withdrawn=withdrawn)

    def outline(self, thread_id: int) -> list[queries.ThreadMessage]:
        """The thread page's outline as stored, withdrawn messages' places included: for
        laying the page out and deciding about the viewer (who wrote what), never to be
        shown. No bodies are read; `fill` reads and redacts those of the shown messages."""
        return thread_reads.thread_outline(self.conn, thread_id, withdrawn=True)

    def fill(self, stored: list[queries.ThreadMessage]) -> list[queries.ThreadMessage]:
        """`conversation`'s stored entries (unredacted: redacting twice would name a hidden
        person by their label's label) with their bodies, redacted for this reader."""
        return self._shown(thread_reads.fill, stored)

    def message(self, pk: int, *, original_html: bool = False) -> Any:
        """One readable message, or None. `original_html`: its HTML sanitised again from
        the raw mail with remote images kept (the reader asked for them)."""
        row = queries.message_by_pk(self.conn, pk, self.readable)
        if row is None:
            return None
        if original_html and row.raw_id:
            original = _original_html(queries.raw_bytes(self.conn, row.raw_id) or b"")
            if original is not None:
                cids = queries.inline_attachments(self.conn, pk)
                html = sanitize_html(original, {c: f"cid:{c}" for c in cids}, remote_images=True)
                row = Record({**row._mapping, "html": html})
        return self.privacy.redact(row)

    def inline_attachments(self, message_pk: int) -> dict[str, int]:
        """content-id -> attachment id (identifiers only) of a message already read."""
        return queries.inline_attachments(self.conn, message_pk)

    def attachment(self, attachment_id: int, *, readable: bool = True) -> Any:
        """An attachment if its message is readable (`readable=False`: one the caller has
        already reached through a readable message, e.g. an inline image)."""
        return self._shown(
            queries.attachment_by_id, attachment_id, self.readable if readable else None
        )

    def raw_bytes(self, raw_id: int) -> bytes | None:
        """Raw mail, for an attachment's bytes only (never shown as text)."""
        return queries.raw_bytes(self.conn, raw_id)

    def thread_raw(self, thread_id: int) -> list[tuple[bytes, str, datetime | None]] | None:
        """The thread's mail as it arrived, or None when it holds an address this reader
        may not see (in a header, a text part, in any encoding): it is then rebuilt from
        the redacted messages. Raw mail carries addresses in too many places to rewrite."""
        raws = queries.thread_raw(self.conn, thread_id)
        if self.privacy.reveal:
            return raws
        for data, sender, _ in raws:
            if self.privacy.hidden(sender) or _shows(data, self.privacy):
                return None
        return raws

    # --- people and search -------------------------------------------------------------------

    def person_page(self, address: str, page: int) -> queries.PersonPage | None:
        """What someone wrote; a hidden address answers like one that never wrote."""
        if self.privacy.hidden(address):
            return None
        return self._shown(
            queries.person_page,
            address,
            self.readable,
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )

    def experts(
        self, query: str, *, community_id: int | None = None, limit: int = 10
    ) -> expert_reads.ExpertResults:
        """Who knows `query`, from the readable communities only (or the one named)."""
        ids = self.readable if community_id is None else [community_id]
        ids = [i for i in ids if i in self.readable]
        return self._shown(
            expert_reads.find_experts,
            query,
            community_ids=ids,
            privacy=self.privacy,
            limit=limit,
        )

    def person_topics(self, address: str) -> expert_reads.PersonTopics:
        """A person's topics and the readable threads that earned them."""
        if self.privacy.hidden(address):
            return expert_reads.PersonTopics()
        return self._shown(expert_reads.person_topics, address, self.readable)

    def search(self, query: search.SearchQuery, *, offset: int, limit: int) -> search.SearchResults:
        """from:/to:/cc: match only the addresses this reader sees."""
        return self._shown(
            search.run,
            query,
            community_ids=self.readable,
            offset=offset,
            limit=limit,
            address_domains=self.privacy.search_domains,
        )


def _shows(raw: bytes, shield: Privacy) -> bool:
    """Whether a raw message holds, in its headers or decoded text parts, a hidden address."""
    if shield.scrub(raw.decode("latin-1")) != raw.decode("latin-1"):
        return True
    for part in message_from_bytes(raw, policy=policy.default).walk():
        if part.get_content_maintype() != "text" or not isinstance(part, EmailMessage):
            continue
        try:
            content = part.get_content()
        except (LookupError, ValueError, AssertionError):
            continue
        html = part.get_content_subtype() == "html"
        if isinstance(content, str) and shield.scrub(content, html=html) != content:
            return True
    return False


def _original_html(raw: bytes) -> str | None:
    msg = message_from_bytes(raw, policy=policy.default)
    if not isinstance(msg, EmailMessage):
        return None
    try:
        part = msg.get_body(preferencelist=("html",))
        content = part.get_content() if part is not None else None
    except (LookupError, ValueError, AssertionError):
        return None
    return content if isinstance(content, str) else None
