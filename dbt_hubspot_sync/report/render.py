"""The report's HTML: one self-contained file (inline CSS and SVG, no script, no font or resource to fetch; a
Content-Security-Policy that forbids any), rendered with the package's jinja2 template, every value escaped."""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from dbt_hubspot_sync.report.charts import OUTCOME_COLORS, STATUS_COLORS, Bar, bar_chart, fmt, legend
from dbt_hubspot_sync.report.queries import OUTCOMES, ExposureData, ReportData, Run

TEMPLATES = Path(__file__).parent / "templates"
REQUEST_COLORS = {"first attempts": "#5a6f86", "retries": "#e0a526"}  # `requests` counts every attempt


def _ts(value: Any) -> str:
    return (
        f"{value:%Y-%m-%d %H:%M:%S}" if hasattr(value, "strftime") else ("" if value is None else str(value))
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _slug(name: str) -> str:
    """An HTML id for an exposure (anything outside [A-Za-z0-9_-] becomes '-')."""
    return "exposure-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _outcome_tooltip(run: Run) -> str:
    counts = ", ".join(f"{fmt(run.values[f'rows_{o}'])} {o}" for o in OUTCOMES if run.values[f"rows_{o}"])
    return f"{_ts(run.started_at)} · {run.status} · {fmt(run.rows_read)} read" + (
        f": {counts}" if counts else ""
    )


def outcome_chart(exposure: ExposureData) -> Markup:
    """Rows by outcome per run, oldest left, the status under each bar."""
    bars = [
        Bar(
            r.started_at,
            [(o, r.values[f"rows_{o}"]) for o in OUTCOMES],
            _outcome_tooltip(r),
            r.status,
        )
        for r in reversed(exposure.runs)
    ]
    return bar_chart(bars, OUTCOME_COLORS, title=f"rows by outcome per run of {exposure.name}")


def throughput_charts(exposure: ExposureData) -> tuple[Markup, Markup]:
    """(rows per second, requests) per finished run, oldest left."""
    done = [r for r in reversed(exposure.runs) if r.duration_s is not None]
    rate = [
        Bar(
            r.started_at,
            [("rows/s", r.rows_per_s or 0.0)],
            f"{_ts(r.started_at)} · {fmt(r.rows_per_s)} rows/s ({fmt(r.rows_read)} rows in {_duration(r.duration_s)})",
            r.status,
        )
        for r in done
    ]
    requests = [
        Bar(
            r.started_at,
            [("first attempts", max(r.requests - r.retries, 0)), ("retries", r.retries)],
            f"{_ts(r.started_at)} · {fmt(r.requests)} requests ({fmt(r.requests_per_s)}/s),"
            f" {fmt(r.retries)} retries, {fmt(r.rate_limited)} 429s waited out",
            r.status,
        )
        for r in done
    ]
    return (
        bar_chart(rate, {"rows/s": "#3b7dd8"}, title=f"rows per second per run of {exposure.name}"),
        bar_chart(
            requests,
            REQUEST_COLORS,
            title=f"HubSpot requests per run of {exposure.name}",
        ),
    )


def throughput_summary(exposure: ExposureData) -> dict[str, str]:
    done = [r for r in exposure.runs if r.duration_s]
    rates = [r.rows_per_s or 0.0 for r in done]
    return {
        "median rows/s": fmt(statistics.median(rates)) if rates else "",
        "best rows/s": fmt(max(rates)) if rates else "",
        "requests": fmt(sum(r.requests for r in exposure.runs)),
        "retries": fmt(sum(r.retries for r in exposure.runs)),
        "429s waited out": fmt(sum(r.rate_limited for r in exposure.runs)),
        "requests per 100 rows read": fmt(
            100 * sum(r.requests for r in exposure.runs) / max(sum(r.rows_read for r in exposure.runs), 1), 2
        ),
    }


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every value is escaped: emails and error texts are user data
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ts=_ts, duration=_duration, num=fmt, slug=_slug)
    return env


def render_report(data: ReportData) -> str:
    """The whole report as one HTML document."""
    sections = []
    for exposure in data.exposures:
        rate_chart, request_chart = throughput_charts(exposure)
        sections.append(
            {
                "x": exposure,
                "outcome_chart": outcome_chart(exposure),
                "rate_chart": rate_chart,
                "request_chart": request_chart,
                "throughput": throughput_summary(exposure),
            }
        )
    template = _environment().get_template("report.html.j2")
    return template.render(
        data=data,
        sections=sections,
        outcomes=OUTCOMES,
        outcome_legend=legend(OUTCOME_COLORS, "rows:"),
        status_legend=legend(STATUS_COLORS, "run status (the strip under each bar):"),
        request_legend=legend(REQUEST_COLORS, "requests:"),
        status_colors=STATUS_COLORS,
    )
