"""The parser's fuzz target: what every input must satisfy, and a coverage-guided runner.

`check(raw)` is the oracle shared by the test suite (tests/mail/test_fuzz.py replays
tests/regressions/ and runs a short hypothesis fuzz through it) and by the
long local run with atheris (libFuzzer), which is not part of the suite:

    .venv/bin/pip install -e '.[fuzz]'
    mkdir -p bench/out/fuzz-corpus
    .venv/bin/python tests/support/fuzz_parse.py -max_total_time=900 -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix=bench/out/fuzz- bench/out/fuzz-corpus tests/data/mail

Every crash or timeout file it writes (`bench/out/fuzz-crash-*`,
`fuzz-timeout-*`) is a bug: fix it and keep the file under tests/regressions/
(named after what it broke), where the suite replays it forever.

`check` calls the parser below `parse_message`'s catch-all, so an internal
exception is a failure here rather than a swallowed "parser error" defect.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mail.classify import classify
from mail.parse import ParsedMessage, _parse

MAX_SECONDS = 10.0


def check(raw: bytes) -> ParsedMessage:
    """Parse `raw` without the safety net; every text that comes out must be valid Unicode."""
    parsed = _parse(raw, [])
    classify(parsed)
    assert_valid_unicode(parsed)
    for attachment in parsed.attachments:
        if attachment.nested is not None:
            # The summary came from parse_message, whose catch-all hides errors: parse again bare.
            assert_valid_unicode(_parse(attachment.payload, [], 1))
    return parsed


def assert_valid_unicode(parsed: ParsedMessage) -> None:
    """Everything a page or a JSON client gets encodes as UTF-8 (no lone surrogates)."""
    json.dumps(parsed.to_json(), ensure_ascii=False).encode("utf-8")
    for name, value in parsed.headers:
        (name + value).encode("utf-8")
    for address in [parsed.from_, *parsed.to, *parsed.cc, *parsed.reply_to]:
        if address is not None:
            (address.name + address.address).encode("utf-8")
    for attachment in parsed.attachments:
        (attachment.filename or "").encode("utf-8")
        (attachment.content_id or "").encode("utf-8")
    assert not any(d.startswith("parser error") for d in parsed.defects), parsed.defects


def _one_input(data: bytes) -> None:
    check(data)


def main() -> None:
    import atheris  # optional: the `fuzz` extra

    atheris.instrument_all()
    atheris.Setup(sys.argv, _one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
