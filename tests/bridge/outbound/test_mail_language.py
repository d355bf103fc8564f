"""Mail in the recipient's language: the words the bridge adds to copies, digests and
login links follow the person's saved choice; everyone else gets English. The bytes on
the wire stay valid (folded, encoded) whatever the language."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from bridge.core import Core
from bridge.outbound.language import language
from bridge.outbound.posts import as_bytes
from bridge.outbound.sender import Sender
from bridge.posting import post_reply
from bridge.worker import drain
from mail.compose import Addressing, Digest, DigestItem, ListInfo, compose_digest
from tests.support import replies
from tests.support.csrf_checks import form_token
from tests.support.replies import EDITOR, archived_thread, mail_to, send, web_reply_mailed
from threads import outbound
from threads.db import writer
from threads.models import Community, Person
from web.app import create_app

core = replies.core
smtp_port = replies.smtp_port
P = Person.__table__


def choose(core: Core, email: str, locale: str) -> None:
    with writer(core.engine).begin() as conn:
        conn.execute(update(P).where(P.c.email == email).values(locale=locale))


def test_copies_follow_each_recipients_saved_language(core: Core) -> None:
    """p0 chose Japanese, p1 German, p2 nothing: one post, three footers."""
    thread_id = archived_thread(core)
    sender = Sender(core.engine, core.settings)
    sender.compose_notifications()  # the people exist once they have been mailed
    sender.deliver_due()
    choose(core, "p0@example.com", "ja")
    choose(core, "p1@example.com", "de")
    post_reply(core, EDITOR, thread_id, "An update.\n", name="Local Admin")
    sender.compose_notifications()
    sender.deliver_due()
    japanese = mail_to(core, "p0@example.com")[-1]
    german = mail_to(core, "p1@example.com")[-1]
    english = mail_to(core, "p2@example.com")[-1]

    def text(m: object) -> str:
        return m.get_body(("plain",)).get_content()  # type: ignore[attr-defined]

    assert "このメールに返信するとスレッドに回答できます" in text(japanese)
    assert "Antworten Sie auf diese E-Mail" in text(german)
    assert "Reply to this e-mail to answer" in text(english)
    assert '<html lang="ja">' in japanese.get_body(("html",)).get_content()
    # The person's words are never translated, only ours.
    assert all("An update." in m.get_body(("plain",)).get_content() for m in (japanese, german))


def test_a_digest_subject_and_footer_in_the_readers_language(core: Core) -> None:
    """A digest for someone who chose French: French subject (folded, encoded) and text."""
    thread_id = archived_thread(core)
    with writer(core.engine).begin() as conn:
        community_id = conn.execute(select(Community.id)).scalar_one()
        outbound.set_preference(conn, community_id, "x@example.com", "digest")
        conn.execute(P.insert().values(email="x@example.com", name="X", locale="fr"))
    sender = Sender(core.engine, core.settings)
    post_reply(core, EDITOR, thread_id, "Premier point.\n", name="Local Admin")
    post_reply(core, EDITOR, thread_id, "Second point.\n", name="Local Admin")
    sender.compose_notifications()
    assert sender.compose_digests() == 1
    sender.deliver_due()
    (digest,) = mail_to(core, "x@example.com")
    assert digest["Subject"] == "Résumé de Engineering : 2 nouveaux messages"
    assert (
        "Vous recevez un résumé quotidien de Engineering."
        in digest.get_body(("plain",)).get_content()
    )


def test_translated_mail_is_valid_on_the_wire() -> None:
    """A long Japanese subject and footer: every line within RFC 5322's limit, and the
    message parses back to the same words."""
    lst = ListInfo("エンジニアリング" * 12, "eng", "eng@lists.example.com", "bridge.example.com")
    items = [DigestItem("件名", "Ana", "本文", datetime(2026, 3, 2, tzinfo=UTC))] * 3
    digest = Digest(lst, items, "d1@bridge.example.com", items[0].date)
    to = Addressing("x@example.com", "reply@bridge.example.com", "https://b.example/u/1")
    raw = as_bytes(compose_digest(digest, to, language("ja")))
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == f"{lst.name} のダイジェスト: 新着メッセージ 3 件"
    assert "のダイジェストを毎日受け取っています" in parsed.get_body(("plain",)).get_content()


def test_english_is_the_default_and_unknown_codes_fall_back() -> None:
    assert language(None).tag == language("xx").tag == language("en").tag == "en"
    assert language("zh_Hans").tag == "zh-Hans"


def test_the_login_link_mail_is_in_the_language_of_the_page_that_asked(core: Core) -> None:
    """A Spanish browser asking for a login link gets the mail (subject included) in Spanish."""
    archived_thread(core)  # p0 is a person the bridge knows, so a link is mailed
    # https: the deployment's cookies are Secure, as a browser would send them back.
    with TestClient(create_app(core), base_url="https://testserver") as client:
        token = form_token(client, "/login")
        asked = client.post(
            "/login",
            data={"email": "p0@example.com", "csrf_token": token, "next": "/"},
            headers={"Accept-Language": "es-ES,es;q=0.9"},
        )
    assert asked.status_code == 200
    (mail,) = mail_to(core, "p0@example.com")
    assert mail["Subject"] == "Tu enlace de inicio de sesión en Commons Bridge"
    body = mail.get_body(("plain",)).get_content()
    assert "Abre este enlace en el mismo navegador para iniciar sesión:" in body
    assert "/login/link/" in body


def test_a_reply_in_your_name_warning_in_the_owners_language(core: Core, smtp_port: int) -> None:
    """Mallory answers with p1's and p2's reply addresses: p1 chose Japanese and is warned
    in Japanese; p2 chose nothing and is warned in English."""
    web_reply_mailed(core)
    choose(core, "p1@example.com", "ja")
    for owner in ("p1@example.com", "p2@example.com"):
        (copy,) = mail_to(core, owner)
        rcpt = copy["Reply-To"].addresses[0].addr_spec
        forged = EmailMessage()
        forged["From"] = "Mallory <mallory@example.com>"
        forged["To"] = rcpt
        forged["Subject"] = "Re: " + str(copy["Subject"])
        forged["Message-ID"] = f"<forged-{owner}>"
        forged.set_content("Cancel it.\n")
        send(smtp_port, forged, rcpt)
    drain(core)
    Sender(core.engine, core.settings).run_once()
    (japanese,) = [m for m in mail_to(core, "p1@example.com") if m["Auto-Submitted"]]
    (english,) = [m for m in mail_to(core, "p2@example.com") if m["Auto-Submitted"]]
    assert japanese["Subject"] == "あなたの名前での返信を保留しました"
    body = japanese.get_body(("plain",)).get_content()
    assert "送信元はあなたではなく mallory@example.com でした" in body
    assert english["Subject"] == "A reply in your name was held"
    assert (
        "it came from mallory@example.com, not from you"
        in english.get_body(("plain",)).get_content()
    )


def test_digest_dates_in_the_readers_locale() -> None:
    """A digest item's date as the reader's language writes it; English keeps its form."""
    lst = ListInfo("Engineering", "eng", "eng@lists.example.com", "bridge.example.com")
    items = [DigestItem("Plan", "Ana", "Text", datetime(2026, 3, 2, 9, 5, tzinfo=UTC))]
    digest = Digest(lst, items, "d1@bridge.example.com", items[0].date)
    to = Addressing("x@example.com", "reply@bridge.example.com")
    written = {}
    for code in ("de", "ja", "en"):
        msg = message_from_bytes(
            as_bytes(compose_digest(digest, to, language(code))), policy=policy.default
        )
        plain = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        written[code] = (plain, html)
    assert "Ana, 2. März 2026, 09:05 UTC" in written["de"][0]
    assert "Ana, 2. März 2026, 09:05 UTC" in written["de"][1]
    assert "Ana, 2026年3月2日 9:05 UTC" in written["ja"][0]
    assert "Ana, 02 Mar 2026 09:05 UTC" in written["en"][0]
