"""Who knows X: people ranked by what they wrote themselves on a topic (pure functions).

The archive reads (threads/expert_reads.py) hand over the posts of the threads
a topic's search found; this module decides who the experts are:

- **Own words only.** A post counts by its visible text, the trimmed body the
  parser stores: quotes and signatures are someone else's words or boilerplate.
  The subject is the thread's, not the author's, so it earns nobody credit.
- **Breadth over volume.** A person's credit in one thread grows with the log
  of the (weighted) topic words they used there, each counted once, so the
  long argument in one thread does not outweigh help given across many;
  scores add up over threads.
- **Answers.** A reply to someone else's message that ends the thread or that
  others reply to in turn (an answer that was taken up) earns more; a
  thread's opening question earns its asker half.
- **Focus.** The busiest poster writes in every thread ("applied, thanks");
  the share of a person's posts in the found threads that are on topic
  scales their score, so volume alone does not make an expert.
- **Recency.** Old help still counts, at half weight after `HALF_LIFE_DAYS`.
- **No machines.** Automatic mail (auto-replies, test robots, CI, list
  software) never makes anyone an expert (`is_automatic`).

Plain-language questions find the jargon through `expand`: words that occur
far more often in the threads a question found than in the archive at large
(a weighted pointwise mutual information between the question and the word,
as in relevance-model query expansion) join the question with a lower
weight. "compressed swap cache" finds threads about the swap cache; in them
"zswap" is common and rare elsewhere, so the people who write "zswap" rank.
An embedding model would go further; it is not part of this module.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from threads.search.analysis import WORD, fold, words_of

# Words that carry no topic in a question ("who knows about the ...").
_STOPWORD_TEXT = """a about above after again against all also am an and any are as at be
    because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers him his how i if in into is
    it its just know knows me more most my no nor not now of off on once only or other our
    out over own same she should so some such than that the their them then there these
    they this those through to too under until up very was we were what when where which
    while who whom why will with would you your re fwd patch rfc v1 v2 v3 v4 v5 thanks
    thank hi hello regards please get got one two use used using work works need new like
    see yes ok think just make may might much many well still way want"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# Automatic senders: mailbox or display-name words of robots, CI and list software.
_AUTOMATIC = re.compile(
    r"(?:^|[^a-z0-9])(?:bot|robot|robots|ci|noreply|no-reply|donotreply|do-not-reply|"
    r"mailer-daemon|postmaster|daemon|notifications?|jenkins|buildbot|patchwork|syzbot|"
    r"syzkaller|lkp|kernelci|autobuild|automation|auto-reply|autoreply)(?:[^a-z0-9]|$)"
)
# A post's first characters are its own words (and tokenising is the cost of a
# question): a patch's diff that follows runs on for pages.
MAX_TEXT = 1500
HALF_LIFE_DAYS = 730.0
MAX_TERMS = 12
ANSWER_BONUS = 1.5
QUESTION_SHARE = 0.5  # asking about a topic shows interest, not yet knowledge
FOCUS_POWER = 0.5
EXPANSION_WEIGHT = 0.4


def query_terms(query: str) -> tuple[str, ...]:
    """The topic words of a question, folded as the search index folds them, in order
    (the first MAX_TERMS: a question is a topic, not a document)."""
    seen: dict[str, None] = {}
    for word in words_of(query):
        if word not in STOPWORDS and (len(word) > 1 or not word.isascii()):
            seen.setdefault(word)
    return tuple(seen)[:MAX_TERMS]


def is_automatic(address: str, name: str = "") -> bool:
    """Whether mail from this sender is a machine's: test robots, CI, bounces, list software."""
    local = address.split("@", 1)[0].lower()
    return bool(_AUTOMATIC.search(local) or _AUTOMATIC.search(name.lower()))


def terms_of(text: str) -> frozenset[str]:
    """Topic words of a post's own text (its first MAX_TEXT characters).

    Folded as the index folds words, but the text at once rather than word by
    word (`words_of`): a question reads a thousand posts.
    """
    unique = set(WORD.findall(fold(text[:MAX_TEXT]))) - STOPWORDS
    return frozenset(w for w in unique if len(w) > 2 and not w.isdigit())


