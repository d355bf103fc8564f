"""The managers' page: candidates, nudges, decisions and reach over time.

`/c/{slug}/insights` (HTML, charts as inline SVG) and
`/api/communities/{slug}/insights` (the same figures as JSON). Only the
community's moderators and admins see either; anyone else gets the 404 of a
community that does not exist, as on the admin side (web/admin.py). The
figures come from threads/insights.py; the charts from web/charts.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from bridge.i18n import SOURCE, format_when, gettext_for, ngettext_for
from threads.access import Viewer, may_moderate
from threads.insights import (
    DAILY_DAYS,
    DEFAULT_WEEKS,
    WEEK_CHOICES,
    Insights,
    Period,
    community_insights,
    daily,
    last_activity,
    weekly,
)
from threads.models import Community, utcnow
from web import charts
from web.deps import CoreDep, ViewerDep
from web.i18n import locale_of
from web.reading import NOT_FOUND_COMMUNITY
from web.render import render

router = APIRouter()
C = Community.__table__
PERIOD_HELP = f"Choose {', '.join(map(str, WEEK_CHOICES))} weeks, or {DAILY_DAYS} days by day."


def _community(conn: Connection, viewer: Viewer, slug: str) -> Any:
    """The community if `viewer` may moderate it; otherwise the 404 of a missing community."""
    row = conn.execute(select(C).where(C.c.slug == slug)).first()
    if row is None or not may_moderate(conn, viewer, row.id):
        raise HTTPException(404, NOT_FOUND_COMMUNITY)
    return row


def choose_period(weeks: str | None, days: str | None, now: datetime) -> Period:
    """The period the address asks for; a clear 400 for anything else."""
    if days is not None and weeks is not None:
        raise HTTPException(400, f"Ask for weeks or days, not both. {PERIOD_HELP}")
    if days is not None:
        if days.strip() != str(DAILY_DAYS):
            raise HTTPException(400, PERIOD_HELP)
        return daily(DAILY_DAYS, now)
    value = (weeks or str(DEFAULT_WEEKS)).strip()
    if not value.isdigit() or int(value) not in WEEK_CHOICES:
        raise HTTPException(400, PERIOD_HELP)
    return weekly(int(value), now)


def period_for(
    conn: Connection, community_id: int, weeks: str | None, days: str | None
) -> tuple[Period, datetime | None]:
    """The period asked for, ending today; or, for a community quiet for all of it,
    ending at its last activity (returned too), rather than a page of empty weeks."""
    period = choose_period(weeks, days, utcnow())
    latest = last_activity(conn, community_id)
    if latest is not None and latest < period.start:
        return choose_period(weeks, days, latest), latest
    return period, None


@router.get("/c/{slug}/insights", response_class=HTMLResponse)
def insights_page(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    slug: str,
    weeks: str | None = Query(None, max_length=8),
    days: str | None = Query(None, max_length=8),
) -> HTMLResponse:
    with core.engine.connect() as conn:
        community = _community(conn, viewer, slug)
        period, quiet_since = period_for(conn, community.id, weeks, days)
        figures = community_insights(conn, community.id, period)
    code = locale_of(request)  # the charts' words and dates, in the page's language
    return render(
        request,
        "insights/community.html",
        viewer=viewer,
        community=community,
        figures=figures,
        period=period,
        choices=_choices(period),
        consent_chart=charts.figure(consent_chart(figures, code)),
        reach_chart=charts.figure(reach_chart(figures, code)),
        span=_span(period, code),
        quiet_since=format_when(quiet_since, code, "date") if quiet_since else None,
    )


# --- The page's pieces ----------------------------------------------------------


def _short(when: datetime, code: str) -> str:
    return format_when(when, code, "day")


def _long(when: datetime, period: Period, code: str) -> str:
    return format_when(when, code, "weekday" if period.daily else "date")


def _span(period: Period, code: str = SOURCE) -> str:
    starts = period.starts()
    first, last = _long(starts[0], period, code), _long(starts[-1], period, code)
    gettext = gettext_for(code)
    return gettext("%(first)s to %(last)s") % {"first": first, "last": last}


def _choices(period: Period) -> list[dict[str, Any]]:
    """The period selector's links, the current one marked."""
    out = [
        {
            "label": f"{n} weeks",
            "weeks": n,
            "query": f"?weeks={n}",
            "current": not period.daily and period.count == n,
        }
        for n in WEEK_CHOICES
    ]
    out.append(
        {"label": f"{DAILY_DAYS} days, by day", "days": DAILY_DAYS, "query": f"?days={DAILY_DAYS}"}
    )
    out[-1]["current"] = period.daily
    return out


def _labels(period: Period, code: str) -> tuple[list[str], list[str]]:
    starts = period.starts()
    return [_short(s, code) for s in starts], [_long(s, period, code) for s in starts]


