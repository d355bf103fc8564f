"""Conversation threading: which messages belong together, and how they nest.

Pure functions only (no I/O, no database), so the storage layer, the corpus
benchmark and the tests share one definition of "same conversation":

* ``parse_msgid_list`` / ``reference_chain`` turn In-Reply-To and References
  (RFC 5322 section 3.6.4) into a message's ancestors, oldest to nearest, as in
  Jamie Zawinski's threading algorithm ("JWZ", the one Netscape 3 and most
  mail readers since use);
* ``thread_index_key`` reads the conversation part of Outlook's Thread-Index;
* ``normalize_subject`` / ``may_answer`` / ``best_root`` implement a deliberately
  narrow subject fallback for replies whose client dropped every reference;
* ``group_threads`` is the batch oracle: the partition of messages into
  threads, independent of arrival order;
* ``build_tree`` / ``order_for_display`` lay out one thread for reading.
"""

import base64
import binascii
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# References of a long-lived thread grow without bound (some clients never trim
# it, RFC 5322 only suggests trimming); the nearest ancestors carry the
# information, the far end is the root, which the nearer ids usually reach too.
MAX_REFERENCES = 100

# A reply that lost its references is almost always written within days of the
# message it answers: on the real kernel-list corpora about 99 % of replies
# (whose parent is known) come within 30 days of it, the median within hours.
# Past a month a same-subject message is more likely a new posting (a monthly
# report, a resend) than a late answer, so the fallback stops there.
SUBJECT_WINDOW = timedelta(days=30)

# Outlook's Thread-Index ([MS-OXOMSG] 2.2.1.3 PidTagConversationIndex): a 22-byte
# header (1 reserved byte, 5 bytes of the FILETIME of the first message, a
# 16-byte GUID minted per conversation) then one 5-byte block per reply/forward.
_TI_HEADER_LEN = 22
_TI_CHILD_LEN = 5
_TI_GUID = slice(6, 22)

# Reply and forward prefixes as mail clients localise them (Outlook, Thunderbird,
# Apple Mail, Gmail, Foxmail...). Compared case-insensitively.
_REPLY_WORDS = frozenset(
    {
        "re",  # English and most clients (from Latin "in re")
        "aw",  # German Outlook, "Antwort"
        "antwort",
        "sv",  # Swedish, Norwegian, Danish "svar"
        "vs",  # Finnish "vastaus"
        "antw",  # Dutch "antwoord"
        "odp",  # Polish / Czech "odpowiedź", "odpověď"
        "rif",  # Italian "riferimento"
        "r",  # Italian Outlook
        "ref",
        "ré",  # French clients that translate "Re"
        "réf",  # French
        "res",  # Brazilian Portuguese Outlook "resposta"
        "vá",  # Hungarian "válasz"
        "ynt",  # Turkish "yanıt"
        "ats",  # Lithuanian "atsakymas"
        "odg",  # Croatian / Slovenian "odgovor"
        "απ",  # Greek
        "σχετ",  # Greek
        "отв",  # Russian "ответ"
        "回复",  # Simplified Chinese
        "答复",  # Simplified Chinese
        "回覆",  # Traditional Chinese
    }
)
_FORWARD_WORDS = frozenset(
    {
        "fwd",
        "fw",
        "wg",  # German "weitergeleitet"
        "tr",  # French "transféré"
        "enc",  # Portuguese "encaminhado"
        "rv",  # Spanish "reenviado"
        "doorst",  # Dutch "doorgestuurd"
        "pd",  # Polish "prześlij dalej"
        "vb",  # Swedish "vidarebefordrat"
        "vl",  # Finnish "välitetty"
        "ilt",  # Turkish "iletilen"
        "πρθ",  # Greek
        "转发",  # Simplified Chinese
        "轉寄",  # Traditional Chinese
        "轉發",  # Traditional Chinese
    }
)
# Longest first so that "antwort" is tried before "antw" and "re" before "r".
_PREFIX_ALTERNATION = "|".join(
    re.escape(word) for word in sorted(_REPLY_WORDS | _FORWARD_WORDS, key=len, reverse=True)
)
# A prefix may carry a reply counter ("Re[2]:", "Re(3):", some clients' way of
# folding "Re: Re: Re:") and may be followed by an ASCII or a full-width colon;
# French typography puts a space before the colon ("Réf :").
_PREFIX_RE = re.compile(
    rf"(?P<word>{_PREFIX_ALTERNATION})\s*(?:\[\d+\]|\(\d+\))?\s*[:：]", re.IGNORECASE
)
# A list tag is one bracketed word ("[eng]", "[cgroups]"). Tags with spaces,
# digits or "/" ("[PATCH v2 1/3]") say which posting this is and must stay.
_TAG_RE = re.compile(r"\[(?P<tag>[^\[\]\s\d/]+)\]")
# One-word tags that also distinguish postings (an RFC and the PATCH that
# follows it are different threads in kernel-style review), so they stay.
_MEANINGFUL_TAGS = frozenset({"patch", "rfc", "resend", "pull"})

