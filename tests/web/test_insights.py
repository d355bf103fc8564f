"""The managers' page: bucketing (pure), the figures on the real backend, the page and its JSON."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from bridge import admin
from bridge.core import Core
from tests.support.factories import create_community, deliver
from tests.support.messages import make_mail
from tests.support.sessions import sign_in
from threads import insights as ins
from threads.db import writer
from threads.models import ConsentCandidate, Thread, ThreadRead, utcnow
from web import charts
from web.app import create_app

CAND, READ = ConsentCandidate.__table__, ThreadRead.__table__
WED = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # a Wednesday
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


# --- Periods and buckets ------------------------------------------------------


def test_weekly_period_ends_with_the_current_monday_to_monday_week() -> None:
    """Twelve weeks are eleven whole ones and the running week, Monday 00:00 UTC each."""
    period = ins.weekly(12, WED)
    assert period.count == 12
    assert period.start == MONDAY - timedelta(weeks=11)
    assert period.end == MONDAY + timedelta(weeks=1)
    assert period.starts()[-1] == MONDAY
    assert all(s.weekday() == 0 for s in period.starts())


def test_weekly_period_from_another_time_zone_is_the_same() -> None:
    """`now` in any zone (or naive, as SQLite returns it) means the same UTC weeks."""
    cet = WED.astimezone(datetime.now(UTC).astimezone().tzinfo)
    assert ins.weekly(4, cet) == ins.weekly(4, WED) == ins.weekly(4, WED.replace(tzinfo=None))


def test_bucket_edges_are_inclusive_at_the_start_exclusive_at_the_end() -> None:
    """A moment at Monday 00:00 opens its week; the period's end is outside it."""
    period = ins.weekly(2, WED)
    assert period.index(MONDAY) == 1
    assert period.index(MONDAY - timedelta(microseconds=1)) == 0
    assert period.index(period.start) == 0
    assert period.index(period.start - timedelta(seconds=1)) is None
    assert period.index(period.end) is None
    assert period.index(None) is None
    assert period.index(MONDAY.replace(tzinfo=None)) == 1  # naive = UTC


def test_daily_period() -> None:
    """Ninety days end with today, midnight to midnight UTC."""
    period = ins.daily(90, WED)
    assert period.daily
    assert period.count == 90
    assert period.starts()[-1] == datetime(2026, 3, 4, tzinfo=UTC)
    assert period.index(WED) == 89
    assert period.index(datetime(2026, 3, 3, 23, 59, tzinfo=UTC)) == 88


def test_count_by_bucket_leaves_out_what_is_outside() -> None:
    """Counts per week; before, after and missing times are not counted."""
    period = ins.weekly(3, WED)
    times = [
        MONDAY,
        MONDAY + timedelta(days=2),
        MONDAY - timedelta(days=1),
        period.start - timedelta(days=1),
        period.end,
        None,
    ]
    assert ins.count_by_bucket(period, times) == [0, 1, 2]


def test_first_and_distinct_by_bucket() -> None:
    """A key counts once in its earliest bucket; per bucket, distinct keys."""
    period = ins.weekly(3, WED)
    w0, w1, w2 = period.starts()
    pairs = [("ann", w2), ("ann", w1), ("ann", w1 + timedelta(hours=1)), ("bo", w2), ("cy", w0)]
    assert ins.first_by_bucket(period, pairs) == [1, 1, 1]
    assert ins.distinct_by_bucket(period, pairs) == [1, 1, 2]
    assert ins.first_by_bucket(period, [("ann", w0 - timedelta(days=1))]) == [0, 0, 0]


def _cand(
    created: datetime,
    nudged: datetime | None = None,
    decided: datetime | None = None,
    state: str = "candidate",
    live: bool = True,
) -> ins.CandidateTimes:
    return ins.CandidateTimes(created, nudged, decided, state, live)


