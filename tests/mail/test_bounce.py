"""mail.bounce: failed recipients, status codes and delay warnings from bounces.

Our own fictional samples (tests/data/mail/00NN-bounce-*.eml) pin each form;
the real bounces that flufl.bounce 6.0.0 ships (fetched at test time, see
tests/support/bounce_samples.py) measure how often we agree with its expectations.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.core import Core
from mail.bounce import Bounce, FailedRecipient, dsn_recipients, parse_bounce
from mail.classify import classify
from mail.parse import parse_message
from tests.support import bounce_samples
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from tests.support.paths import MAIL_SAMPLES
from threads.models import RawState

SAMPLES = MAIL_SAMPLES
# Measured 113 of 115 (98.3%) on 2026-11-26. The two misses are site-specific
# forms no MTA family shares: llnl_01.txt (LLNL's directory reply lists
# locator addresses next to the failed one) and yale_01.txt (Yale's
# nameserver report names only a bare user "userx" and example addresses).
AGREEMENT_FLOOR = 0.95


def bounce_of(name: str) -> Bounce | None:
    return parse_bounce(parse_message((SAMPLES / name).read_bytes()))


def test_dsn_permanent_failures_with_status() -> None:
    """RFC 3464: Action failed is a failure; Status, else Diagnostic-Code, gives the code."""
    report = bounce_of("0034-bounce-dsn-permanent.eml")
    assert report == Bounce(
        (
            FailedRecipient("carla@example.org", "5.1.1", True),
            FailedRecipient("dan@example.org", "5.2.2", True),
        ),
        "dsn",
    )


def test_dsn_delay_warning_is_not_a_failure() -> None:
    """Action: delayed is returned as temporary; classify holds it as automatic, not a bounce."""
    report = bounce_of("0035-bounce-dsn-delayed.eml")
    assert report == Bounce((FailedRecipient("fred@example.org", "4.4.1", False),), "dsn")
    assert report is not None
    assert report.delay_only
    assert not report.failed
    result = classify(parse_message((SAMPLES / "0035-bounce-dsn-delayed.eml").read_bytes()))
    assert not result.bounce
    assert result.failed_recipients == []
    assert result.auto_reply  # still never posted
    assert result.bounce_report == report


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("0036-bounce-exim.eml", "exim", FailedRecipient("gina@example.org", "5.1.1", True)),
        ("0037-bounce-qmail.eml", "qmail", FailedRecipient("hugo@example.org", "5.0.0", True)),
        (
            "0038-bounce-postfix-text.eml",
            "postfix",
            FailedRecipient("ines@example.org", "5.7.1", True),
        ),
        (
            "0039-bounce-exchange.eml",
            "exchange",
            FailedRecipient("jonas@example.org", "5.1.10", True),
        ),
        ("0040-bounce-gmail.eml", "gmail", FailedRecipient("kim@example.org", "5.1.1", True)),
    ],
)
def test_plain_text_forms(name: str, kind: str, expected: FailedRecipient) -> None:
    """Each MTA's fixed phrase finds the failed address, never the sender or postmaster."""
    assert bounce_of(name) == Bounce((expected,), kind)
    result = classify(parse_message((SAMPLES / name).read_bytes()))
    assert result.bounce
    assert result.failed_recipients == [expected.address]


def test_exim_delay_warning_is_temporary() -> None:
    """Exim's "has not yet been delivered" notice names the address as delayed only."""
    raw = make_mail(
        "Warning: message 1abcde-0002 delayed 24 hours",
        sender="Mailer-Daemon@mail.example.net",
        body=(
            "This message was created automatically by mail delivery software.\n\n"
            "A message that you sent has not yet been delivered to one or more of its\n"
            "recipients after more than 24 hours on the queue on mail.example.net.\n\n"
            "The address to which the message has not yet been delivered is:\n\n"
            "  lena@example.org\n"
            "    Delay reason: SMTP error from remote mail server after RCPT TO:\n"
            "    <lena@example.org>: 451 4.7.1 Greylisted, try again later\n\n"
            "No action is required on your part. Delivery attempts will continue.\n"
        ),
    )
    report = parse_bounce(parse_message(raw))
    assert report == Bounce((FailedRecipient("lena@example.org", "4.7.1", False),), "exim")
    assert not classify(parse_message(raw)).bounce


