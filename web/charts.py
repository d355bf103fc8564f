"""Small server-rendered charts: inline SVG, a legend and the same numbers as a table.

No JavaScript, no external assets, no inline styles (the Content-Security-Policy
forbids them): every colour is a CSS class (`s1`…`s4`, see the "Charts" block
of templates/static/style.css), so light and dark mode follow the stylesheet.
The SVG is one image to assistive technology (role="img" with <title> and
<desc>); the table carries the figures for screen readers and for people who
prefer numbers. Every text is escaped here; callers pass plain strings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 34
MAX_X_LABELS = 13  # beyond this, every n-th bucket is labelled (the table has them all)
MAX_VALUE_LABELS = 26  # beyond this many bars, values live in the table only


@dataclass(frozen=True, slots=True)
class Series:
    """One named row of figures; `total` None shows no total (a sum would mislead)."""

    name: str
    values: Sequence[int]
    total: int | None = None

    @classmethod
    def summed(cls, name: str, values: Sequence[int]) -> Series:
        return cls(name, values, sum(values))


@dataclass(frozen=True, slots=True)
class Chart:
    """What to draw: buckets (`labels` short for the axis, `long_labels` for the table)."""

    ident: str  # unique on the page; used for the ids <title>/<desc> are referred by
    title: str
    desc: str
    labels: Sequence[str]
    series: Sequence[Series]
    long_labels: Sequence[str] = ()
    bucket_name: str = "Week of"
    total_name: str = "Total"  # the table's last row
    numbers_title: str = ""  # the table's caption; "TITLE: the numbers" when empty
    kind: str = "bar"  # bar or line


def nice_top(value: int) -> int:
    """The axis maximum: at least `value`, on a 1-2-5 step (0 → 1, so bars have room)."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover


def ticks(top: int) -> list[int]:
    """Whole-number gridlines from 0 to `top`: at most five steps."""
    step = max(1, math.ceil(top / 5))
    return list(range(0, top + 1, step))


def _ident(value: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", value.lower()) or "chart"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _label_every(count: int) -> int:
    return max(1, math.ceil(count / MAX_X_LABELS))


def svg(chart: Chart) -> Markup:
    """The chart as an inline <svg> element (bars grouped by bucket, or lines)."""
    ident = _ident(chart.ident)
    count = len(chart.labels)
    top = nice_top(max((max(s.values, default=0) for s in chart.series), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(count, 1)

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = [
        f'<svg class="chart chart-{chart.kind}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-title">{escape(chart.title)}</title>',
        f'<desc id="{ident}-desc">{escape(chart.desc)}</desc>',
    ]
    for tick in ticks(top):
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{_num(y(tick))}" y2="{_num(y(tick))}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{_num(y(tick) + 4)}" '
            f'text-anchor="end">{tick}</text>'
        )
    every = _label_every(count)
    for i, label in enumerate(chart.labels):
        if i % every == 0:
            x = LEFT + slot * (i + 0.5)
            parts.append(
                f'<text class="tick" x="{_num(x)}" y="{HEIGHT - BOTTOM + 18}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y(0))}" y2="{_num(y(0))}"/>'
    )
    draw = _bars if chart.kind == "bar" else _lines
    parts.extend(draw(chart, slot, y))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()


def _bars(chart: Chart, slot: float, y: Callable[[float], float]) -> list[str]:
    count, groups = len(chart.labels), max(len(chart.series), 1)
    width = slot * 0.8 / groups
    show_values = count * groups <= MAX_VALUE_LABELS
    out: list[str] = []
    for s_index, series in enumerate(chart.series):
        css = f"s{s_index % 4 + 1}"
        for i, value in enumerate(series.values):
            if value <= 0:
                continue
            x = LEFT + slot * i + slot * 0.1 + width * s_index
            top = y(value)
            tip = f"{chart.labels[i]}: {value} {series.name}"
            out.append(
                f'<rect class="bar {css}" x="{_num(x)}" y="{_num(top)}" '
                f'width="{_num(width)}" height="{_num(y(0) - top)}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            if show_values:
                out.append(
                    f'<text class="value" x="{_num(x + width / 2)}" y="{_num(top - 4)}" '
                    f'text-anchor="middle">{value}</text>'
                )
    return out


def _lines(chart: Chart, slot: float, y: Callable[[float], float]) -> list[str]:
    show_values = len(chart.labels) <= MAX_VALUE_LABELS // 2
    out: list[str] = []
    for s_index, series in enumerate(chart.series):
        css = f"s{s_index % 4 + 1}"
        points = [
            (LEFT + slot * (i + 0.5), y(value), value) for i, value in enumerate(series.values)
        ]
        path = " ".join(f"{_num(px)},{_num(py)}" for px, py, _ in points)
        out.append(f'<polyline class="line {css}" points="{path}"/>')
        for i, (px, py, value) in enumerate(points):
            tip = f"{chart.labels[i]}: {value} {series.name}"
            out.append(
                f'<circle class="dot {css}" cx="{_num(px)}" cy="{_num(py)}" r="3.5">'
                f"<title>{escape(tip)}</title></circle>"
            )
            if show_values and value > 0:
                out.append(
                    f'<text class="value" x="{_num(px)}" y="{_num(py - 8)}" '
                    f'text-anchor="middle">{value}</text>'
                )
    return out


def legend(chart: Chart) -> Markup:
    """The series names beside their colours (hidden from screen readers: the table names them)."""
    items = "".join(
        f'<li><span class="swatch s{i % 4 + 1}"></span>{escape(s.name)}</li>'
        for i, s in enumerate(chart.series)
    )
    return Markup(f'<ul class="chart-legend" aria-hidden="true">{items}</ul>')  # noqa: S704


def table(chart: Chart) -> Markup:
    """The chart's figures as a table: one row per bucket, one column per series."""
    labels = chart.long_labels or chart.labels
    head = "".join(f'<th scope="col">{escape(s.name)}</th>' for s in chart.series)
    rows = []
    for i, label in enumerate(labels):
        cells = "".join(f"<td>{s.values[i]}</td>" for s in chart.series)
        rows.append(f'<tr><th scope="row">{escape(label)}</th>{cells}</tr>')
    totals = "".join(f"<td>{'' if s.total is None else s.total}</td>" for s in chart.series)
    return Markup(  # noqa: S704 - names and labels escaped above; the rest are integers
        f'<table class="admin chart-numbers"><caption>{escape(_numbers_title(chart))}'
        f'</caption><thead><tr><th scope="col">{escape(chart.bucket_name)}</th>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody>"
        f'<tfoot><tr><th scope="row">{escape(chart.total_name)}</th>{totals}</tr>'
        "</tfoot></table>"
    )


def _numbers_title(chart: Chart) -> str:
    return chart.numbers_title or f"{chart.title}: the numbers"


def figure(chart: Chart) -> Markup:
    """Chart, legend and table together, as the managers' page shows them."""
    return Markup(  # noqa: S704 - built from the escaped pieces above
        f'<figure class="chart-figure" id="{_ident(chart.ident)}">'
        f"<figcaption>{escape(chart.title)}</figcaption>"
        f"{svg(chart)}{legend(chart)}"
        # A narrow screen scrolls the table sideways; keyboard users can too (tabindex).
        f'<div class="chart-table" role="region" tabindex="0" '
        f'aria-label="{escape(_numbers_title(chart))}">{table(chart)}</div></figure>'
    )