def test_consent_series_counts_each_moment_in_its_bucket() -> None:
    """Found by creation (live only), nudges by nudge time, decisions by decision time."""
    period = ins.weekly(2, WED)
    w0, w1 = period.starts()
    before = period.start - timedelta(days=3)
    rows = [
        _cand(w0, w0 + timedelta(days=1), w1, "opened"),
        _cand(w0, w1, None, "candidate"),
        _cand(before, w0, w0 + timedelta(days=2), "private"),
        _cand(before, before, w1, "opened"),  # nudged before the period
        _cand(w1, None, w1, "opened"),  # opened without a nudge
        _cand(w1, live=False),  # a mailbox's history
    ]
    s = ins.consent_series(period, rows)
    assert s.found == [2, 1]
    assert s.nudged == [2, 1]
    assert s.opened == [0, 3]
    assert s.private == [1, 0]
    assert s.backlog == 1
    assert s.nudged_then_opened == 1  # of the three nudged in the period, one is open
    assert ins.conversion(3, 1) == pytest.approx(1 / 3)
    assert ins.conversion(0, 0) is None


def test_outside_reads_leave_out_the_original_audience() -> None:
    """From/To/Cc of the first message are the audience, compared case-insensitively."""
    audience = ins.audience_of(
        [{"name": "Bo", "address": "Bo@Example.com"}],
        None,
        sender="ann@example.com",
    )
    assert audience == {"ann@example.com", "bo@example.com"}
    reads = [
        ins.Read(1, "bo@example.com", 7, WED),
        ins.Read(2, "ann@example.com", 7, WED),
        ins.Read(3, "cy@example.com", 7, WED),
        ins.Read(2, "ann@example.com", 8, WED),  # no known audience for thread 8
    ]
    assert ins.outside_reads(reads, {7: audience}) == [(3, WED), (2, WED)]


def test_address_key_matches_the_stored_form_of_a_person() -> None:
    """The fast path for plain addresses agrees with threads/people.py; others take the full one."""
    from threads.people import normalize_email

    for address in [
        "Bo@Example.com",
        "<ann.lee+x@Mail.Example.COM>",
        "Zoë@Example.com",
        "a@bücher.example",
    ]:
        assert ins.address_key(address) == normalize_email(address)
    assert ins.address_key("not an address") is None


# --- Figures on the real backend ------------------------------------------------


def _person(core: Core, email: str) -> int:
    with writer(core.engine).begin() as conn:
        return admin.ensure_person(conn, email)[0]


def _read(core: Core, thread_id: int, person_id: int, when: datetime) -> None:
    with writer(core.engine).begin() as conn:
        conn.execute(insert(READ).values(thread_id=thread_id, person_id=person_id, first_at=when))


def _candidate(core: Core, community_id: int, **moments: Any) -> None:
    values = {
        "community_id": community_id,
        "starter": "ana@example.com",
        "subject": "A conversation",
        "participants": [{"name": "", "address": "ana@example.com"}],
        "state": "candidate",
        "live": True,
        "decided_by": "",
        "decided_via": "",
        **moments,
    }
    with writer(core.engine).begin() as conn:
        conn.execute(insert(CAND).values(**values))


def _threads(core: Core, community_id: int) -> dict[str, int]:
    with core.engine.connect() as conn:
        rows = conn.execute(
            select(Thread.id, Thread.subject).where(Thread.community_id == community_id)
        )
        return {r.subject: r.id for r in rows}


@pytest.fixture
def world(core: Core) -> dict[str, Any]:
    """Two communities; eng holds two threads whose first message cc'd bo, a later one cy."""
    eng = create_community(core)
    ops = create_community(core, slug="ops", name="Operations", addresses=["ops@lists.example.com"])
    deliver(
        core,
        make_mail(
            "Budget review",
            sender="Ana Lima <ana@example.com>",
            cc="Bo Reyes <BO@example.com>",
            msgid="b1@example.com",
        ),
        make_mail(
            "Re: Budget review",
            sender="Bo Reyes <bo@example.com>",
            cc="Cy Ode <cy@example.com>",
            msgid="b2@example.com",
            in_reply_to="b1@example.com",
            date=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        ),
        make_mail("Roadmap", sender="ana@example.com", cc="bo@example.com", msgid="r1@example.com"),
        make_mail("Pager", sender="ana@example.com", to="ops@lists.example.com", msgid="o1@x.com"),
    )
    threads = {**_threads(core, eng), **_threads(core, ops)}
    return {"eng": eng, "ops": ops, "threads": threads}


