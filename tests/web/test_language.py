"""Pages in the reader's language: chosen from the browser, a cookie or the person's saved
choice, switched in the footer, and never a way to touch someone else's choice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import select

from bridge.core import Core
from tests.support.csrf_checks import form_token
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from tests.support.sessions import sign_in
from threads.db import writer
from threads.models import Person
from web.app import create_app

P = Person.__table__


@pytest.fixture
def world(core: Core) -> Core:
    create_community(core, visibility="public")
    deliver(core, make_mail("Budget review", msgid="budget@example.com"))
    return core


@pytest.fixture
def client(world: Core) -> Iterator[TestClient]:
    with TestClient(create_app(world), raise_server_exceptions=False) as c:
        yield c


def page(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def lang_of(response) -> tuple[str, str]:
    html = page(response).html
    assert html is not None
    return str(html["lang"]), str(html["dir"])


def saved_locale(core: Core, email: str) -> str | None:
    with core.engine.connect() as conn:
        return conn.execute(select(P.c.locale).where(P.c.email == email)).scalar()


def switch(client: TestClient, locale: str, next_path: str = "/c/eng") -> object:
    token = form_token(client, "/")
    return client.post(
        "/language",
        data={"locale": locale, "next": next_path, "csrf_token": token},
        follow_redirects=False,
    )


def test_a_german_browser_gets_german_pages(client: TestClient) -> None:
    """Accept-Language de: `<html lang="de">`, German text, Content-Language de."""
    answer = client.get("/c/eng", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert lang_of(answer) == ("de", "ltr")
    assert answer.headers["content-language"] == "de"
    assert "Accept-Language" in answer.headers["vary"]
    text = page(answer).get_text(" ", strip=True)
    assert "1 Nachricht" in text
    assert "Anmelden" in text
    assert "Sprache ändern" in text


def test_a_japanese_browser_gets_japanese_pages(client: TestClient) -> None:
    """Accept-Language ja: Japanese text throughout, including the thread page."""
    home = client.get("/", headers={"Accept-Language": "ja,en-US;q=0.8"})
    assert lang_of(home) == ("ja", "ltr")
    assert "コミュニティ" in page(home).get_text()
    href = page(client.get("/c/eng")).select_one(".thread-row h2 a")
    assert href is not None
    thread = client.get(str(href["href"]), headers={"Accept-Language": "ja"})
    assert lang_of(thread) == ("ja", "ltr")
    assert "参加者" in page(thread).get_text()


def test_simplified_chinese_is_tagged_zh_hans(client: TestClient) -> None:
    answer = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert lang_of(answer) == ("zh-Hans", "ltr")
    assert "社区" in page(answer).get_text()


@pytest.mark.parametrize(
    "header", ["<script>alert(1)</script>", "de;q=5", "x" * 5000, "*", "zh-TW", ";,;q="]
)
def test_junk_accept_language_falls_back_to_english_unreflected(
    client: TestClient, header: str
) -> None:
    """A header we cannot use gives an English page, never an error or the header echoed."""
    answer = client.get("/", headers={"Accept-Language": header})
    assert answer.status_code == 200
    assert lang_of(answer) == ("en", "ltr")
    assert "<script>alert(1)" not in answer.text


@pytest.mark.parametrize("cookie", ["<b>de</b>", "de-DE", "../../de", "xx", ""])
def test_a_forged_language_cookie_is_ignored(client: TestClient, cookie: str) -> None:
    """Only a shipped locale counts; anything else in the cookie is not used or shown."""
    client.cookies.set("bridge_lang", cookie)
    answer = client.get("/", headers={"Accept-Language": "ja"})
    assert lang_of(answer) == ("ja", "ltr")  # the browser's wish, as if no cookie
    assert "<b>de</b>" not in answer.text


def test_an_anonymous_switch_sets_a_cookie_that_beats_the_browser(client: TestClient) -> None:
    """The footer form (no script) answers 303 back to the page, now in French."""
    answer = switch(client, "fr")
    assert answer.status_code == 303  # type: ignore[attr-defined]
    assert answer.headers["location"] == "/c/eng"  # type: ignore[attr-defined]
    french = client.get("/c/eng", headers={"Accept-Language": "de"})
    assert lang_of(french) == ("fr", "ltr")
    assert "Communautés" in page(french).get_text()


def test_the_switch_refuses_unknown_languages_and_foreign_redirects(client: TestClient) -> None:
    """An unoffered locale is a clear 400 page (not echoed); `next` stays on this site."""
    refused = switch(client, "<script>x</script>")
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "<script>x</script>" not in refused.text  # type: ignore[attr-defined]
    assert "not offered" in refused.text  # type: ignore[attr-defined]
    away = switch(client, "de", next_path="https://evil.example/")
    assert away.headers["location"] == "/"  # type: ignore[attr-defined]


def test_the_switch_needs_the_csrf_token(client: TestClient) -> None:
    """Another site cannot flip a reader's language with a hidden form."""
    forged = client.post("/language", data={"locale": "de"}, follow_redirects=False)
    assert forged.status_code == 403
    assert "bridge_lang" not in forged.headers.get("set-cookie", "")