def consent_chart(figures: Insights, code: str = SOURCE) -> charts.Chart:
    period = figures.period
    short, long = _labels(period, code)
    gettext = gettext_for(code)
    t = figures.totals
    values = {"span": _span(period, code), **t}
    title = gettext("Candidates, nudges and decisions")
    desc = (
        gettext(
            "Daily counts, %(span)s: %(found)s candidates found, %(nudged)s nudges sent, "
            "%(opened)s opened, %(private)s kept private."
        )
        if period.daily
        else gettext(
            "Weekly counts, %(span)s: %(found)s candidates found, %(nudged)s nudges sent, "
            "%(opened)s opened, %(private)s kept private."
        )
    )
    return charts.Chart(
        ident="consent",
        title=title,
        desc=desc % values,
        labels=short,
        long_labels=long,
        bucket_name=gettext("Day") if period.daily else gettext("Week of"),
        total_name=gettext("Total"),
        numbers_title=gettext("%(chart)s: the numbers") % {"chart": title},
        series=[
            charts.Series.summed(gettext("candidates found"), figures.found),
            charts.Series.summed(gettext("nudges sent"), figures.nudged),
            charts.Series.summed(gettext("opened"), figures.opened),
            charts.Series.summed(gettext("kept private"), figures.private),
        ],
    )


def reach_chart(figures: Insights, code: str = SOURCE) -> charts.Chart:
    period = figures.period
    short, long = _labels(period, code)
    gettext, ngettext = gettext_for(code), ngettext_for(code)
    readers = int(figures.totals["readers"])
    values = {"span": _span(period, code), "num": readers}
    title = gettext("Readers beyond the original cc list")
    desc = (
        ngettext(
            "Per day, %(span)s: %(num)s distinct reader who was not on a thread's original "
            "From, To or Cc, counted in the day they were first reached, and how many such "
            "readers read each day.",
            "Per day, %(span)s: %(num)s distinct readers who were not on a thread's original "
            "From, To or Cc, counted in the day they were first reached, and how many such "
            "readers read each day.",
            readers,
        )
        if period.daily
        else ngettext(
            "Per week, %(span)s: %(num)s distinct reader who was not on a thread's original "
            "From, To or Cc, counted in the week they were first reached, and how many such "
            "readers read each week.",
            "Per week, %(span)s: %(num)s distinct readers who were not on a thread's original "
            "From, To or Cc, counted in the week they were first reached, and how many such "
            "readers read each week.",
            readers,
        )
    )
    return charts.Chart(
        ident="reach",
        title=title,
        desc=desc % values,
        labels=short,
        long_labels=long,
        bucket_name=gettext("Day") if period.daily else gettext("Week of"),
        kind="line",
        total_name=gettext("Total"),
        numbers_title=gettext("%(chart)s: the numbers") % {"chart": title},
        series=[
            charts.Series.summed(gettext("first reached"), figures.readers_new),
            # Not summed: one reader reading in several weeks is one reader.
            charts.Series(
                gettext("readers that day") if period.daily else gettext("readers that week"),
                figures.readers,
                None,
            ),
        ],
    )


# --- JSON ------------------------------------------------------------------------


class BucketOut(BaseModel):
    start: datetime
    found: int
    nudged: int
    opened: int
    kept_private: int
    readers_new: int = Field(description="readers beyond the cc list first reached in this bucket")
    readers: int = Field(description="distinct readers beyond the cc list in this bucket")


class TotalsOut(BaseModel):
    found: int = Field(description="live candidates found (a mailbox's history is `backlog`)")
    nudged: int
    opened: int
    kept_private: int
    readers: int = Field(description="distinct readers beyond the original cc list")
    backlog: int
    nudged_then_opened: int = Field(description="of the candidates nudged, how many are opened")


class InsightsOut(BaseModel):
    community: str
    step: str = Field(description="week or day")
    start: datetime
    end: datetime
    buckets: list[BucketOut]
    totals: TotalsOut
    conversion: float | None = Field(description="nudged_then_opened / nudged; null if none")


@router.get("/api/communities/{slug}/insights", response_model=InsightsOut, tags=["api"])
def insights_json(
    request: Request,
    core: CoreDep,
    viewer: ViewerDep,
    slug: str,
    weeks: str | None = Query(None, max_length=8),
    days: str | None = Query(None, max_length=8),
) -> InsightsOut:
    with core.engine.connect() as conn:
        community = _community(conn, viewer, slug)
        period, _ = period_for(conn, community.id, weeks, days)
        figures = community_insights(conn, community.id, period)
    return to_json(community.slug, figures)


def to_json(slug: str, f: Insights) -> InsightsOut:
    rows = zip(
        f.period.starts(),
        f.found,
        f.nudged,
        f.opened,
        f.private,
        f.readers_new,
        f.readers,
        strict=True,
    )
    return InsightsOut(
        community=slug,
        step="day" if f.period.daily else "week",
        start=f.period.start,
        end=f.period.end,
        buckets=[
            BucketOut(
                start=start,
                found=found,
                nudged=nudged,
                opened=opened,
                kept_private=private,
                readers_new=new,
                readers=readers,
            )
            for start, found, nudged, opened, private, new, readers in rows
        ],
        totals=TotalsOut(
            found=f.totals["found"],
            nudged=f.totals["nudged"],
            opened=f.totals["opened"],
            kept_private=f.totals["private"],
            readers=f.totals["readers"],
            backlog=f.backlog,
            nudged_then_opened=f.nudged_then_opened,
        ),
        conversion=f.conversion,
    )
