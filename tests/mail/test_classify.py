"""mail.classify: auto-replies, bounces, our own loops and sensitivity labels."""

from __future__ import annotations

import pytest

from bridge.settings import Settings
from mail.classify import (
    Classification,
    LabelVerdict,
    classify,
    failed_recipients,
    label_verdict,
    subject_tag,
)
from mail.parse import parse_message
from tests.support.messages import corpus_messages, make_mail
from tests.support.paths import MAIL_SAMPLES

SAMPLES = MAIL_SAMPLES


def classify_sample(name: str) -> Classification:
    return classify(parse_message((SAMPLES / name).read_bytes()))


def test_ordinary_mail_is_unremarkable() -> None:
    """Plain person-to-person mail raises no flag and gives no reason."""
    result = classify_sample("0001-plain-utf8.eml")
    assert result == Classification()


def test_outlook_automatic_reply() -> None:
    """Auto-Submitted (RFC 3834) and an "Automatic reply:" subject make an auto-reply."""
    result = classify_sample("0022-auto-reply-outlook.eml")
    assert result.auto_reply
    assert not result.bounce
    assert any("RFC 3834" in reason for reason in result.reasons)


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied; owner-email=ben@example.org"},
        {"X-Autoreply": "yes"},
        {"X-Autorespond": "Vacation"},
        {"Precedence": "junk"},
        {"Precedence": "auto_reply"},
    ],
)
def test_auto_reply_headers(headers: dict[str, str]) -> None:
    """Each auto-reply header marks a message outside list traffic."""
    assert classify(parse_message(make_mail(headers=headers))).auto_reply


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Budget",
        "Out of Office: Budget",
        "Autosvar: Budget",
        "Abwesenheitsnotiz: Budget",
        "Réponse automatique : Budget",
    ],
)
def test_auto_reply_subjects(subject: str) -> None:
    """Localised auto-reply subject prefixes mark an auto-reply."""
    assert classify(parse_message(make_mail(subject))).auto_reply


def test_subject_about_out_of_office_is_not_an_auto_reply() -> None:
    """A person writing about an out-of-office policy is not an auto-reply."""
    assert not classify(
        parse_message(make_mail("Out of office policy for the holidays"))
    ).auto_reply


def test_precedence_bulk_without_list_is_an_auto_reply() -> None:
    """Precedence: bulk on direct mail is a vacation responder's mark."""
    result = classify_sample("0023-vacation-precedence-bulk.eml")
    assert result.auto_reply
    assert result.reasons == ("Precedence: bulk outside list traffic",)


def test_list_traffic_with_precedence_bulk_is_not_an_auto_reply() -> None:
    """Mailing lists add Precedence: bulk; with List-Id it is ordinary list mail."""
    assert classify_sample("0024-list-traffic-precedence-bulk.eml") == Classification()


def test_precedence_list_is_list_traffic() -> None:
    """Precedence: list is itself list evidence."""
    assert not classify(parse_message(make_mail(headers={"Precedence": "list"}))).auto_reply


def test_x_auto_response_suppress_alone_is_not_an_auto_reply() -> None:
    """Outlook sets X-Auto-Response-Suppress on ordinary mail."""
    assert not classify_sample("0025-x-auto-response-suppress-only.eml").auto_reply


def test_auto_submitted_no_is_a_person() -> None:
    """Auto-Submitted: no is what a person's mail may say explicitly."""
    assert not classify(parse_message(make_mail(headers={"Auto-Submitted": "no"}))).auto_reply


def test_delivery_status_notification() -> None:
    """A multipart/report DSN is a bounce listing only the recipients whose action failed."""
    result = classify_sample("0026-bounce-dsn.eml")
    assert result.bounce
    assert result.failed_recipients == ["gone@example.org"]
    assert not result.auto_reply  # reported as a bounce, not also as an auto-reply


def test_mailer_daemon_bounce_without_report() -> None:
    """A non-standard bounce from MAILER-DAEMON is a bounce; Exim's header names the recipient."""
    result = classify_sample("0027-bounce-mailer-daemon-plain.eml")
    assert result.bounce
    assert result.failed_recipients == ["gone@example.org"]


