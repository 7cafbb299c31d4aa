"""Accessible SVG charts drawn on the server from plain values (pure: no Flask, no database).

Each chart has a <title> and <desc> and role="img"; the page shows the same numbers in a table beside it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

PALETTE = ("#1d4e89", "#2f7d4f", "#8a4f00", "#6a3d9a", "#a3222a", "#00677a", "#5a5a5a")


@dataclass(frozen=True, slots=True)
class Series:
    labels: tuple[str, ...]
    values: tuple[float, ...]


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def bar_chart(chart_id: str, title: str, description: str, series: Series, width: int = 640,
              bar_height: int = 22, fmt: Callable[[float], str] = _fmt, label_chars: int = 60) -> str:
    """Horizontal bars: one row per label, the label written above its bar over the whole width (long
    labels such as "Arbeit und Beruf für Partner/in" stay whole) and the value at the bar's end (readable
    without colour). Text is large enough to stay readable when a phone shows the chart at 60 %."""
    rows = len(series.labels)
    row = 24 + bar_height + 12  # label line, bar, gap
    height = max(rows, 1) * row + 8
    top = max(series.values, default=0) or 1
    plot = width - 70  # room for the value after the longest bar
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" focusable="false">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    for i, (label, value) in enumerate(zip(series.labels, series.values, strict=True)):
        y = 8 + i * row
        length = 0 if value <= 0 else max(2.0, plot * value / top)
        shown = label if len(label) <= label_chars else label[:label_chars - 1] + "…"
        parts.append(f'<text x="0" y="{y + 17}" font-size="18" fill="#1b1f29">{escape(shown)}</text>')
        parts.append(
            f'<rect x="0" y="{y + 24}" width="{length:.1f}" height="{bar_height}" fill="{PALETTE[0]}"></rect>'
        )
        parts.append(
            f'<text x="{length + 8:.1f}" y="{y + 24 + bar_height / 2 + 6:.0f}" font-size="18" '
            f'fill="#1b1f29">{escape(fmt(value))}</text>'
        )
    if not series.labels:
        parts.append(f'<text x="{width / 2:.0f}" y="24" text-anchor="middle" font-size="18" '
                     f'fill="#1b1f29">–</text>')
    parts.append("</svg>")
    return "".join(parts)


def column_chart(chart_id: str, title: str, description: str, series: Series, width: int = 640,
                 height: int = 240, fmt: Callable[[float], str] = _fmt) -> str:
    """Vertical columns, e.g. tours per month; values above the columns. With many columns only every
    n-th label is written below them, so labels never overlap (the table beside the chart has them all)."""
    count = max(len(series.labels), 1)
    top = max(series.values, default=0) or 1
    base = height - 36
    slot = (width - 20) / count
    bar = min(48.0, slot * 0.7)
    every = -(-count // 10)  # about 60 pixels per label
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" focusable="false">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        f'<line x1="10" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#4a4f5c" stroke-width="1"></line>',
    ]
    for i, (label, value) in enumerate(zip(series.labels, series.values, strict=True)):
        x = 10 + i * slot + (slot - bar) / 2
        h = 0 if value <= 0 else max(2.0, (base - 24) * value / top)
        parts.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                     f'fill="{PALETTE[0]}"></rect>')
        if count <= 18:  # more would overlap; the table has the numbers
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{base - h - 6:.1f}" text-anchor="middle" '
                         f'font-size="15" fill="#1b1f29">{escape(fmt(value))}</text>')
        if i % every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{base + 18}" text-anchor="middle" font-size="16" '
                         f'fill="#1b1f29">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
