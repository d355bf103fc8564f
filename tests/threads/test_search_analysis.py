"""What search makes of text: folding, words, CJK pairs, language guesses and stems (pure)."""

from __future__ import annotations

import pytest

from threads.search.analysis import (
    analyse,
    fold,
    guess_language,
    index_entry,
    joined_words,
    query_stems,
    stems_of,
    words_of,
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Müller", ("muller",)),
        ("ÉLODIE café", ("elodie", "cafe")),
        ("ＵＳＢ　ｈｕｂ ２", ("usb", "hub", "2")),  # full width
        ("ﬁle Straße", ("file", "strasse")),  # ligature, sharp s
        ("İstanbul", ("istanbul",)),  # case folding leaves a dot above; it goes
        ("Привет, мир й", ("привет", "мир", "й")),  # Cyrillic keeps its own letters
        ("x86_64 e-mail", ("x86", "64", "e", "mail")),
        ("数据库", ("数据", "据库")),
        ("会", ("会",)),
        ("ｶﾀｶﾅ", ("カタ", "タカ", "カナ")),  # half-width kana made full width
        ("usb数据", ("usb", "数据")),
        ("백업을 완료", ("백업", "업을", "완료")),
    ],
)
def test_words_are_folded_and_cjk_cut_into_pairs(text: str, words: tuple[str, ...]) -> None:
    assert words_of(text) == words


def test_folding_twice_changes_nothing() -> None:
    """The index holds folded words and queries are folded again: both must agree."""
    for text in ["Müller", "ＵＳＢ", "Straße", "数据库", "İstanbul", "ǅemal"]:
        assert fold(fold(text)) == fold(text)
    for text in ["Müller ＵＳＢ", "Straße İstanbul"]:
        assert words_of(" ".join(words_of(text))) == words_of(text)


def test_cjk_pairs_join_back_into_runs() -> None:
    assert joined_words(("数据", "据库", "usb", "会議")) == ["数据库", "usb", "会議"]
    assert joined_words(words_of("我们的数据库很慢")) == ["我们的数据库很慢"]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("We are upgrading the cluster and it is not done", "english"),
        ("Die Datenbank ist nicht migriert und der Server läuft", "german"),
        ("Les réunions sont annulées pour la semaine et le mois", "french"),
        ("El servidor no responde y los usuarios esperan por la red", "spanish"),
        ("Il server non risponde e gli utenti sono in attesa della rete", "italian"),
        ("De server is niet bereikbaar en het netwerk ligt eruit", "dutch"),
        ("Servern svarar inte och det är för sent att", "swedish"),
        ("Мы обновили базы данных вчера", "russian"),
        ("数据库迁移", "english"),  # nothing to tell by: the default
    ],
)
def test_language_is_guessed_from_frequent_words(text: str, language: str) -> None:
    assert guess_language(words_of(text)) == language


def test_stems_kept_only_where_they_differ_from_the_word() -> None:
    assert stems_of(("upgrading", "the", "cluster", "upgrades"), "english") == ["upgrad", "upgrad"]
    assert stems_of(("datenbanken",), "german") == ["datenbank"]
    assert stems_of(("x86", "数据"), "english") == []


def test_query_words_look_up_their_stem_in_every_language() -> None:
    assert "upgrad" in query_stems("upgrade")
    assert "reunion" in query_stems("reunion")  # the stem of reunions
    assert "datenbank" in query_stems("datenbanken")
    assert "баз" in query_stems("базы")
    assert query_stems("数据") == ()
    assert query_stems("x86") == ("x86",)  # Snowball has no rule for it


def test_analysed_message_carries_exact_words_stems_and_language() -> None:
    entry = index_entry(1, "Upgrading PostgreSQL", "We are upgrading the cluster now.", "Ana")
    a = analyse(entry)
    assert a.subject == ("upgrading", "postgresql")
    assert a.subject_stems == ("upgrad",)
    assert "upgrad" in a.body_stems
    assert a.language == "english"
    assert a.sender == ("ana",)