def test_dsn_fields_and_address_types() -> None:
    """Original-Recipient wins; success actions are skipped; non-mail address types are not read."""
    text = (
        "Reporting-MTA: dns; mx.example.net\n\n"
        "Final-Recipient: rfc822; mia@sims-ms-daemon\n"
        "Original-Recipient: rfc822; mia@example.org\nAction: failed\nStatus: 5.2.1\n\n"
        "Final-Recipient: rfc822; ned@example.org\nAction: relayed\nStatus: 2.0.0\n\n"
        "Final-Recipient: rfc822; ola@example.org\nAction: expanded\nStatus: 2.0.0\n\n"
        "Final-Recipient: x400; /G=pat/S=example/\nAction: failed\nStatus: 5.1.1\n\n"
        "Final-Recipient: rfc822; quinn@example.org\nAction: failed\nStatus: 4.4.7\n"
    )
    assert dsn_recipients(text) == [
        FailedRecipient("mia@example.org", "5.2.1", True),
        # Action failed means the MTA gave up, even with a 4.x.x (expired) status.
        FailedRecipient("quinn@example.org", "4.4.7", True),
    ]


def test_ordinary_samples_are_not_bounces() -> None:
    """None of the non-bounce hand-made samples yields a report."""
    for path in sorted(SAMPLES.glob("*.eml")):
        if "bounce" not in path.name:
            assert parse_bounce(parse_message(path.read_bytes())) is None, path.name


def test_person_quoting_a_bounce_is_not_held() -> None:
    """A person pasting a bounce into a discussion is not an automatic report."""
    raw = make_mail(
        "Why did my mail to Carla fail?",
        sender="ana@example.com",
        body=(
            "I got this back, any idea?\n\n"
            "> Delivery to the following recipient failed permanently:\n"
            ">\n>      carla@example.org\n"
        ),
    )
    assert not classify(parse_message(raw)).bounce


@pytest.fixture(scope="module")
def flufl_root() -> Path:
    return bounce_samples.fetch()


def test_every_flufl_sample_parses(flufl_root: Path) -> None:
    """Every real bounce in flufl.bounce's data parses and is read without exception."""
    files = bounce_samples.sample_files(flufl_root)
    assert len(files) > 100
    for path in files:
        parse_bounce(parse_message(path.read_bytes()))


def test_agreement_with_flufl_expectations(flufl_root: Path) -> None:
    """Our permanent failed-address set equals flufl.bounce's for most of its samples."""
    expected = bounce_samples.expectations(flufl_root)
    data = flufl_root / "tests" / "data"
    agree = 0
    misses: list[str] = []
    temporary_agree = 0
    temporary_total = 0
    for name, want in sorted(expected.items()):
        report = parse_bounce(parse_message((data / name).read_bytes()))
        recipients = report.recipients if report else ()
        permanent = {r.address.lower() for r in recipients if r.permanent}
        if permanent == want.permanent:
            agree += 1
        else:
            misses.append(f"{name}: want {sorted(want.permanent)} got {sorted(permanent)}")
        if want.temporary:
            temporary_total += 1
            temporary = {r.address.lower() for r in recipients if not r.permanent}
            temporary_agree += temporary == want.temporary
    share = agree / len(expected)
    print(
        f"flufl.bounce agreement: {agree}/{len(expected)} = {share:.1%}; "
        f"delay warnings {temporary_agree}/{temporary_total}; misses: {misses}"
    )
    assert share >= AGREEMENT_FLOOR, misses
    assert temporary_agree == temporary_total


def test_success_dsn_is_automatic_not_a_bounce() -> None:
    """A NOTIFY=SUCCESS report (RFC 3461) names no failure, yet is never posted."""
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\nTo: ana@example.com\n"
        b"Subject: Successful Mail Delivery Report\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=s\n\n"
        b"--s\nContent-Type: text/plain\n\nYour message was delivered to ben@example.org.\n"
        b"--s\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        b"Final-Recipient: rfc822; ben@example.org\nAction: delivered\nStatus: 2.0.0\n"
        b"--s--\n"
    )
    parsed = parse_message(raw)
    assert parse_bounce(parsed) is None
    result = classify(parsed)
    assert not result.bounce
    assert result.auto_reply


def test_pipeline_holds_a_bounce_naming_status_codes(core: Core) -> None:
    """The pipeline holds a bounce (never posts it), and the reason gives each status code."""
    create_community(core)
    raw = (SAMPLES / "0034-bounce-dsn-permanent.eml").read_bytes()
    (outcome,) = deliver(core, raw, rcpt=("eng@lists.example.com",))
    assert outcome.state == RawState.held
    assert outcome.reason == (
        "bounce: delivery status notification for carla@example.org (5.1.1), "
        "dan@example.org (5.2.2)"
    )