_DATE_FLOOR = datetime.min.replace(tzinfo=UTC)


def _require_aware(date: datetime | None, owner: str) -> None:
    # Comparing naive with aware datetimes raises TypeError deep inside the
    # grouping; failing at construction names the culprit instead.
    if date is not None and date.utcoffset() is None:
        raise ValueError(f"{owner}: date must be timezone-aware, got {date!r}")


# --- Message-ID lists -------------------------------------------------------


def looks_like_msgid(value: str) -> bool:
    """True for an id of the RFC 5322 shape ``left@right`` without spaces or brackets.

    RFC 5322 3.6.4 requires the "@". Ids without it seen in real References
    are answers typed at a prompt ("y", "all", a subject line); shared by
    unrelated threads, they would merge them, so they are not ids for us.
    """
    left, at, right = value.partition("@")
    # A quote would only come from the obsolete quoted-string form of the left
    # part, which no mail client we know writes; in real headers it is debris.
    return (
        bool(at and left and right)
        and not any(ch.isspace() for ch in value)
        and not any(ch in '<>"' for ch in value)
    )


def _skip_comment(value: str, pos: int) -> int:
    """Index just past the RFC 5322 comment opening at `pos` (nesting, quoted-pairs)."""
    depth = 0
    while pos < len(value):
        char = value[pos]
        if char == "\\":
            pos += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    return pos


def _skip_quoted(value: str, pos: int) -> int:
    """Index just past the quoted-string opening at `pos`."""
    pos += 1
    while pos < len(value):
        if value[pos] == "\\":
            pos += 1
        elif value[pos] == '"':
            return pos + 1
        pos += 1
    return pos


def _closing_bracket(value: str, pos: int) -> int:
    """Index of the ">" closing the "<" at `pos`, or -1 if unterminated or nested."""
    end = value.find(">", pos + 1)
    restart = value.find("<", pos + 1)
    return -1 if end < 0 or 0 <= restart < end else end


def _scan(value: str) -> list[tuple[bool, str]]:
    """Split a header value into (bracketed?, text) tokens, in order.

    Bracketed tokens are the insides of <...> with folding whitespace removed
    (some clients fold mid-id); the rest is split into words. Comments and
    quoted strings are skipped: "<id> (Fred's message of "Mon, 1 Jan <x>")"
    is a common shape (Emacs, Gnus) and must yield nothing from the comment.
    """
    pieces: list[tuple[bool, str]] = []
    prose: list[str] = []
    pos = 0
    while pos < len(value):
        char = value[pos]
        end = _closing_bracket(value, pos) if char == "<" else -1
        if end >= 0:
            pieces += [(False, "".join(prose)), (True, "".join(value[pos + 1 : end].split()))]
            prose = []
            pos = end + 1
        elif char in '("':
            pos = _skip_comment(value, pos) if char == "(" else _skip_quoted(value, pos)
            prose.append(" ")
        else:
            # A stray "<" is junk: drop it and read on.
            prose.append(" " if char == "<" else char)
            pos += 1
    pieces.append((False, "".join(prose)))
    tokens: list[tuple[bool, str]] = []
    for bracketed, text in pieces:
        if bracketed:
            tokens.append((True, text))
        else:
            words = (word.strip(",;") for word in text.replace(",", " ").split())
            tokens.extend((False, word) for word in words if word)
    return tokens


