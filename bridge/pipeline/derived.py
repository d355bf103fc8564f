"""What filing needs of a message's parsed text alone, worked out beside its parse.

A bulk import is as fast as its filing, which runs in one process while the
parse children run beside it on the other cores. The search analysis of the
text (words, stems, language) and the tail a learnt signature is learnt from
depend on the parsed message only, so the parse child works them out too, and
filing uses them when the text it files is still the parsed one (a learnt
signature may have trimmed it; then filing works them out again).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mail.parse import ParsedMessage
from mail.trim.learned import Tail, tail_of
from threads.search.analysis import IndexEntry, analyse, index_entry
from threads.store import Letter


@dataclass(frozen=True, slots=True)
class Derived:
    subject: str
    text: str
    sender_name: str
    entry: IndexEntry  # analysed, without its message's pk
    tail: Tail

    def tail_for(self, letter: Letter) -> Tail | None:
        return self.tail if letter.visible_text == self.text else None

    def entry_for(self, message_pk: int, letter: Letter) -> IndexEntry | None:
        made_from = (letter.subject, letter.visible_text, letter.from_name)
        if made_from != (self.subject, self.text, self.sender_name):
            return None
        return replace(self.entry, message_pk=message_pk)


def derive(parsed: ParsedMessage) -> Derived:
    name = parsed.from_.name if parsed.from_ else ""
    entry = index_entry(0, parsed.subject, parsed.visible_text, name)
    return Derived(
        parsed.subject,
        parsed.visible_text,
        name,
        replace(entry, analysed=analyse(entry)),
        tail_of(parsed.visible_text),
    )