def test_a_persons_choice_is_kept_across_sessions_and_devices(world: Core) -> None:
    """Chosen on one device, the language follows the person to a new session elsewhere,
    ahead of that browser's Accept-Language; nobody else's choice changes."""
    sign_in_other = "bo@example.com"
    with writer(world.engine).begin() as conn:
        conn.execute(P.insert().values(email=sign_in_other, name="Bo", locale="es"))
    with TestClient(create_app(world)) as laptop:
        sign_in(laptop, world, "ana@example.com")
        token = form_token(laptop, "/me")
        # A person_id in the form is not how the switch finds whose choice it is.
        laptop.post(
            "/language",
            data={"locale": "ja", "next": "/me", "csrf_token": token, "person_id": "2"},
        )
    assert saved_locale(world, "ana@example.com") == "ja"
    assert saved_locale(world, sign_in_other) == "es"
    with TestClient(create_app(world)) as phone:  # no cookie from the laptop
        sign_in(phone, world, "ana@example.com")
        me = phone.get("/me", headers={"Accept-Language": "de"})
        assert lang_of(me) == ("ja", "ltr")
        assert "ログアウト" in page(me).get_text()
        phone.cookies.set("bridge_lang", "fr")  # a saved choice beats the cookie too
        assert lang_of(phone.get("/me")) == ("ja", "ltr")


def test_dates_follow_the_locale_and_keep_machine_readable_time(client: TestClient) -> None:
    """The same message date, written per locale; `<time datetime>` stays ISO 8601."""
    written = {}
    for lang in ("en", "de", "ja"):
        row = page(client.get("/c/eng", headers={"Accept-Language": lang})).select_one(
            ".thread-row time"
        )
        assert row is not None
        assert str(row["datetime"]).startswith("2026-03-02T09:00:00")
        written[lang] = row.get_text()
    assert written == {
        "en": "Mar 2, 2026, 09:00",
        "de": "2. März 2026, 09:00",
        "ja": "2026年3月2日 9:00",
    }


def test_numbers_follow_the_locale(world: Core) -> None:
    """The `number` and `percent` filters group digits and place the sign per locale."""
    env = create_app(world).state.templates.env
    template = env.from_string("{{ 1234567|number }} {{ 0.25|percent }}")
    assert template.render(i18n_locale="en") == "1,234,567 25%"
    assert template.render(i18n_locale="de") == "1.234.567 25\xa0%"
    assert template.render(i18n_locale="ja") == "1,234,567 25%"


def test_error_pages_speak_the_readers_language(client: TestClient) -> None:
    """A 404 (ours or Starlette's) is titled and explained in German for a German reader."""
    for path in ("/t/999999", "/no/such/page"):
        answer = client.get(path, headers={"Accept-Language": "de"})
        assert answer.status_code == 404
        assert lang_of(answer) == ("de", "ltr")
        assert "Nicht gefunden" in page(answer).h1.get_text()  # type: ignore[union-attr]


def test_the_expired_form_page_speaks_the_readers_language(client: TestClient) -> None:
    """The CSRF refusal, answered before any route runs, is in the browser's language too."""
    refused = client.post("/language", data={"locale": "de"}, headers={"Accept-Language": "ja"})
    assert refused.status_code == 403
    assert lang_of(refused)[0] == "ja"
    assert "このフォームは有効期限が切れています" in refused.text
    english = client.post("/language", data={"locale": "de"})
    assert "This form has expired" in english.text