def parse_msgid_list(value: str | None) -> list[str]:
    """Message-IDs in an In-Reply-To/References value, without brackets, in order.

    Deduplicated (first occurrence kept), junk between ids ignored, folding
    whitespace inside an id removed. Bare ids without brackets are accepted
    only when every word outside brackets looks like an id: "References: a@x
    b@y" is a sloppy client, while "message from fred@example.com of Monday"
    is prose whose address is no message id.
    At most MAX_REFERENCES ids are returned, the last ones.
    """
    if not value:
        return []
    tokens = _scan(value)
    bare_ok = all(looks_like_msgid(text) for bracketed, text in tokens if not bracketed)
    candidates = (text for bracketed, text in tokens if bracketed or bare_ok)
    ids = list(dict.fromkeys(mid for mid in candidates if looks_like_msgid(mid)))
    return ids[-MAX_REFERENCES:]


def reference_chain(
    own_id: str, in_reply_to: Sequence[str], references: Sequence[str]
) -> list[str]:
    """The message's ancestors, oldest to nearest (JWZ step 1A).

    References gives the ancestry in order (RFC 5322 3.6.4); In-Reply-To names
    the parent, so it becomes the last link even when References listed it
    earlier (out-of-order References exist, In-Reply-To is the direct claim).
    When In-Reply-To holds several ids, the first that looks like an id wins
    (JWZ). A message never is its own ancestor.
    """
    parent = next((mid for mid in in_reply_to if looks_like_msgid(mid)), None)
    chain = [
        mid
        for mid in dict.fromkeys(references)
        if mid not in (own_id, parent) and looks_like_msgid(mid)
    ]
    if parent is not None and parent != own_id:
        chain.append(parent)
    return chain


# --- Outlook Thread-Index ---------------------------------------------------


def thread_index_key(value: str | None) -> str | None:
    """Hex of the 22-byte conversation header of an Outlook Thread-Index, or None.

    Every reply or forward Outlook writes keeps the header and appends a 5-byte
    child block ([MS-OXOMSG] 2.2.1.3), so equal headers mean one conversation
    even when References were dropped (Exchange often drops them). A value that
    is not base64, is shorter than the header, is not header + whole child
    blocks, or has an all-zero GUID (not unique to any conversation) is ignored.
    """
    if not value:
        return None
    compact = "".join(value.split())
    compact += "=" * (-len(compact) % 4)
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < _TI_HEADER_LEN or (len(raw) - _TI_HEADER_LEN) % _TI_CHILD_LEN:
        return None
    if not any(raw[_TI_GUID]):
        return None
    return raw[:_TI_HEADER_LEN].hex()


# --- Subjects ---------------------------------------------------------------


def _strip_leading(subject: str) -> tuple[str, str | None]:
    """Remove leading prefixes and list tags; also return the first prefix word."""
    rest = subject
    first: str | None = None
    while True:
        rest = rest.lstrip()
        prefix = _PREFIX_RE.match(rest)
        if prefix:
            first = first or prefix["word"].casefold()
            rest = rest[prefix.end() :]
            continue
        tag = _TAG_RE.match(rest)
        if tag and tag["tag"].casefold() not in _MEANINGFUL_TAGS:
            rest = rest[tag.end() :]
            continue
        return rest, first


def normalize_subject(subject: str | None) -> str:
    """The subject without reply/forward prefixes and list tags, casefolded.

    "[eng] Re: [eng] AW: Re[3]: Budget" and "budget" normalise alike: list
    managers add their tag once per hop and clients stack their prefixes in
    the user's language. Expects a decoded subject (RFC 2047 already undone).
    """
    if not subject:
        return ""
    rest, _ = _strip_leading(subject)
    return " ".join(rest.casefold().split())


def thread_title(subject: str | None) -> str:
    """A thread's title from its first message's subject: reply and forward
    prefixes and list tags removed ("AW: [eng] Re: Budget" is "Budget"), the
    case kept. A reply that arrives before what it answers (or alone) must not
    name the thread "Re: ..."; a subject that is nothing but prefixes stays."""
    if not subject:
        return ""
    rest, _ = _strip_leading(subject)
    return " ".join(rest.split()) or " ".join(subject.split())


