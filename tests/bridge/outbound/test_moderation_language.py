"""Held-mail and moderation mail in the recipient's language, end to end by SMTP.

Each notice (to a moderator, the digest of held mail, the answer's confirmation,
to a held sender, the rejection) follows the person's saved choice; whoever chose
nothing gets English. The answer words stay English in every language, and an
answer to a translated notice decides exactly as one to an English notice.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import update

from bridge import admin
from bridge.core import Core
from bridge.moderation import record_decision
from bridge.outbound.sender import Sender
from tests.support import replies
from tests.support.moderation import (
    MODERATOR,
    OUTSIDER,
    answer,
    hold_one,
    notices_to,
    open_moderation_core,
    round_trip,
    state_of,
    two_in_a_digest,
)
from tests.support.replies import mail_to
from threads.db import writer
from threads.models import Person, RawState

P = Person.__table__
SECOND = "max@example.com"  # a second moderator of eng, who chose no language


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Core]:
    c = open_moderation_core(tmp_path / "data")
    with writer(c.engine).begin() as conn:
        admin.set_member(conn, "eng", SECOND, "moderator", actor="test")
    yield c
    c.close()


smtp_port = replies.smtp_port


def choose(core: Core, email: str, locale: str) -> None:
    """The saved choice, as the web's language switch stores it (a person row is made)."""
    with writer(core.engine).begin() as conn:
        if conn.execute(update(P).where(P.c.email == email).values(locale=locale)).rowcount == 0:
            conn.execute(P.insert().values(email=email, name="", locale=locale))


def text(m: EmailMessage) -> str:
    """The plain part, its line ends as Python writes them (base64 parts keep CRLF)."""
    body = m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return str(body).replace("\r\n", "\n")


def test_the_held_notice_in_each_moderators_language(core: Core, smtp_port: int) -> None:
    """Mona chose German, Max nothing: one held message, a German and an English notice;
    Mona's German notice still takes the English answer word and confirms in German."""
    choose(core, MODERATOR, "de")
    raw_id = hold_one(core, smtp_port)
    Sender(core.engine, core.settings).run_once()
    (german,) = notices_to(core, MODERATOR)
    (english,) = notices_to(core, SECOND)
    assert str(german["Subject"]) == "Zur Moderation zurückgehalten: Vendor offer"
    assert str(english["Subject"]) == "Held for moderation: Vendor offer"
    body = text(german)
    assert "Eine Nachricht an Engineering wurde zurückgehalten" in body
    assert f"Von: {OUTSIDER}\nBetreff: Vendor offer\n" in body
    # The words a moderator answers with are shown as the parser reads them.
    assert "\n\n  approve\n\n" in body
    assert "\n\n  reject Passt nicht zum Thema dieser Liste\n" in body
    assert '<html lang="de">' in german.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "A message to Engineering is held and waits for a moderator." in text(english)

    answer(smtp_port, german, "approve\n")
    round_trip(core)
    assert state_of(core, raw_id) == RawState.done
    (confirmation,) = [
        m
        for m in mail_to(core, MODERATOR)
        if m not in (german,) and "Moderation:" in str(m["Subject"])
    ]
    assert (
        str(confirmation["Subject"]) == f"Moderation: „approve“ für Nachricht {raw_id} ausgeführt"
    )
    assert "Ihre Antwort wurde gelesen:" in text(confirmation)


def test_the_digest_in_japanese_still_answers_in_english_words(core: Core, smtp_port: int) -> None:
    """A digest for a moderator who chose Japanese: Japanese subject and text, command
    lines untouched; "approve all" answering it publishes both entries."""
    choose(core, MODERATOR, "ja")
    a, b = two_in_a_digest(core, smtp_port)
    digest = next(m for m in notices_to(core, MODERATOR) if "2" in str(m["Subject"]))
    assert str(digest["Subject"]) == "Engineering でモデレーション待ちの保留中のメッセージ 2 件"
    body = text(digest)
    assert "Engineering 宛てのメッセージ 2 件が保留され" in body
    assert "  approve 1 3\n  reject 2 このリストの話題とは関係ありません\n  approve all\n" in body
    assert body.count("返信先アドレス: moderate+") == 2
    assert "承認: mailto:" in body
    assert "?subject=approve&body=approve" in body
    (english,) = [m for m in notices_to(core, SECOND) if "2 messages" in str(m["Subject"])]
    assert str(english["Subject"]) == "2 messages held for moderation in Engineering"
    answer(smtp_port, digest, "approve all\n")
    round_trip(core)
    assert (state_of(core, a), state_of(core, b)) == (RawState.done, RawState.done)


def test_the_held_sender_hears_in_their_language(core: Core, smtp_port: int) -> None:
    """Olga chose German: "waiting" and the rejection (the moderator's reason verbatim)
    in German; Pat chose nothing and reads English. A subject that looks like a
    placeholder is shown as written, never filled in."""
    offer = "20% off %(community)s"
    pat = "pat@partner.example"
    choose(core, OUTSIDER, "de")
    olga_id = hold_one(core, smtp_port, offer)
    pat_id = hold_one(core, smtp_port, "Another offer", sender=pat)
    round_trip(core)
    (waiting,) = mail_to(core, OUTSIDER)
    assert str(waiting["Subject"]) == f"Wartet auf einen Moderator: {offer}"
    assert f"Ihre Nachricht „{offer}“ an Engineering wartet auf einen Moderator." in text(waiting)
    assert "höchstens einmal am Tag" in text(waiting)
    (english,) = mail_to(core, pat)
    assert str(english["Subject"]) == "Waiting for a moderator: Another offer"
    # Rejected as the /admin/held button does it (by mail, pat's would wait out the hour).
    with writer(core.engine).begin() as conn:
        for raw_id in (olga_id, pat_id):
            record_decision(
                conn,
                core.settings,
                raw_id,
                "reject",
                actor="web:max@example.com",
                actor_is_admin=False,
                reason="Not for this list, sorry",
            )
    Sender(core.engine, core.settings).run_once()
    assert state_of(core, olga_id) == state_of(core, pat_id) == RawState.rejected
    (rejected,) = [
        m for m in mail_to(core, OUTSIDER) if m != waiting and "Nicht" in str(m["Subject"])
    ]
    assert str(rejected["Subject"]) == f"Nicht veröffentlicht: {offer}"
    body = text(rejected)
    assert f"Ihre Nachricht „{offer}“ wurde nicht veröffentlicht." in body
    assert "Begründung des Moderators:\n\n  Not for this list, sorry\n" in body
    (refused,) = [m for m in mail_to(core, pat) if "Not published" in str(m["Subject"])]
    assert "The moderator’s reason:" in text(refused)
