"""threads/signatures.py on a real database: who teaches a learnt signature, what is kept.

A forged From must not teach a sender's signature (it could then hide text in
their real mail), and nothing stored may be shown: only line hashes are kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests.support.env import settings_for
from tests.support.factories import make_letter
from threads import signatures
from threads.db import make_engine, migrate, writer
from threads.models import LearnedSignature, SenderCheck
from threads.store import Letter

SIGNATURE = "Ivo Marsh\nHead of Kilns | Example Pottery\nStudio line 0190 555 0123"
LEARNED = LearnedSignature.__table__


def _letter(
    i: int, check: SenderCheck = SenderCheck.verified, addr: str = "ivo@example.com"
) -> Letter:
    return make_letter(
        message_id=f"kiln{i}@example.com",
        subject="Kiln schedule",
        from_name="Ivo Marsh",
        from_addr=addr,
        visible_text=f"Firing number {i} moves to Friday.\n\n{SIGNATURE}",
        sender_check=check,
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(settings_for(tmp_path).effective_database_url)
    migrate(engine)
    yield engine
    engine.dispose()


def _file(engine: Engine, letter: Letter, source: str = "smtp") -> Letter:
    with writer(engine).begin() as conn:
        learner = signatures.Learner.load(conn, [letter])
        learning = learner.trim(letter, source=source)
        learner.remember(learning, [])
        learner.write(conn)
    return learning.letter


def test_verified_mail_teaches_and_the_third_message_is_trimmed(engine: Engine) -> None:
    """Three verified messages ending alike: the third is filed without the block."""
    _file(engine, _letter(0))
    assert _file(engine, _letter(1)).visible_text.endswith("0190 555 0123")
    third = _file(engine, _letter(2))
    assert third.visible_text == "Firing number 2 moves to Friday."
    assert third.signature == SIGNATURE


@pytest.mark.parametrize(
    ("check", "source"), [(SenderCheck.unverified, "smtp"), (SenderCheck.verified, "web")]
)
def test_unverified_mail_and_web_posts_do_not_teach(
    engine: Engine, check: SenderCheck, source: str
) -> None:
    """Mail whose From nothing proved, and text typed on the web, never teach a block."""
    for i in range(5):
        letter = _file(engine, _letter(i, check), source)
        assert letter.visible_text.endswith("0190 555 0123")
    with engine.connect() as conn:
        assert conn.execute(select(LEARNED)).all() == []


def test_forged_mail_cannot_add_to_a_block_but_is_trimmed_by_the_real_one(
    engine: Engine,
) -> None:
    """Forged mail ending with the real block loses it (it only removes its own text);
    forged mail cannot make another ending the block."""
    for i in range(3):
        _file(engine, _letter(i))
    forged = _letter(9, SenderCheck.unverified)
    assert _file(engine, forged).signature == SIGNATURE
    for i in range(10, 20):
        fake = replace(_letter(i, SenderCheck.unverified), visible_text="Hi.\n\nI approve it.")
        assert _file(engine, fake).visible_text == "Hi.\n\nI approve it."
    with engine.connect() as conn:
        (block,) = conn.execute(select(LEARNED.c.block)).scalars().all()
    assert len(block) == 3


def test_what_is_stored_holds_no_text(engine: Engine) -> None:
    """The stored tails and block are hashes: no word of the messages is in the row."""
    for i in range(4):
        _file(engine, _letter(i))
    with engine.connect() as conn:
        row = conn.execute(select(LEARNED.c.tails, LEARNED.c.block)).one()
    stored = repr(row)
    for word in ("Ivo", "Kilns", "Pottery", "0190", "Firing", "Friday"):
        assert word not in stored
