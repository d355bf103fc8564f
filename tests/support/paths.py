"""Where the test data lives, so no test finds it relative to its own file."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
MAIL_SAMPLES = TESTS / "data" / "mail"
REGRESSIONS = TESTS / "regressions"
HOSTILE_HTML = TESTS / "web" / "browser" / "hostile"
# Browser tests cache axe-core here (ignored by git).
BROWSER_CACHE = TESTS / "web" / "browser" / ".cache"
# ../shared beside the clone: real mailing-list mail, absent from a user's clone.
CORPORA = ROOT.parent / "shared" / "corpora"