def test_null_sender_needs_a_bounce_subject() -> None:
    """An empty Return-Path alone (auto-replies use it too) is not a bounce."""
    plain = make_mail("Hello", headers={"Return-Path": "<>"})
    assert not classify(parse_message(plain)).bounce
    bounced = make_mail("Undeliverable: Hello", headers={"Return-Path": "<>"})
    assert classify(parse_message(bounced)).bounce


def test_postmaster_needs_a_bounce_subject() -> None:
    """Mail from a postmaster is a bounce only when its subject says so."""
    human = make_mail("Server move on Friday", sender="postmaster@example.com")
    assert not classify(parse_message(human)).bounce
    bounced = make_mail("Undeliverable: Budget", sender="postmaster@example.com")
    assert classify(parse_message(bounced)).bounce


def test_failed_recipients_reads_rfc3464_fields() -> None:
    """Folded fields, missing Action with a 5.x.x Status, and address types are handled."""
    report = (
        b"Reporting-MTA: dns; mx.example.com\n\n"
        b"Final-Recipient: rfc822;\n <gone@Example.ORG>\nAction: failed\n\n"
        b"Final-Recipient: rfc822; late@example.org\nAction: delayed\nStatus: 4.4.1\n\n"
        b"Original-Recipient: rfc822; old@example.org\nStatus: 5.2.2\n"
    )
    assert failed_recipients(report) == ["gone@example.org", "old@example.org"]


def test_loop_header() -> None:
    """Our own X-Commons-Bridge-Loop header marks a loop."""
    result = classify_sample("0028-loop-header.eml")
    assert result.loop
    assert not result.auto_reply


def test_sensitivity_header() -> None:
    """The RFC 2156 Sensitivity header gives the label, lower-cased."""
    assert classify_sample("0029-sensitivity-private.eml").sensitivity == "private"
    normal = make_mail(headers={"Sensitivity": "Normal"})
    assert classify(parse_message(normal)).sensitivity == "normal"


def test_purview_label() -> None:
    """A Microsoft Purview msip_labels header gives the enabled label's name."""
    assert classify_sample("0030-purview-label.eml").sensitivity == "highly confidential"


def test_disabled_purview_label_is_ignored() -> None:
    """A label marked Enabled=false does not count."""
    value = "MSIP_Label_aaaa-1111_Enabled=false; MSIP_Label_aaaa-1111_Name=Secret"
    assert classify(parse_message(make_mail(headers={"msip_labels": value}))).sensitivity is None


def test_read_receipt_is_automatic() -> None:
    """An RFC 8098 disposition notification is automatic mail."""
    raw = (
        b"From: ben@example.org\nSubject: Read: Budget\n"
        b"Content-Type: multipart/report; report-type=disposition-notification; boundary=b\n\n"
        b"--b\nContent-Type: text/plain\n\nRead.\n--b--\n"
    )
    assert classify(parse_message(raw)).auto_reply


@pytest.mark.corpus
def test_list_corpus_is_not_automatic() -> None:
    """Real mailing-list discussion is almost never flagged as automatic or bounced."""
    flagged = 0
    count = 0
    for raw in corpus_messages("ksummit-3k"):
        result = classify(parse_message(raw))
        flagged += result.auto_reply or result.bounce or result.loop
        count += 1
    assert count > 1000
    assert flagged < count * 0.01


_SMIME_ENVELOPED = (
    b"From: Ana Lima <ana@example.com>\r\nTo: eng@lists.example.com\r\nSubject: Salaries\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; "
    b'name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIBhgYJKoZIhvcNAQcDoIIBdzCC\r\n'
)
_SMIME_OPAQUE_SIGNED = _SMIME_ENVELOPED.replace(b"enveloped-data", b"signed-data")
_PGP_MIME = (
    b"From: Ana Lima <ana@example.com>\r\nTo: eng@lists.example.com\r\nSubject: Keys\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol="application/pgp-encrypted";'
    b' boundary="b1"\r\n\r\n--b1\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n'
    b"--b1\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\n"
    b"hQEMA1b2\r\n-----END PGP MESSAGE-----\r\n--b1--\r\n"
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (_SMIME_ENVELOPED, "S/MIME"),
        (_PGP_MIME, "PGP"),
        (
            make_mail(body="-----BEGIN PGP MESSAGE-----\n\nhQEMA1b2\n-----END PGP MESSAGE-----\n"),
            "PGP",
        ),
        (_SMIME_OPAQUE_SIGNED, None),
        (make_mail(body="How to send -----BEGIN PGP MESSAGE----- blocks? Ask IT.\n"), None),
    ],
    ids=["smime-enveloped", "pgp-mime", "pgp-inline", "smime-signed", "armor-mentioned"],
)
def test_encrypted_mail_is_recognised(raw: bytes, expected: str | None) -> None:
    """Encrypted content is meant for its recipients only; signed-only mail is readable by all."""
    result = classify(parse_message(raw))
    assert result.encrypted == expected
    assert any("encrypted" in r for r in result.reasons) == bool(expected)