def has_reply_prefix(subject: str | None) -> bool:
    """True when the outermost prefix (after list tags) is a reply, not a forward.

    "Fwd: Re: x" is a forward (to a new audience, a new conversation);
    "Re: Fwd: x" is a reply.
    """
    if not subject:
        return False
    _, first = _strip_leading(subject)
    return first in _REPLY_WORDS


@dataclass(frozen=True, slots=True)
class ThreadCandidate:
    """What the subject fallback needs of one message."""

    message_id: str
    norm_subject: str
    # Reply prefix, but no usable In-Reply-To/References and no Thread-Index:
    # nothing but the subject says where this message belongs.
    reply_without_refs: bool
    # No reply prefix and no references: the first message of a conversation.
    opens_thread: bool
    date: datetime | None  # timezone-aware
    participants: frozenset[str]  # lower-cased addresses from From/To/Cc
    sender: str  # lower-cased From address

    def __post_init__(self) -> None:
        _require_aware(self.date, self.message_id)


# Sender clocks drift; a reply stamped a little before the message it answers
# is common enough in real archives that the fallback tolerates it.
CLOCK_SKEW = timedelta(hours=12)


def may_answer(reply: ThreadCandidate, root: ThreadCandidate) -> bool:
    """True when `reply`, which lost its references, can answer the opening message `root`.

    JWZ groups every same-subject message; that merges patch series, v1/v2
    postings and monthly reports. We link only a reference-less reply to a
    conversation's opening message with the same subject, written after it
    (within SUBJECT_WINDOW), by or to someone the opening message involved.
    """
    return (
        reply.reply_without_refs
        and root.opens_thread
        and bool(reply.norm_subject)
        and reply.norm_subject == root.norm_subject
        and reply.date is not None
        and root.date is not None
        and root.date - CLOCK_SKEW <= reply.date <= root.date + SUBJECT_WINDOW
        and _talked_to_each_other(reply, root)
    )


def best_root(reply: ThreadCandidate, roots: Iterable[ThreadCandidate]) -> str | None:
    """The opening message a reference-less reply most likely answers: the latest that fits.

    Picking one (rather than linking to every candidate) means a reply can
    never bridge two conversations that happen to share a subject.
    """
    fits = [r for r in roots if r.message_id != reply.message_id and may_answer(reply, r)]
    if not fits:
        return None
    return max(fits, key=lambda r: (r.date, r.message_id)).message_id


def _talked_to_each_other(a: ThreadCandidate, b: ThreadCandidate) -> bool:
    return bool(a.sender and a.sender in b.participants) or bool(
        b.sender and b.sender in a.participants
    )


# --- Grouping ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThreadInput:
    """One message as the grouping sees it."""

    message_id: str
    chain: tuple[str, ...]  # reference_chain(...)
    thread_key: str | None  # thread_index_key(...)
    candidate: ThreadCandidate

    def __post_init__(self) -> None:
        if self.candidate.message_id != self.message_id:
            raise ValueError(f"candidate of {self.message_id!r} is {self.candidate.message_id!r}")


def thread_input(
    message_id: str,
    *,
    in_reply_to: str | None,
    references: str | None,
    thread_index: str | None,
    subject: str | None,
    date: datetime | None,
    sender: str,
    recipients: Iterable[str],
) -> ThreadInput:
    """Build a ThreadInput from raw header values (subject decoded, addresses parsed)."""
    chain = reference_chain(message_id, parse_msgid_list(in_reply_to), parse_msgid_list(references))
    key = thread_index_key(thread_index)
    sender = sender.strip().lower()
    participants = {addr.strip().lower() for addr in recipients} | {sender}
    candidate = subject_candidate(
        message_id,
        subject,
        chain=chain,
        thread_key=key,
        date=date,
        sender=sender,
        participants=participants,
    )
    return ThreadInput(message_id, tuple(chain), key, candidate)