def test_reach_counts_readers_beyond_the_original_cc_once(
    core: Core, world: dict[str, Any]
) -> None:
    """bo (on the first cc) never counts; cy (cc'd later) and dee count once, however often."""
    now = utcnow()
    period = ins.weekly(12, now)
    this_week, last_week = period.starts()[-1], period.starts()[-2]
    budget, roadmap = world["threads"]["Budget review"], world["threads"]["Roadmap"]
    bo, cy, dee = (_person(core, f"{n}@example.com") for n in ("bo", "cy", "dee"))
    _read(core, budget, bo, this_week)
    _read(core, roadmap, bo, this_week)
    _read(core, budget, cy, this_week)  # cy was only on a reply's cc
    _read(core, budget, dee, last_week)
    _read(core, roadmap, dee, last_week + timedelta(hours=2))
    _read(core, roadmap, cy, last_week + timedelta(days=1))
    _read(core, world["threads"]["Pager"], _person(core, "eve@example.com"), this_week)  # ops
    _read(core, budget, _person(core, "old@example.com"), period.start - timedelta(days=1))
    with core.engine.connect() as conn:
        figures = ins.community_insights(conn, world["eng"], period)
    assert figures.totals["readers"] == 2
    assert figures.readers_new[-2:] == [2, 0]  # both first reached last week
    assert figures.readers[-2:] == [2, 1]  # cy read again this week
    assert sum(figures.readers_new) == 2


def test_consent_figures_on_the_backend(core: Core, world: dict[str, Any]) -> None:
    """Candidates inserted as the gate will write them come out in the right weeks."""
    now = utcnow()
    period = ins.weekly(4, now)
    this_week, last_week = period.starts()[-1], period.starts()[-2]
    eng = world["eng"]
    _candidate(core, eng, created_at=last_week, nudged_at=last_week + timedelta(hours=1))
    _candidate(
        core,
        eng,
        created_at=last_week,
        nudged_at=last_week + timedelta(hours=1),
        decided_at=this_week,
        state="opened",
    )
    _candidate(core, eng, created_at=this_week, decided_at=this_week, state="private")
    _candidate(core, eng, created_at=period.start - timedelta(weeks=5))  # long before
    _candidate(core, eng, created_at=this_week, live=False)
    _candidate(core, world["ops"], created_at=this_week)
    with core.engine.connect() as conn:
        f = ins.community_insights(conn, eng, period)
    assert f.found == [0, 0, 2, 1]
    assert f.nudged == [0, 0, 2, 0]
    assert f.opened == [0, 0, 0, 1]
    assert f.private == [0, 0, 0, 1]
    assert f.backlog == 1
    assert f.conversion == pytest.approx(0.5)


def test_thread_without_a_real_message_counts_every_reader(
    core: Core, world: dict[str, Any]
) -> None:
    """A thread whose messages are all placeholders has no audience to leave out."""
    with writer(core.engine).begin() as conn:
        thread_id = conn.execute(
            insert(Thread.__table__)
            .values(community_id=world["eng"], subject="(gone)", message_count=0)
            .returning(Thread.__table__.c.id)
        ).scalar_one()
    _read(core, thread_id, _person(core, "bo@example.com"), utcnow())
    with core.engine.connect() as conn:
        figures = ins.community_insights(conn, world["eng"], ins.weekly(4, utcnow()))
    assert figures.totals["readers"] == 1


# --- Charts ------------------------------------------------------------------------


def test_chart_markup_is_escaped_self_contained_and_accessible() -> None:
    """Titles, labels and names are escaped; no script, no link, no inline style."""
    chart = charts.Chart(
        ident="x",
        title="<script>alert(1)</script>",
        desc='"quoted" & more',
        labels=["<b>", "2 Mar"],
        series=[charts.Series.summed("a<i>", [3, 0]), charts.Series("b", [1, 2])],
    )
    for kind in ("bar", "line"):
        markup = str(charts.figure(dataclasses.replace(chart, kind=kind)))
        assert "<script" not in markup
        assert "<b>" not in markup
        assert "a<i>" not in markup
        assert "&lt;script&gt;" in markup
        assert "&lt;b&gt;" in markup
        assert not re.search(r"href|style=|url\(|https?://(?!www\.w3\.org/2000/svg)", markup)
        soup = BeautifulSoup(markup, "html.parser")
        svg = soup.find("svg")
        assert svg["role"] == "img"
        assert svg.find("title").get_text() == "<script>alert(1)</script>"
        assert svg["aria-labelledby"] == "x-title x-desc"
        cells = [td.get_text() for td in soup.select("table tbody td")]
        assert cells == ["3", "1", "0", "2"]
        assert [td.get_text() for td in soup.select("table tfoot td")] == ["3", ""]


