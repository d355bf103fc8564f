"""Fuzzing evidence: every input that ever broke the parser, and a short fuzz run.

The long coverage-guided run is local (tests/support/fuzz_parse.py with atheris); what
it finds is kept under tests/regressions/ and replayed here with the same
check: no internal error, valid Unicode out, and within a time bound.
"""

from __future__ import annotations

import email
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fuzz_parse import MAX_SECONDS, check
from tests.support.paths import MAIL_SAMPLES
from tests.support.paths import REGRESSIONS as TEST_REGRESSIONS

REGRESSIONS = TEST_REGRESSIONS
SEEDS = [
    path.read_bytes()
    for folder, pattern in (
        (MAIL_SAMPLES, "*.eml"),
        (Path(email.__file__).parent.parent / "test" / "test_email" / "data", "msg_*.txt"),
        (REGRESSIONS, "*"),
    )
    if folder.is_dir()
    for path in sorted(folder.glob(pattern))
    if path.suffix != ".md"
]


@pytest.mark.parametrize(
    "path", sorted(p for p in REGRESSIONS.iterdir() if p.suffix != ".md"), ids=lambda p: p.name
)
def test_regression_inputs_stay_fixed(path: Path) -> None:
    """An input that once crashed, hung or leaked surrogates now parses cleanly and quickly."""
    started = time.monotonic()
    check(path.read_bytes())
    assert time.monotonic() - started < MAX_SECONDS


# Byte-level mutations in the style of a fuzzer: overwrite, insert, delete,
# duplicate a chunk, splice in a piece of another seed.
_mutation = st.tuples(
    st.sampled_from(["overwrite", "insert", "delete", "duplicate", "splice"]),
    st.floats(0, 1),
    st.binary(min_size=1, max_size=16),
    st.integers(1, 400),
    st.sampled_from(range(len(SEEDS))),
)


def _mutate(raw: bytes, mutations: list[tuple[str, float, bytes, int, int]]) -> bytes:
    data = bytearray(raw)
    for kind, where, junk, length, other in mutations:
        at = int(where * len(data))
        if kind == "overwrite":
            data[at : at + len(junk)] = junk
        elif kind == "insert":
            data[at:at] = junk
        elif kind == "delete":
            del data[at : at + length]
        elif kind == "duplicate":
            data[at:at] = data[at : at + length] * 3
        else:
            piece = SEEDS[other]
            start = int(where * len(piece))
            data[at:at] = piece[start : start + length]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SEEDS))), st.lists(_mutation, min_size=1, max_size=8))
def test_short_fuzz_of_real_and_sample_mail(
    seed: int, mutations: list[tuple[str, float, bytes, int, int]]
) -> None:
    """Mutated sample mail (ours, CPython's, past regressions) passes the fuzz check."""
    check(_mutate(SEEDS[seed], mutations))
