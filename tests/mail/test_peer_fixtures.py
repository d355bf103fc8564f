"""Every mail file that peer projects test with parses, and its text trims, without an error.

The files come from tests/support/peers.py (fetched by `make test`, never committed):
talon, HyperKitty, Mailman, mail-parser and salmon-mail source distributions
and the email-reply-parser npm package. They include malformed, misencoded
and real phishing mail, so this is a robustness test on hostile input:
`parse_message` must give str fields and record no internal "parser error"
(it catches its own exceptions and notes them as defects, so the defect list
is where an exception would show), and the trimmer must accept the bare
bodies and HTML fragments some peers keep beside their messages.
"""

from __future__ import annotations

import pytest

from mail.html import html_to_text
from mail.parse import ParsedMessage, parse_message
from mail.trim import split_reply
from tests.support.peers import PEERS, Fixture, fixtures, messages, peer_root, skip_reason

pytestmark = pytest.mark.peers


def _problems(parsed: ParsedMessage) -> list[str]:
    """What is wrong with a parse result: non-str fields or a swallowed exception."""
    fields = {
        "subject": parsed.subject,
        "text": parsed.text,
        "visible_text": parsed.visible_text,
        "quoted_text": parsed.quoted_text,
        "signature": parsed.signature,
    }
    found = [
        f"{name} is {type(value).__name__}"
        for name, value in fields.items()
        if not isinstance(value, str)
    ]
    if parsed.html is not None and not isinstance(parsed.html, str):
        found.append("html is not str")
    found += [d for d in parsed.defects if d.startswith(("parser error", "message too complex"))]
    if parsed.text.strip() and not parsed.visible_text.strip():
        found.append("visible text empty although the text is not")
    return found


def _check(fixture: Fixture) -> list[str]:
    """Problems found in one fixture file, each prefixed with where it was found."""
    problems = []
    for ref, raw in messages(fixture):
        problems += [f"{ref}: {problem}" for problem in _problems(parse_message(raw))]
    if fixture.kind in ("text", "html"):
        # Bare bodies (email-reply-parser's and talon's fixtures) go straight to the trimmer.
        text = fixture.path.read_bytes().decode("utf-8", "replace")
        if fixture.kind == "html":
            text = html_to_text(text)
        parts = split_reply(text)
        if not all(isinstance(part, str) for part in parts):
            problems.append(f"{fixture.ref}: split_reply gave {parts!r}")
        elif text.strip() and not parts[0].strip():
            problems.append(f"{fixture.ref}: split_reply left nothing visible")
    return problems


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_peer_mail_parses(peer: str) -> None:
    """Each fixture file of the peer parses to str fields with no swallowed exception."""
    if peer_root(peer) is None:
        pytest.skip(skip_reason([peer]))
    found = fixtures(peer)
    assert found, f"no fixture files found for {peer}: has the package layout changed?"
    problems = [problem for fixture in found for problem in _check(fixture)]
    assert not problems, "\n".join(problems)


def test_every_peer_ships_mail() -> None:
    """The fixture lists are not silently empty: each peer contributes real messages."""
    if missing := [name for name in PEERS if peer_root(name) is None]:
        pytest.skip(skip_reason(missing))
    kinds = {name: {fixture.kind for fixture in fixtures(name)} for name in PEERS}
    assert all(kinds[name] & {"message", "mbox"} for name in PEERS if name != "email-reply-parser")
    assert "text" in kinds["email-reply-parser"]