def test_chart_axis_and_labels() -> None:
    """The axis top is a round number at or above the largest value; long periods thin labels."""
    assert [charts.nice_top(v) for v in (0, 1, 3, 7, 12, 50, 51)] == [1, 1, 5, 10, 20, 50, 100]
    assert charts.ticks(20) == [0, 4, 8, 12, 16, 20]
    labels = [f"w{i}" for i in range(52)]
    markup = str(charts.svg(charts.Chart("y", "t", "d", labels, [charts.Series("s", [1] * 52)])))
    shown = re.findall(r">(w\d+)<", markup)
    assert 10 <= len(shown) <= charts.MAX_X_LABELS
    assert shown[0] == "w0"
    assert markup.count('class="bar s1"') == 52


# --- The page and its JSON -----------------------------------------------------------


@pytest.fixture
def client(core: Core, world: dict[str, Any]) -> TestClient:
    return TestClient(create_app(core), base_url="https://testserver", follow_redirects=False)


def _as(client: TestClient, core: Core, email: str, role: str | None = None) -> TestClient:
    if role:
        with writer(core.engine).begin() as conn:
            admin.set_member(conn, "eng", email, role)
    sign_in(client, core, email)
    return client


def test_moderator_sees_charts_and_the_numbers(
    core: Core, world: dict[str, Any], client: TestClient
) -> None:
    """The page shows headline figures, two SVG charts and tables with the week's counts."""
    now = utcnow()
    this_week = ins.weekly(12, now).starts()[-1]
    _candidate(core, world["eng"], created_at=this_week, nudged_at=this_week)
    _candidate(core, world["eng"], created_at=this_week, decided_at=this_week, state="opened")
    _read(core, world["threads"]["Roadmap"], _person(core, "dee@example.com"), this_week)
    _as(client, core, "mod@partner.example", "moderator")
    response = client.get("/c/eng/insights")
    assert response.status_code == 200
    soup = BeautifulSoup(response.text, "html.parser")
    assert len(soup.select("main svg.chart[role=img]")) == 2
    figures = {
        dt.get_text(): dt.find_next_sibling("dd").get_text() for dt in soup.select(".figures dt")
    }
    assert figures["Candidates found"] == "2"
    assert figures["Nudges sent"] == "1"
    assert figures["Opened"] == "1"
    assert figures["Readers beyond the cc list"] == "1"
    consent_rows = soup.select("#consent table tbody tr")
    assert len(consent_rows) == 12
    assert [td.get_text() for td in consent_rows[-1].find_all("td")] == ["2", "1", "1", "0"]
    reach_last = soup.select("#reach table tbody tr")[-1]
    assert [td.get_text() for td in reach_last.find_all("td")] == ["1", "1"]
    assert soup.select_one('.period [aria-current="page"]').get_text() == "12 weeks"
    main = str(soup.main)
    assert "<script" not in main
    assert "xlink" not in main
    assert "style=" not in main


@pytest.mark.parametrize("query", ["?weeks=4", "?weeks=52", "?days=90", "?weeks=26", "?weeks="])
def test_every_period_renders(core: Core, client: TestClient, query: str) -> None:
    """Each choice of the selector answers with charts (an empty choice means the default)."""
    _as(client, core, "root@example.com")
    with writer(core.engine).begin() as conn:
        admin.set_admin(conn, "root@example.com")
    response = client.get("/c/eng/insights" + query)
    assert response.status_code == 200
    assert response.text.count('role="img"') == 2


