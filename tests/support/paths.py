"""Where the test data lives, so no test finds it relative to its own file."""

from __future__ import annotations

import email
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
MAIL_SAMPLES = TESTS / "data" / "mail"
# One bounce (or look-alike) per MTA style, with expected.toml beside them.
BOUNCE_SET = TESTS / "data" / "bounces"
# CPython's own test_email messages, when the interpreter ships its test suite.
STDLIB_MAIL = Path(email.__file__).parent.parent / "test" / "test_email" / "data"
REGRESSIONS = TESTS / "regressions"
HOSTILE_HTML = TESTS / "web" / "browser" / "hostile"
# Browser tests cache axe-core here (ignored by git).
BROWSER_CACHE = TESTS / "web" / "browser" / ".cache"
# ../shared beside the clone: real mailing-list mail, absent from a user's clone.
CORPORA = ROOT.parent / "shared" / "corpora"