@dataclass(frozen=True)
class Post:
    """One message as the ranking sees it; `parent` is the Message-ID it replies to."""

    pk: int
    thread_id: int
    author: str  # the normalised From address
    name: str
    date: datetime | None
    text: str  # the visible text: no quotes, no signature
    message_id: str
    parent: str | None
    automatic: bool = False  # classified as an auto-reply when it arrived

    @cached_property
    def words(self) -> frozenset[str]:
        return terms_of(self.text)


@dataclass(frozen=True, slots=True)
class Expert:
    """A person who knows the topic: the threads that earned it and when they last wrote."""

    address: str
    name: str
    score: float
    threads: tuple[int, ...]
    last_active: datetime | None


class Background:
    """How many documents of a sample of the archive hold each word: what is common anyway."""

    def __init__(self, documents: Iterable[Iterable[str]]) -> None:
        self.df: Counter[str] = Counter()
        self.size = 0
        for doc in documents:
            self.df.update(set(doc))
            self.size += 1

    def to_json(self) -> dict[str, object]:
        return {"size": self.size, "df": dict(self.df)}

    @classmethod
    def from_json(cls, value: Mapping[str, object]) -> Background:
        """A sample as `to_json` wrote it; ValueError when it is not one."""
        size, df = value.get("size"), value.get("df")
        if not isinstance(size, int) or not isinstance(df, dict):
            raise ValueError("not a background sample")
        out = cls(())
        out.size = size
        out.df = Counter({str(w): int(n) for w, n in df.items()})
        return out

    def idf(self, word: str) -> float:
        return math.log((self.size + 1) / (self.df.get(word, 0) + 0.5))

    def share(self, word: str) -> float:
        return (self.df.get(word, 0) + 0.5) / (self.size + 1)


def weights(terms: Sequence[str], background: Background) -> dict[str, float]:
    """Each question word weighted by its rarity in the archive (IDF, at least a little)."""
    return {t: max(background.idf(t), 0.1) for t in terms}


def expand(
    terms: Sequence[str],
    found: Sequence[frozenset[str]],
    background: Background,
    *,
    count: int = 6,
) -> dict[str, float]:
    """Words that keep company with the question in the messages it found, with weights.

    `found` holds each found message's words (the background counts messages
    too). A word's score is its share of those messages times the log of how
    much more often it appears there than in the background sample (pointwise
    mutual information, weighted by support). It must appear in at least one
    in twenty of them (and two), so one message's oddity is not learnt as a
    synonym.
    """
    if not found:
        return {}
    per_thread: Counter[str] = Counter()
    for words in found:
        per_thread.update(words)
    floor = max(2, math.ceil(0.05 * len(found)))
    scored: list[tuple[float, str]] = []
    asked = set(terms)
    for word, df in per_thread.items():
        if df < floor or word in asked or word in STOPWORDS or len(word) < 3 or word.isdigit():
            continue
        share = df / len(found)
        pmi = math.log(share / background.share(word))
        if pmi > 1.0:
            scored.append((share * pmi, word))
    scored.sort(reverse=True)
    best = scored[:count]
    if not best:
        return {}
    top = best[0][0]
    return {w: EXPANSION_WEIGHT * s / top * max(background.idf(w), 0.1) for s, w in best}


def _on_topic(words: frozenset[str], weighting: Mapping[str, float]) -> set[str]:
    return {t for t in weighting if t in words}


def _answers(posts: Sequence[Post]) -> set[int]:
    """Posts that answer someone else and were taken up (a reply to them) or end the thread."""
    by_id = {p.message_id: p for p in posts}
    replied_by_other: set[str] = set()
    for p in posts:
        parent = by_id.get(p.parent or "")
        if parent is not None and parent.author != p.author:
            replied_by_other.add(parent.message_id)
    last = max(posts, key=lambda p: (p.date is not None, p.date or datetime.min, p.pk))
    found: set[int] = set()
    for p in posts:
        parent = by_id.get(p.parent or "")
        if parent is None or parent.author == p.author:
            continue
        if p.message_id in replied_by_other or p is last:
            found.add(p.pk)
    return found