@pytest.mark.parametrize(
    "query", ["?weeks=5", "?weeks=abc", "?weeks=-4", "?days=30", "?weeks=4&days=90", "?weeks=1e9"]
)
def test_an_unknown_period_is_a_clear_400(core: Core, client: TestClient, query: str) -> None:
    """A hand-edited period says which ones exist; never a server error."""
    _as(client, core, "mod@partner.example", "moderator")
    response = client.get("/c/eng/insights" + query)
    assert response.status_code == 400
    assert "Choose 4, 12, 26, 52 weeks" in response.text or "not both" in response.text
    assert client.get("/api/communities/eng/insights" + query).status_code == 400


@pytest.mark.parametrize("who", ["anonymous", "member", "org reader", "other moderator"])
def test_others_get_the_404_of_a_missing_community(
    core: Core, client: TestClient, who: str
) -> None:
    """Members, readers and moderators elsewhere cannot tell the page exists."""
    if who == "member":
        _as(client, core, "member@example.com", "member")
    elif who == "org reader":
        _as(client, core, "reader@example.com")
    elif who == "other moderator":
        with writer(core.engine).begin() as conn:
            admin.set_member(conn, "ops", "opsmod@example.com", "moderator")
        _as(client, core, "opsmod@example.com")
    page, missing = client.get("/c/eng/insights?weeks=5"), client.get("/c/nope/insights")
    assert page.status_code == missing.status_code == 404
    main = BeautifulSoup(page.text, "html.parser").main.get_text(" ", strip=True)
    assert main == BeautifulSoup(missing.text, "html.parser").main.get_text(" ", strip=True)
    api, api_missing = (
        client.get("/api/communities/eng/insights"),
        client.get("/api/communities/nope/insights"),
    )
    # The API answers an anonymous caller 401 (a login is needed) for both alike.
    assert api.status_code == api_missing.status_code == (401 if who == "anonymous" else 404)
    assert api.json() == api_missing.json()


def test_json_has_the_same_figures(core: Core, world: dict[str, Any], client: TestClient) -> None:
    """The API answers the page's figures, bucket by bucket."""
    this_week = ins.weekly(4, utcnow()).starts()[-1]
    _candidate(
        core,
        world["eng"],
        created_at=this_week,
        nudged_at=this_week,
        state="private",
        decided_at=this_week,
    )
    _read(core, world["threads"]["Budget review"], _person(core, "cy@example.com"), this_week)
    _as(client, core, "mod@partner.example", "moderator")
    body = client.get("/api/communities/eng/insights?weeks=4").json()
    assert body["step"] == "week"
    assert len(body["buckets"]) == 4
    assert body["buckets"][-1] | {"start": None} == {
        "start": None,
        "found": 1,
        "nudged": 1,
        "opened": 0,
        "kept_private": 1,
        "readers_new": 1,
        "readers": 1,
    }
    assert body["totals"]["readers"] == 1
    assert body["conversion"] == 0.0
    assert client.get("/api/communities/eng/insights?days=90").json()["step"] == "day"


def test_admin_community_page_links_to_the_managers_page(core: Core, client: TestClient) -> None:
    """Moderators find the page from their community's admin page."""
    _as(client, core, "mod@partner.example", "moderator")
    soup = BeautifulSoup(client.get("/admin/c/eng").text, "html.parser")
    assert soup.find("a", href="/c/eng/insights") is not None


def test_a_logged_in_reader_s_first_read_is_recorded_once(core: Core) -> None:
    """Reading a thread on the web records (in the background, in batches) one read per
    person and thread; anonymous readers are not recorded."""
    create_community(core, visibility="public")
    deliver(core, make_mail(msgid="r1@example.com"), make_mail("Other", msgid="r2@example.com"))
    app = create_app(core)
    reader = TestClient(app, follow_redirects=False)
    sign_in(reader, core, "reader@example.com")
    for path in ("/t/1", "/t/1", "/t/2", "/t/1"):
        assert reader.get(path).status_code == 200
    assert TestClient(app).get("/t/1").status_code == 200  # anonymous: not recorded
    app.state.reads.close()  # stops the background writer after a last batch
    with core.engine.connect() as conn:
        reads = conn.execute(select(ThreadRead.thread_id, ThreadRead.person_id)).all()
    assert sorted(t for t, _ in reads) == [1, 2]
    assert len({p for _, p in reads}) == 1