def test_pgp_signed_sample_is_not_encrypted() -> None:
    assert classify_sample("0012-pgp-signed.eml").encrypted is None


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[Confidential] Reorg plan", "[confidential]"),
        ("Re: AW: reorg [CONFIDENTIAL]", "[confidential]"),
        ("HR-only: salaries", "HR-only"),
        ("Confidentiality training dates", None),
        ("privately speaking", None),
    ],
)
def test_subject_tags_match_whole_tokens(subject: str, expected: str | None) -> None:
    assert subject_tag(subject, ["[confidential]", "HR-only", "private"]) == expected


def msip_labels(name: str, guid: str = "f42aa342-8706-4288-bd11-ebb85995028c") -> str:
    """An msip_labels value as Outlook writes it for one applied label."""
    fields = {
        "Enabled": "true",
        "SetDate": "2026-03-02T08:00:00Z",
        "Method": "Standard",
        "Name": name,
        "SiteId": "99990000-aaaa-bbbb-cccc-ddddeeeeffff",
        "ActionId": "0a1b2c3d-0000-1111-2222-333344445555",
        "ContentBits": "0",
    }
    return ";".join(f"MSIP_Label_{guid}_{key}={value}" for key, value in fields.items())


def default_labels(setting: str) -> frozenset[str]:
    factory = Settings.model_fields[setting].default_factory
    assert factory is not None
    return frozenset(factory())  # type: ignore[call-arg]


DEFAULT_PUBLISHABLE = default_labels("publishable_labels")
DEFAULT_CONFIDENTIAL = default_labels("confidential_labels")


PURVIEW_LABELS = {
    "General": "publish",
    "Public": "publish",
    "All Employees (unrestricted)": "publish",
    "Anyone (unrestricted)": "publish",
    "Non-Business": "publish",
    "Allgemein": "publish",
    "Confidential": "confidential",
    "Highly Confidential - All Employees": "confidential",
    "Confidential - Anyone (unrestricted)": "confidential",
    "Restricted": "confidential",
    "Streng vertraulich": "confidential",
    "Internal": "moderate",
    "Project Falcon": "moderate",
}
SENSITIVITY = {"Normal": "publish", "Personal": "confidential", "Private": "confidential"}
SENSITIVITY["Company-Confidential"] = "confidential"


@pytest.mark.parametrize(
    ("headers", "verdict"),
    [({"msip_labels": msip_labels(name)}, v) for name, v in PURVIEW_LABELS.items()]
    + [({"Sensitivity": name}, v) for name, v in SENSITIVITY.items()],
)
def test_label_verdicts_with_the_default_lists(headers: dict[str, str], verdict: str) -> None:
    """Open labels publish, confidential ones are protected, names the bridge cannot read wait."""
    label = classify(parse_message(make_mail(headers=headers))).sensitivity
    assert label is not None
    assert label_verdict(label, DEFAULT_PUBLISHABLE, DEFAULT_CONFIDENTIAL) == verdict


def test_an_admins_label_lists_win_over_the_name() -> None:
    """A label an admin lists is what the list says, whatever its name reads as."""
    assert label_verdict("general", {"normal"}, {"general"}) == LabelVerdict.confidential
    assert label_verdict("confidential - team", {"confidential - team"}, set()) == "publish"
    assert label_verdict("internal", {"internal"}, set()) == LabelVerdict.publish
    assert label_verdict("Unrestricted  Access", set(), set()) == LabelVerdict.publish