def rank_people(
    posts: Sequence[Post],
    weighting: Mapping[str, float],
    *,
    now: datetime,
    excluded: frozenset[str] = frozenset(),
    limit: int = 10,
) -> list[Expert]:
    """People ranked by the topic words of their own posts (see the module docstring).

    `excluded`: addresses never listed (opted out, the bridge's own addresses).
    """
    threads: dict[int, list[Post]] = {}
    for p in posts:
        threads.setdefault(p.thread_id, []).append(p)
    score: dict[str, float] = {}
    earned: dict[str, list[tuple[float, int]]] = {}
    seen_posts: Counter[str] = Counter()
    topical_posts: Counter[str] = Counter()
    names: dict[str, str] = {}
    last: dict[str, datetime] = {}
    for thread_id, members in threads.items():
        answers = _answers(members)
        own: dict[str, set[str]] = {}
        bonus: dict[str, float] = {}
        asked_only: dict[str, bool] = {}
        newest: dict[str, datetime | None] = {}
        for p in members:
            if not p.author or p.automatic or p.author in excluded:
                continue
            if is_automatic(p.author, p.name):
                continue
            seen_posts[p.author] += 1
            if p.name and p.author not in names:
                names[p.author] = p.name
            if p.date is not None and (p.author not in last or p.date > last[p.author]):
                last[p.author] = p.date
            topical = _on_topic(p.words, weighting)
            if not topical:
                continue
            topical_posts[p.author] += 1
            own.setdefault(p.author, set()).update(topical)
            if p.pk in answers:
                bonus[p.author] = ANSWER_BONUS
            question = p.parent is None and "?" in p.text
            asked_only[p.author] = asked_only.get(p.author, True) and question
            prev = newest.get(p.author)
            if p.date is not None and (prev is None or p.date > prev):
                newest[p.author] = p.date
        for author, used in own.items():
            # The topic's words they used here, each once: saying "zswap" five times in one
            # thread is not five times the knowledge.
            weight = sum(weighting[w] for w in used)
            credit = math.log1p(weight) * bonus.get(author, 1.0) * _recency(newest.get(author), now)
            if asked_only.get(author):
                credit *= QUESTION_SHARE
            score[author] = score.get(author, 0.0) + credit
            earned.setdefault(author, []).append((credit, thread_id))
    experts = []
    for author, total in score.items():
        focus = (topical_posts[author] / seen_posts[author]) ** FOCUS_POWER
        best = sorted(earned[author], key=lambda e: (-e[0], e[1]))
        experts.append(
            Expert(
                author,
                names.get(author, ""),
                round(total * focus, 4),
                tuple(t for _, t in best[:10]),
                last.get(author),
            )
        )
    experts.sort(key=lambda e: (-e.score, e.address))
    return experts[:limit]


def _recency(when: datetime | None, now: datetime) -> float:
    if when is None:
        return 0.5
    age = max((now - when).total_seconds() / 86400, 0.0)
    return 0.5 + 0.5 * math.pow(0.5, age / HALF_LIFE_DAYS)


def topics(
    texts: Iterable[str], background: Background, *, count: int = 8
) -> list[tuple[str, float]]:
    """A person's topics: the words of their own texts most over-represented against the
    archive (term frequency in their posts times the word's rarity), best first."""
    docs = 0
    df: Counter[str] = Counter()
    for text in texts:
        df.update(terms_of(text))
        docs += 1
    if not docs:
        return []
    floor = 2 if docs >= 4 else 1
    scored = [
        (round(n / docs * background.idf(w), 4), w)
        for w, n in df.items()
        if n >= floor and background.idf(w) > 1.0
    ]
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [(w, s) for s, w in scored[:count]]
