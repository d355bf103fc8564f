"""Who knows X, read from the archive for one reader: the threads, the posts, the opt-outs.

`find_experts` runs a topic through the search index (threads/search) within
the reader's readable communities, reads the posts of the threads it found,
learns the question's companion words from them (threads/experts.py
`expand`), searches again for those, and ranks the people. Everything it
reads is limited to `community_ids`, so a person's work in a community the
reader may not read neither counts nor shows, and no thread id of one is
ever returned. Addresses are shown as the reader's `Privacy` allows
(outsiders by name only); people who opted out (`expert_opt_out`) and the
bridge's own addresses are never listed.

`person_topics` is the person page's "knows about": their own words' top
terms and the readable threads that earned them.

The background sample (what words are common in the archive anyway) is the
newest `SAMPLE_SIZE` messages of the readable communities, kept in memory for
`SAMPLE_TTL` seconds per set of communities, so one question costs searches
and one read of the found threads. A process that asks one question and ends
(`bridge experts`) hands in a `SampleStore` to keep it between runs, for a
day or until a quarter of the sample's messages have newer ones after them.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Connection, delete, func, insert, select

from threads import search
from threads.experts import (
    MAX_TEXT,
    Background,
    Expert,
    Post,
    expand,
    query_terms,
    rank_people,
    terms_of,
    topics,
    weights,
)
from threads.models import ExpertOptOut, Message, Thread, as_utc
from threads.privacy import Privacy, index_text

M, T, OPT = Message.__table__, Thread.__table__, ExpertOptOut.__table__

FOUND_THREADS = 40  # threads a question's own words bring in
EXPANDED_THREADS = 25  # and threads its companion words bring in
MIN_FOUND = 15  # fewer threads with every word: take threads with any of them
SAMPLE_SIZE = 1500
SAMPLE_TTL = 600.0
# A stored sample (SampleStore) serves this long, while fewer than STORED_DRIFT
# messages arrived after it: the words common in an archive change slowly.
STORED_TTL = 86_400.0
STORED_DRIFT = SAMPLE_SIZE // 4
TOPIC_POSTS = 300


@dataclass(frozen=True, slots=True)
class ExpertView:
    """One listed person as the reader may see them (address "" when hidden)."""

    name: str
    address: str
    score: float
    threads: tuple[int, ...]
    last_active: datetime | None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name}
        if self.address:
            out["address"] = self.address
        out |= {
            "score": self.score,
            "threads": list(self.threads),
            "last_active": self.last_active.isoformat() if self.last_active else None,
        }
        return out


@dataclass
class ExpertResults:
    query: str
    terms: tuple[str, ...] = ()
    expanded: tuple[str, ...] = ()  # companion words learnt from the found threads
    people: list[ExpertView] = field(default_factory=list)
    subjects: dict[int, str] = field(default_factory=dict)  # of the listed threads

    def to_json(self) -> dict[str, object]:
        return {"query": self.query, "people": [p.to_json() for p in self.people]}


# --- opting out --------------------------------------------------------------------------


def opted_out(conn: Connection) -> frozenset[str]:
    return frozenset(conn.execute(select(OPT.c.email)).scalars())


def is_opted_out(conn: Connection, email: str) -> bool:
    return conn.execute(select(OPT.c.id).where(OPT.c.email == email)).first() is not None


def set_listed(conn: Connection, email: str, listed: bool) -> None:
    """Whether `email` (normalised) may be listed as an expert; the caller commits."""
    conn.execute(delete(OPT).where(OPT.c.email == email))
    if not listed:
        conn.execute(insert(OPT).values(email=email, created_at=datetime.now(UTC)))


# --- the background sample ----------------------------------------------------------------

_samples: dict[tuple[str, tuple[int, ...] | None], tuple[float, Background]] = {}
_samples_lock = threading.Lock()


class SampleStore(Protocol):
    """Somewhere to keep a background sample between processes, as text under a key."""

    def load(self, key: str) -> str | None: ...

    def save(self, key: str, value: str) -> None: ...


def background(
    conn: Connection, community_ids: Sequence[int] | None, store: SampleStore | None = None
) -> Background:
    """Word frequencies of the newest messages the reader may read (cached a while;
    also in `store`, when given)."""
    key = (
        str(conn.engine.url),
        tuple(sorted(community_ids)) if community_ids is not None else None,
    )
    now = time.monotonic()
    with _samples_lock:
        hit = _samples.get(key)
        if hit is not None and now - hit[0] < SAMPLE_TTL:
            return hit[1]
    top = 0
    if store is not None:
        top = conn.execute(select(func.max(M.c.id))).scalar() or 0
        kept = _stored(store.load(repr(key)), top)
        if kept is not None:
            with _samples_lock:
                _samples[key] = (now, kept)
            return kept
    stmt = select(func.substr(M.c.visible_text, 1, MAX_TEXT)).where(M.c.placeholder.is_(False))
    if community_ids is not None:
        stmt = stmt.where(M.c.community_id.in_(list(community_ids)))
    texts = conn.execute(stmt.order_by(M.c.id.desc()).limit(SAMPLE_SIZE)).scalars()
    sample = Background(terms_of(_own_words(t or "")) for t in texts)
    with _samples_lock:
        if len(_samples) > 256:
            _samples.clear()
        _samples[key] = (now, sample)
    if store is not None:
        store.save(repr(key), json.dumps({"top": top, "built": time.time(), **sample.to_json()}))
    return sample


def _stored(text: str | None, top: int) -> Background | None:
    """The stored sample, if there is one still fresh for an archive whose newest id is `top`."""
    if not text:
        return None
    try:
        value = json.loads(text)
        fresh = (
            0 <= top - int(value["top"]) < STORED_DRIFT
            and 0 <= time.time() - float(value["built"]) < STORED_TTL
        )
        return Background.from_json(value) if fresh else None
    except (ValueError, TypeError, KeyError):  # damaged or older: built again
        return None


def _own_words(text: str) -> str:
    # Addresses are no topic, and an outsider's mailbox name must not become one.
    return index_text(text) if "@" in text or "%40" in text else text


# --- who knows X ----------------------------------------------------------------------------


def _threads_for(
    conn: Connection,
    terms: Sequence[str],
    community_ids: Sequence[int] | None,
    *,
    limit: int,
    every: bool,
) -> list[int]:
    # Each word quoted: nothing of the question can become a search operator.
    joiner = " " if every else " OR "
    parsed = search.parse_query(joiner.join(f'"{t}"' for t in terms))
    found = search.run(conn, parsed, community_ids=community_ids, limit=limit)
    return [t.thread_id for t in found.threads]


def _posts(conn: Connection, thread_ids: Sequence[int]) -> list[Post]:
    if not thread_ids:
        return []
    rows = conn.execute(
        select(
            M.c.id,
            M.c.thread_id,
            M.c.from_addr,
            M.c.from_name,
            M.c.date,
            func.substr(M.c.visible_text, 1, MAX_TEXT),
            M.c.message_id,
            M.c.chain,
            M.c.auto_reply,
        ).where(
            M.c.thread_id.in_(list(thread_ids)),
            M.c.placeholder.is_(False),
            M.c.withdrawn_at.is_(None),
        )
    )
    return [
        Post(
            r[0],
            r[1],
            (r[2] or "").lower(),
            r[3] or "",
            as_utc(r[4]),
            _own_words(r[5] or ""),
            r[6],
            r[7][-1] if r[7] else None,
            bool(r[8]),
        )
        for r in rows
    ]


def _post_words(posts: Sequence[Post]) -> list[frozenset[str]]:
    """Each found post's words (as the background counts messages), keeping only words two
    or more people used and no one's name: one person's catchphrase ("Applied, thanks") or
    sign-off is no companion of the topic."""
    writers: dict[str, set[str]] = {}
    people: dict[str, str] = {}
    for p in posts:
        people.setdefault(p.author, p.name)
        for w in p.words:
            writers.setdefault(w, set()).add(p.author)
    names: set[str] = set()
    for author, name in people.items():
        names |= terms_of(f"{name} {author.replace('.', ' ')}")
    # People's names (greetings, sign-offs) would make a person a synonym of the topic.
    shared = {w for w, who in writers.items() if len(who) > 1} - names
    return [p.words & shared for p in posts]


def _subjects(conn: Connection, thread_ids: Sequence[int]) -> dict[int, str]:
    if not thread_ids:
        return {}
    rows = conn.execute(select(T.c.id, T.c.subject).where(T.c.id.in_(list(thread_ids))))
    return {r[0]: index_text(r[1] or "") for r in rows}


def find_experts(
    conn: Connection,
    query: str,
    *,
    community_ids: Sequence[int] | None,
    privacy: Privacy,
    limit: int = 10,
    now: datetime | None = None,
    store: SampleStore | None = None,
) -> ExpertResults:
    """The people who know about `query`, in the communities `community_ids` (None: all);
    `store` keeps the background sample between processes."""
    results = ExpertResults(query=query, terms=query_terms(query))
    if not results.terms or (community_ids is not None and not community_ids):
        return results
    sample = background(conn, community_ids, store)
    terms = results.terms
    found = _threads_for(conn, terms, community_ids, limit=FOUND_THREADS, every=True)
    if len(found) < MIN_FOUND and len(terms) > 1:
        more = _threads_for(conn, terms, community_ids, limit=FOUND_THREADS, every=False)
        found += [t for t in more if t not in set(found)]
    posts = _posts(conn, found)
    companions = expand(terms, _post_words(posts), sample)
    results.expanded = tuple(companions)
    if companions:
        best = list(companions)[:3]
        extra = _threads_for(conn, best, community_ids, limit=EXPANDED_THREADS, every=False)
        seen = set(found)
        added = [t for t in extra if t not in seen]
        posts += _posts(conn, added)
    weighting = {**companions, **weights(terms, sample)}
    excluded = opted_out(conn) | privacy.own
    ranked = rank_people(
        posts, weighting, now=now or datetime.now(UTC), excluded=excluded, limit=limit
    )
    results.people = [_shown(e, privacy) for e in ranked]
    results.subjects = _subjects(conn, sorted({t for e in ranked for t in e.threads}))
    return results


def _shown(expert: Expert, privacy: Privacy) -> ExpertView:
    return ExpertView(
        privacy.name(expert.name, expert.address),
        privacy.address(expert.address),
        expert.score,
        expert.threads,
        expert.last_active,
    )


# --- a person's topics ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EarnedThread:
    thread_id: int
    subject: str
    hits: int


@dataclass
class PersonTopics:
    topics: list[str] = field(default_factory=list)
    threads: list[EarnedThread] = field(default_factory=list)


def person_topics(
    conn: Connection, address: str, community_ids: Sequence[int] | None, *, count: int = 8
) -> PersonTopics:
    """What `address` writes about, from their own newest posts the reader may read.

    Empty for someone who opted out of being listed, or whose mail is automatic.
    """
    if is_opted_out(conn, address):
        return PersonTopics()
    stmt = select(M.c.thread_id, func.substr(M.c.visible_text, 1, MAX_TEXT)).where(
        M.c.from_addr == address,
        M.c.placeholder.is_(False),
        M.c.withdrawn_at.is_(None),
        M.c.auto_reply.is_(False),
    )
    if community_ids is not None:
        stmt = stmt.where(M.c.community_id.in_(list(community_ids)))
    rows = conn.execute(stmt.order_by(M.c.id.desc()).limit(TOPIC_POSTS)).all()
    texts = [(tid, _own_words(text or "")) for tid, text in rows]
    best = topics((t for _, t in texts), background(conn, community_ids), count=count)
    words = {w for w, _ in best}
    per_thread: Counter[int] = Counter()
    for tid, text in texts:
        hits = len(terms_of(text) & words)
        if hits:
            per_thread[tid] += hits
    top = [tid for tid, _ in per_thread.most_common(count)]
    subjects = _subjects(conn, top)
    return PersonTopics(
        [w for w, _ in best],
        [EarnedThread(tid, subjects.get(tid, ""), per_thread[tid]) for tid in top],
    )