def subject_candidate(
    message_id: str,
    subject: str | None,
    *,
    chain: Sequence[str],
    thread_key: str | None,
    date: datetime | None,
    sender: str,
    participants: Iterable[str],
) -> ThreadCandidate:
    """The subject-fallback view of one message (addresses already lower-cased)."""
    reply = has_reply_prefix(subject)
    return ThreadCandidate(
        message_id=message_id,
        norm_subject=normalize_subject(subject),
        reply_without_refs=reply and not chain and thread_key is None,
        opens_thread=not reply and not chain,
        date=date,
        participants=frozenset(addr for addr in participants if addr) | {sender} - {""},
        sender=sender,
    )


class _Forest:
    """Union-find over string ids (path halving; union by size)."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}
        self._size: dict[str, int] = {}

    def find(self, item: str) -> str:
        parent = self._parent.setdefault(item, item)
        self._size.setdefault(item, 1)
        while parent != item:
            grand = self._parent[parent]
            self._parent[item] = grand
            item, parent = grand, self._parent[grand]
        return item

    def union(self, a: str, b: str) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return
        if self._size[root_a] < self._size[root_b]:
            root_a, root_b = root_b, root_a
        self._parent[root_b] = root_a
        self._size[root_a] += self._size[root_b]


def _first_per_id(messages: Iterable[ThreadInput]) -> dict[str, ThreadInput]:
    # The store keeps the first copy of a Message-ID and rejects later ones
    # (re-deliveries, resends); the oracle mirrors that.
    unique: dict[str, ThreadInput] = {}
    for message in messages:
        unique.setdefault(message.message_id, message)
    return unique


def _link_thread_keys(messages: Iterable[ThreadInput], forest: _Forest) -> None:
    first_with_key: dict[str, str] = {}
    for message in messages:
        if message.thread_key is not None:
            forest.union(
                first_with_key.setdefault(message.thread_key, message.message_id),
                message.message_id,
            )


def subject_links(messages: Iterable[ThreadInput]) -> Iterator[tuple[str, str]]:
    """(reply, opening message) for every lone reference-less reply the fallback places.

    Only a reply that nothing references is placed by subject: once someone
    answers it with proper references it anchors its own conversation, and
    joining that whole conversation to another on the strength of one
    subject line is a guess we do not make (on the ksummit corpus it would
    have fused a 173-message discussion into a 186-message one).
    """
    messages = list(messages)
    referenced = {ancestor for m in messages for ancestor in m.chain}
    roots: dict[str, list[ThreadCandidate]] = {}
    for m in messages:
        if m.candidate.opens_thread and m.candidate.norm_subject:
            roots.setdefault(m.candidate.norm_subject, []).append(m.candidate)
    for m in messages:
        cand = m.candidate
        if cand.reply_without_refs and m.message_id not in referenced:
            root = best_root(cand, roots.get(cand.norm_subject, ()))
            if root is not None:
                yield m.message_id, root


def group_threads(messages: Iterable[ThreadInput]) -> list[frozenset[str]]:
    """Partition the message ids into threads (the batch oracle).

    A message joins every id of its chain; ids we do not hold act as
    placeholders that still join their children (JWZ's empty containers), so
    two replies to a lost message stay together. Equal Thread-Index keys join
    too, and each lone reference-less reply joins the opening message
    `best_root` picks for it. Union-find over a fixed set of links gives the
    same partition whatever the input order. Only the first ThreadInput of a
    duplicated message_id counts. Sorted by each group's smallest id.
    """
    unique = _first_per_id(messages)
    forest = _Forest()
    for message in unique.values():
        forest.find(message.message_id)
        for ancestor in message.chain:
            forest.union(message.message_id, ancestor)
    _link_thread_keys(unique.values(), forest)
    for reply, root in subject_links(unique.values()):
        forest.union(reply, root)
    groups: dict[str, set[str]] = {}
    for message_id in unique:
        groups.setdefault(forest.find(message_id), set()).add(message_id)
    return sorted((frozenset(group) for group in groups.values()), key=min)


# --- Display tree -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TreeNode:
    """One message of a thread, as the display tree needs it."""

    message_id: str
    chain: tuple[str, ...]
    date: datetime | None  # timezone-aware
    norm_subject: str

    def __post_init__(self) -> None:
        _require_aware(self.date, self.message_id)


def _age(node: TreeNode) -> tuple[bool, datetime, str]:
    """Sort key: dated before undated, then by date, then by message id."""
    return (node.date is None, node.date or _DATE_FLOOR, node.message_id)


def _nearest_present(node: TreeNode, present: Mapping[str, TreeNode]) -> str | None:
    for ancestor in reversed(node.chain):
        if ancestor != node.message_id and ancestor in present:
            return ancestor
    return None


def _cut_cycles(parents: dict[str, str | None], present: Mapping[str, TreeNode]) -> None:
    """Make the oldest member of every parent cycle a root.

    Bogus References (a client pasting a later message's id) can make a and b
    each other's ancestor. Each node has one parent, so cycles are disjoint and
    cutting one edge per cycle, chosen by date then id, is order-independent.
    """
    settled: set[str] = set()
    for start in sorted(parents):
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node is not None and node not in settled and node not in on_path:
            path.append(node)
            on_path.add(node)
            node = parents[node]
        if node is not None and node in on_path:
            cycle = path[path.index(node) :]
            parents[min(cycle, key=lambda mid: _age(present[mid]))] = None
        settled.update(path)


def _adopt_roots(parents: dict[str, str | None], present: Mapping[str, TreeNode]) -> None:
    """Hang every dated root under the thread's earliest dated root.

    A thread joined through a missing message, a Thread-Index or a subject link
    has several roots; reading it as one conversation needs one top message.
    The earliest root has no earlier root, so no cycle can arise.
    """
    roots = sorted(
        (present[mid] for mid, parent in parents.items() if parent is None),
        key=_age,
    )
    dated = [node for node in roots if node.date is not None]
    for node in dated[1:]:
        parents[node.message_id] = dated[0].message_id


def build_tree(nodes: Sequence[TreeNode]) -> dict[str, str | None]:
    """Display parent of each message of one thread (None for the root(s)).

    The parent is the nearest ancestor in the chain that is present, so the
    children of a missing message hang under the nearest present ancestor.
    Parent cycles are cut, then dated roots are hung under the earliest one.
    Undated roots stay roots. Deterministic whatever the order of `nodes`
    (for a repeated message_id the first node counts).
    """
    present: dict[str, TreeNode] = {}
    for node in nodes:
        present.setdefault(node.message_id, node)
    parents = {mid: _nearest_present(present[mid], present) for mid in sorted(present)}
    _cut_cycles(parents, present)
    _adopt_roots(parents, present)
    return parents


def order_for_display(
    nodes: Sequence[TreeNode], parents: Mapping[str, str | None]
) -> list[tuple[str, int]]:
    """Depth-first reading order as (message_id, depth); siblings by date then id.

    A node whose parent is absent from `nodes` is a root. Every node appears
    exactly once, even if `parents` (not from build_tree) holds a cycle.
    """
    present = {node.message_id: node for node in reversed(nodes)}
    children: dict[str | None, list[TreeNode]] = {}
    for mid, node in present.items():
        parent = parents.get(mid)
        children.setdefault(parent if parent in present else None, []).append(node)
    for siblings in children.values():
        siblings.sort(key=_age)
    order: list[tuple[str, int]] = []
    seen: set[str] = set()
    starts = [node.message_id for node in children.get(None, [])]
    # Nodes on a foreign cycle are reachable from no root: start there last.
    starts += [node.message_id for node in sorted(present.values(), key=_age)]
    for start in starts:
        if start not in seen:
            _walk(start, children, seen, order)
    return order


def _walk(
    start: str,
    children: Mapping[str | None, list[TreeNode]],
    seen: set[str],
    order: list[tuple[str, int]],
) -> None:
    # Iterative: deep reply chains (57 levels on the cgroups corpus, more in
    # the wild) must not depend on the recursion limit.
    stack = [(start, 0)]
    while stack:
        mid, depth = stack.pop()
        if mid in seen:
            continue
        seen.add(mid)
        order.append((mid, depth))
        stack.extend((child.message_id, depth + 1) for child in reversed(children.get(mid, [])))
