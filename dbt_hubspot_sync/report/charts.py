"""Inline SVG charts drawn here (no chart library, no network): every text in them is escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from markupsafe import Markup

# Colours of the outcomes (bottom-up in a stacked bar) and of the run statuses.
OUTCOME_COLORS = {
    "updated": "#2e9e5b",
    "unchanged": "#9db4c8",
    "not_found": "#e0a526",
    "invalid": "#e06c3c",
    "duplicate": "#8e6cc2",
    "failed": "#c8283c",
}
STATUS_COLORS = {
    "completed": "#2e9e5b",
    "completed_with_errors": "#e0a526",
    "failed": "#c8283c",
    "running": "#3b7dd8",
    "waiting": "#7a8794",
}
W, H = 960, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 44
MAX_LABELS = 8


@dataclass(frozen=True)
class Bar:
    """One run's bar: `segments` are (name, value) bottom-up; `status` colours the strip under it."""

    when: datetime | None
    segments: Sequence[tuple[str, float]]
    tooltip: str
    status: str | None = None


def fmt(value: float | int | None, digits: int = 1) -> str:
    """1,234 for whole numbers, 12.3 otherwise; '' for None."""
    if value is None:
        return ""
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at least `value` (the top of the axis)."""
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * exp >= value:
            return step * exp
    return 10 * exp  # pragma: no cover - the loop ends at 10


def _label(when: datetime | None) -> str:
    return f"{when:%m-%d %H:%M}" if isinstance(when, datetime) else "?"


def bar_chart(bars: Sequence[Bar], colors: dict[str, str], *, title: str, unit: str = "") -> Markup:
    """A (stacked) bar per item, oldest left, with a y axis, time labels and a status strip; a `<title>` per bar
    shows its details on hover."""
    if not bars:
        return Markup('<p class="empty">No runs to chart.</p>')
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    top = nice_max(max(sum(v for _, v in b.segments) for b in bars))
    step = plot_w / len(bars)
    width = max(min(step * 0.7, 48.0), 1.0)
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):  # grid lines and y labels: 0, 1/4, ..., top
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}'
            f"{escape(unit) if i == 4 and unit else ''}</text>"
        )
    every = max(1, math.ceil(len(bars) / MAX_LABELS))
    for i, bar in enumerate(bars):
        x = LEFT + step * i + (step - width) / 2
        y = TOP + plot_h
        parts.append(f'<g class="bar"><title>{escape(bar.tooltip)}</title>')
        for name, value in bar.segments:
            if value <= 0:
                continue
            h = plot_h * value / top
            y -= h
            color = colors.get(name, "#888888")
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{h:.1f}" fill="{color}"'
                f' data-segment="{escape(name)}"/>'
            )
        if bar.status is not None:
            color = STATUS_COLORS.get(bar.status, "#888888")
            parts.append(
                f'<rect class="status" x="{x:.1f}" y="{TOP + plot_h + 4}" width="{width:.1f}" height="6"'
                f' fill="{color}" data-status="{escape(bar.status)}"/>'
            )
        parts.append("</g>")
        if i % every == 0 or i == len(bars) - 1:
            parts.append(
                f'<text class="axis" x="{x + width / 2:.1f}" y="{H - 14}" text-anchor="middle">'
                f"{escape(_label(bar.when))}</text>"
            )
    parts.append(
        f'<line class="baseline" x1="{LEFT}" x2="{W - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def legend(colors: dict[str, str], caption: str = "") -> Markup:
    items = f'<span class="caption">{escape(caption)}</span>' if caption else ""
    items += "".join(
        f'<span class="key"><span class="swatch" style="background:{c}"></span>{escape(n)}</span>'
        for n, c in colors.items()
    )
    return Markup(f'<div class="legend">{items}</div>')
