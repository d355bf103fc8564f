"""The bounce test set: one sample per MTA style, scored found / missed / wrongly scored.

tests/data/bounces/ holds fictional bounces in each MTA's own wording
(Exchange in English and German, Lotus Notes, qmail, Postfix, Exim, Sendmail,
Gmail, MDaemon, the Windows SMTP service's plain-text DSN, delay warnings) and
look-alikes that must name nobody (out-of-office, challenge-response, a read
receipt, a person writing about a bounce);
expected.toml says what each must yield. Real-world negatives come from
CPython's test_email data and the mailing-list corpora.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field

import pytest

from mail.bounce import parse_bounce
from mail.classify import classify
from mail.parse import ParsedMessage, parse_message
from tests.support.messages import corpus_messages
from tests.support.paths import BOUNCE_SET, STDLIB_MAIL

# CPython's bounce samples (a multipart/report, a Sendmail "Returned mail",
# a gateway's failure notice, an Amavis notice wrapping DSNs): the rest of
# its test_email data is ordinary mail.
STDLIB_BOUNCES = frozenset({"msg_05.txt", "msg_16.txt", "msg_25.txt", "msg_43.txt"})
# Bounce senders seen in the corpora: only these may be scored there.
_AUTOMATIC_LOCALS = frozenset({"mailer-daemon", "postmaster"})


@dataclass
class Scores:
    """Tally of the set: a sample is found, missed, or wrongly scored (a wrong address)."""

    found: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


def scored(parsed: ParsedMessage) -> tuple[set[str], set[str]]:
    """(given-up addresses, delayed addresses) as the sender role would act on them."""
    report = parse_bounce(parsed)
    recipients = report.recipients if report else ()
    return (
        {r.address.lower() for r in recipients if r.permanent},
        {r.address.lower() for r in recipients if not r.permanent},
    )


def score_set() -> Scores:
    expected = tomllib.loads((BOUNCE_SET / "expected.toml").read_text(encoding="utf-8"))
    on_disk = {p.name for p in BOUNCE_SET.glob("*.eml")}
    assert on_disk == set(expected), "every sample needs its entry in expected.toml"
    scores = Scores()
    for name, want in sorted(expected.items()):
        parsed = parse_message((BOUNCE_SET / name).read_bytes())
        permanent, delayed = scored(parsed)
        want_permanent = set(want.get("permanent", []))
        want_delayed = set(want.get("delayed", []))
        verdict = classify(parsed)
        # The classification is what the pipeline holds on: a failure must be
        # a bounce with exactly these addresses, a warning never a bounce.
        agrees = (
            verdict.bounce == bool(want_permanent)
            and set(verdict.failed_recipients) == want_permanent
        )
        if (permanent, delayed) == (want_permanent, want_delayed) and agrees:
            scores.found.append(name)
        elif (permanent - want_permanent) or (delayed - want_delayed) or not agrees:
            scores.wrong.append(f"{name}: got {sorted(permanent)} / {sorted(delayed)}")
        else:
            scores.missed.append(f"{name}: got {sorted(permanent)} / {sorted(delayed)}")
    return scores


def test_bounce_set_scores() -> None:
    """Every sample of the set is found, none missed, none scored against a wrong address."""
    scores = score_set()
    total = len(scores.found) + len(scores.missed) + len(scores.wrong)
    print(
        f"bounce set: {len(scores.found)}/{total} found, {len(scores.missed)} missed "
        f"{scores.missed}, {len(scores.wrong)} wrongly scored {scores.wrong}"
    )
    assert not scores.wrong
    assert not scores.missed


def test_every_mta_style_is_named() -> None:
    """Each style is recognised by its own form, not only by the generic fallback."""
    kinds = {}
    for path in sorted(BOUNCE_SET.glob("00*.eml")):
        report = parse_bounce(parse_message(path.read_bytes()))
        assert report is not None, path.name
        kinds[path.name] = report.kind
    assert "generic" not in kinds.values(), kinds
    assert {
        "exchange",
        "lotus",
        "qmail",
        "postfix",
        "exim",
        "sendmail",
        "dsn-text",
        "mdaemon",
    } <= set(kinds.values())


def test_delay_warnings_are_never_failures() -> None:
    """A delay warning is held as automatic mail, never counted as a bounce."""
    for name in (
        "0009-windows-dsn-delay-no-report-part.eml",
        "0010-postfix-delay-warning.eml",
        "0011-exim-delay-warning.eml",
        "0013-exchange-dsn-delay-plain.eml",
    ):
        verdict = classify(parse_message((BOUNCE_SET / name).read_bytes()))
        assert not verdict.bounce, name
        assert verdict.auto_reply, name  # still never posted to a community


def test_cpython_ordinary_mail_is_never_scored() -> None:
    """CPython's test_email messages that are not bounces name nobody as failed."""
    if not STDLIB_MAIL.is_dir():
        pytest.skip("CPython's test_email data is not installed")
    ordinary = [p for p in sorted(STDLIB_MAIL.glob("msg_*.txt")) if p.name not in STDLIB_BOUNCES]
    assert len(ordinary) > 40
    for path in ordinary:
        parsed = parse_message(path.read_bytes())
        assert scored(parsed) == (set(), set()), path.name
        assert not classify(parsed).bounce, path.name


@pytest.mark.corpus
@pytest.mark.parametrize(("corpus", "limit"), [("ksummit-3k", None), ("cgroups-vger-36k", 5000)])
def test_corpus_mail_from_people_is_never_scored(corpus: str, limit: int | None) -> None:
    """In real list traffic only a mailer daemon's or postmaster's bounce is scored."""
    total = 0
    bounces = 0
    for raw in corpus_messages(corpus, limit):
        total += 1
        parsed = parse_message(raw)
        permanent, delayed = scored(parsed)
        if not (permanent or delayed or classify(parsed).bounce):
            continue
        bounces += 1
        sender = parsed.from_.address.lower() if parsed.from_ else ""
        assert sender.partition("@")[0] in _AUTOMATIC_LOCALS, (sender, parsed.subject)
    print(f"{corpus}: {bounces} of {total} messages scored, all from mailer daemons")
