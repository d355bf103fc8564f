"""Learnt signatures at filing: each sender address's block, kept up to date as mail comes.

Filing, not display, is where the learnt block is applied: the visible text is
what the thread page, search (index and snippets), feeds, exports, experts and
the copies mailed to subscribers all read, so trimming it once keeps them in
agreement and costs a small row read and write per sender and batch, where trimming at
display would repeat the work on every page and leave search matching a
signature the page no longer shows. The trimmed lines move to the message's
signature, shown behind "Show signature"; the raw bytes are never changed.

Learning sees only mail from the same address (not a person's other addresses:
nothing here proves two addresses are one person), and only mail whose sender
was not found unverified, so a forged From cannot teach someone else's
signature and hide text in their real mail. Web posts and automatic replies
neither teach nor are taught (they are not written in the sender's mail client).

When a sender's block is first learnt or changes, their messages that taught it
(the last WINDOW) are trimmed too, after the batch's search index is written;
older mail is trimmed by `bridge reprocess --all`, which keeps the table and so
knows each sender's block from their first message on. A message trimmed with
an older block is left as it is.

A withdrawn message leaves its sender's tails (`forget`); the block is learnt
again without it, and mail it already trimmed stays trimmed.

What a reader can infer: that lines they can already read at the end of a
message also end most of the sender's recent mail (the lines moved under "Show
signature"), wherever that mail was filed; never any text they cannot read.
Two workers filing the same sender at once (PostgreSQL) may each add a tail and
the later write keep only its own: one message fewer to learn from, nothing more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from mail.trim.learned import WINDOW, Tail, learn, remove_learned, tail_of
from threads import search
from threads.db import upsert
from threads.models import LearnedSignature, Message, SenderCheck, utcnow
from threads.store import Letter

LEARNED = LearnedSignature.__table__
M = Message.__table__
# Built once: filing runs these for every message.
_READ = select(LEARNED.c.address, LEARNED.c.tails, LEARNED.c.block).where(
    LEARNED.c.address.in_(bindparam("keys", expanding=True))
)
# Addresses read in one statement (SQLite allows 32,766 parameters).
_READ_CHUNK = 500
_WRITE = (
    update(LEARNED)
    .where(LEARNED.c.address == bindparam("key"))
    .values(tails=bindparam("tails"), block=bindparam("block"), updated_at=bindparam("at"))
)
# Sources whose text the sender did not write in their mail client.
_NOT_TAUGHT_BY = frozenset({"web"})


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str
    pks: tuple[int, ...]
    tail: Tail

    def to_json(self) -> dict[str, Any]:
        return {"m": self.key, "p": list(self.pks), **self.tail.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Entry:
        pks = data.get("p")
        return cls(
            str(data.get("m", "")),
            tuple(int(p) for p in pks) if isinstance(pks, list) else (),
            Tail.from_json(data),
        )


@dataclass(frozen=True, slots=True)
class Learning:
    """One message's part in its sender's learning, between trimming and filing."""

    letter: Letter
    address: str = ""
    # Set when the message teaches: the sender's tails with this one, and the block.
    entries: tuple[_Entry, ...] | None = None
    block: tuple[str, ...] = ()
    changed: bool = False


@dataclass(slots=True)
class _Sender:
    entries: tuple[_Entry, ...]
    block: tuple[str, ...]


class Learner:
    """A batch's learning: its senders' rows read in one statement, the rows it changed
    written back in one (`write`), instead of a read and a write per message (a fifth
    of filing's time on a bulk import). Messages of one sender in the batch learn from
    each other in order, as if each had been filed alone."""

    def __init__(self, senders: dict[str, _Sender]) -> None:
        self._senders = senders
        self._changed: set[str] = set()

    @classmethod
    def load(cls, conn: Connection, letters: Iterable[Letter]) -> Learner:
        addresses = sorted({a for a in (letter.from_addr.lower() for letter in letters) if a})
        senders: dict[str, _Sender] = {}
        for start in range(0, len(addresses), _READ_CHUNK):
            chunk = addresses[start : start + _READ_CHUNK]
            for row in conn.execute(_READ, {"keys": chunk}):
                senders[row.address] = _Sender(
                    tuple(_Entry.from_json(e) for e in row.tails), tuple(str(k) for k in row.block)
                )
        return cls(senders)

    def trim(self, letter: Letter, *, source: str, tail: Tail | None = None) -> Learning:
        """`letter` with its sender's learnt block moved from its visible text to its
        signature (the block learnt with this message among the sender's latest);
        `tail` is `tail_of(letter.visible_text)` when the caller has it already."""
        address = letter.from_addr.lower()
        if not address:
            return Learning(letter)
        sender = self._senders.get(address)
        stored = sender.block if sender is not None else ()
        if _teaches(letter, source):
            key = _message_key(letter.message_id)
            entries = (
                *[e for e in (sender.entries if sender else ()) if e.key != key],
                _Entry(key, (), tail if tail is not None else tail_of(letter.visible_text)),
            )[-WINDOW:]
            block = learn([e.tail for e in entries])
            learning = Learning(letter, address, entries, block, changed=block != stored)
        else:
            learning = Learning(letter, address, None, stored)
        return replace(learning, letter=_trimmed(letter, learning.block))

    def remember(self, learning: Learning, message_pks: Sequence[int]) -> str | None:
        """Keep what `learning` taught, with the pks the message was filed as; the
        sender's address when their block is new or changed (their latest mail needs
        `refresh` once the batch is written)."""
        if learning.entries is None:
            return None
        last = learning.entries[-1]
        entries = (*learning.entries[:-1], replace(last, pks=tuple(message_pks)))
        self._senders[learning.address] = _Sender(entries, learning.block)
        self._changed.add(learning.address)
        return learning.address if learning.changed and learning.block else None

    def write(self, conn: Connection) -> None:
        """Store the rows this batch changed (before `refresh`, which reads them)."""
        if not self._changed:
            return
        at = utcnow()
        rows = [
            {
                "address": address,
                "tails": [e.to_json() for e in self._senders[address].entries],
                "block": list(self._senders[address].block),
                "updated_at": at,
            }
            for address in sorted(self._changed)
        ]
        conn.execute(upsert(conn, LEARNED, ["address"], ["tails", "block", "updated_at"]), rows)
        self._changed.clear()


def refresh(conn: Connection, addresses: Iterable[str], *, skip: Collection[int] = ()) -> int:
    """Trim the messages that taught each address its block (not those in `skip`) and
    re-index them; how many changed. Call after the batch's index entries are written."""
    changed = 0
    for address in sorted(set(addresses)):
        row = conn.execute(_READ, {"keys": [address]}).first()
        if row is None or not row.block:
            continue
        pks = {p for e in row.tails for p in _Entry.from_json(e).pks} - set(skip)
        changed += _trim_stored(conn, sorted(pks), tuple(str(k) for k in row.block))
    return changed


def forget(conn: Connection, address: str, message_pks: Collection[int]) -> None:
    """Take withdrawn messages out of their sender's tails and learn the block again."""
    row = conn.execute(_READ, {"keys": [address.lower()]}).first()
    if row is None:
        return
    gone = set(message_pks)
    entries = [e for e in map(_Entry.from_json, row.tails) if not gone.intersection(e.pks)]
    if len(entries) == len(row.tails):
        return
    conn.execute(
        _WRITE,
        {
            "key": address.lower(),
            "tails": [e.to_json() for e in entries],
            "block": list(learn([e.tail for e in entries])),
            "at": utcnow(),
        },
    )


def _trim_stored(conn: Connection, pks: Sequence[int], block: tuple[str, ...]) -> int:
    if not pks:
        return 0
    rows = conn.execute(
        select(M.c.id, M.c.subject, M.c.from_name, M.c.visible_text, M.c.signature).where(
            M.c.id.in_(pks), M.c.placeholder.is_(False), M.c.withdrawn_at.is_(None)
        )
    ).all()
    entries = []
    for r in rows:
        kept, removed = remove_learned(r.visible_text or "", block)
        if not removed:
            continue
        conn.execute(
            update(M)
            .where(M.c.id == r.id)
            .values(visible_text=kept, signature=_joined(removed, r.signature or ""))
        )
        search.unindex_message(conn, r.id)
        entries.append(search.index_entry(r.id, r.subject or "", kept, r.from_name or ""))
    search.index_messages(conn, entries)
    return len(entries)


def _teaches(letter: Letter, source: str) -> bool:
    return (
        source not in _NOT_TAUGHT_BY
        and not letter.auto_reply
        and letter.sender_check != SenderCheck.unverified
    )


def _trimmed(letter: Letter, block: tuple[str, ...]) -> Letter:
    kept, removed = remove_learned(letter.visible_text, block)
    if not removed:
        return letter
    return replace(letter, visible_text=kept, signature=_joined(removed, letter.signature))


def _joined(removed: str, signature: str) -> str:
    return removed.strip("\n") + ("\n\n" + signature if signature.strip() else "")


def _message_key(message_id: str) -> str:
    """A message's key among its sender's tails: a re-filed message replaces its entry."""
    return hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
