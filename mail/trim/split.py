"""split_reply: the three conventions (top-posting, bottom-posting, interleaving) put
together."""

from __future__ import annotations

from mail.trim.attribution import WRAPPED_ADDRESS_END, attribution_at, line_ends
from mail.trim.history import (
    forward_start,
    history_start,
    is_header_block,
    line_starts,
    outlook_history_start,
)
from mail.trim.signature import split_signature
from mail.trim.text import (
    QUOTE_START,
    TEXT_LINE,
    clean,
    first_quote_line,
    has_text,
    is_quote,
    line_at,
)


def split_reply(text: str) -> tuple[str, str, str]:
    """(visible, quoted, signature) of a message body; visible is empty only for empty text."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    text = text.rstrip()
    if not text:
        return "", "", ""
    # Top-posting markers and forwards are looked for above the first quoted line only:
    # one below a quote block belongs to an interleaved answer or to the history itself.
    # This also keeps long quoted list mail cheap to scan.
    first_quote = first_quote_line(text)
    region = len(text) if first_quote is None else first_quote
    ends = line_ends(text, region)
    rules, from_lines = line_starts(text, region)
    limit = forward_start(text, ends, rules)
    history = history_start(text, min(limit, region), ends, rules, from_lines)
    if history is None and region < limit:
        history = outlook_history_start(text, region, limit)
    if history is not None:
        # Top-posting: everything from the marker on is history, forwards in it included.
        head, signature = split_signature(text[:history].rstrip())
        quoted, tail = text[history:], ""
    else:
        head, quoted, signature = _split_bottom(text[:limit].rstrip(), first_quote)
        tail = text[limit:]
    if not head.strip() and not tail.strip():
        # Everything looked quoted: show it rather than an empty message.
        head, quoted = quoted, ""
    visible = head.rstrip() + ("\n\n" + tail if tail.strip() else "")
    return clean(visible), clean(quoted), clean(signature)


# --- bottom-posting and interleaving ----------------------------------------------------------


def _split_bottom(body: str, first_quote: int | None) -> tuple[str, str, str]:
    """(head, quoted, signature) when no top-posting marker was found; `first_quote` is
    where the first quote line starts, if any."""
    cut = _trailing_quote_start(body, len(body))
    if cut is not None:
        head, signature = split_signature(body[:cut].rstrip())
        return head, body[cut:], signature
    # Bottom-quoting with a signature after the quotes: the block is trailing
    # once the signature is set aside.
    head, signature = split_signature(body)
    cut = _trailing_quote_start(head, len(head))
    if cut is not None:
        return head[:cut], head[cut:], signature
    end = None if first_quote is None else _leading_quote_end(head, first_quote)
    if end is not None:
        return head[end:], head[:end], signature
    return head, "", signature


def _trailing_quote_start(text: str, limit: int) -> int | None:
    """Start of the trailing "> " block before `limit`, with the attribution above it."""
    region = text[:limit].rstrip()
    if not is_quote(region[region.rfind("\n") + 1 :]):
        return None  # the common case, decided without reading the text
    # The block starts at the first quote line under the last line of the author's
    # text: a line neither blank nor quoted, nor one a client re-wrapped between two
    # quote lines. The regex finds the candidates; the last few are checked.
    boundary = 0
    for match in reversed(list(TEXT_LINE.finditer(region))):
        line = line_at(region, match.end())
        if not _is_wrapped_quote(region, match.end(), line):
            boundary = match.end() + len(line)
            break
    else:
        first = line_at(region, 0)
        if first.strip() and not is_quote(first):
            boundary = len(first)
    found = QUOTE_START.search(region, max(boundary - 1, 0))
    if found is None:
        return None
    block_start = found.start() + (region[found.start()] == "\n")
    return _attribution_start(region, block_start)


def _leading_quote_end(text: str, block_start: int) -> int | None:
    """End of a single quote block that opens the message with only an attribution (or an
    Outlook header block) above it and only the author's answer below (bottom-posting).
    Several quote blocks with answers between them are an interleaved reply and stay."""
    if block_start >= len(text):
        return None
    above = text[:block_start].strip()
    if above and not (
        (above.count("\n") <= 2 and not has_text(text, _attribution_start(text, block_start)))
        or (len(above) < 2000 and is_header_block(above))
    ):
        return None  # more above the quotes than an attribution or a header block
    end = len(text)
    for match in TEXT_LINE.finditer(text, block_start):
        line = line_at(text, match.end())
        if not _is_wrapped_quote(text, match.end(), line):
            end = match.end()
            break
    rest = text[end:]
    if not rest.strip() or first_quote_line(rest) is not None:
        return None
    return end


def _is_wrapped_quote(text: str, start: int, line: str) -> bool:
    """A line that lost its ">" when a client re-wrapped a long quoted line."""
    if start == 0:
        return False
    above = line_at(text, text.rfind("\n", 0, start - 1) + 1)
    below = line_at(text, start + len(line) + 1)
    return is_quote(above) and is_quote(below)


def _attribution_start(text: str, start: int) -> int:
    """Move `start` up to an attribution ("On ..., X wrote:") right above the block."""
    first = line_at(text, start)
    if WRAPPED_ADDRESS_END.fullmatch(first) and start > 0:
        # Gmail wrapped "... Ben <ben@example.org" / ">:" and the block seems to start
        # with a quote line ">:" that is really the attribution's end.
        found = attribution_at(text, start, start + len(first))
        if found is not None:
            return found[0]
    before = text[:start].rstrip()
    if not before:
        return start
    line_start = before.rfind("\n") + 1
    found = attribution_at(before, line_start, len(before))
    return start if found is None else found[0]
