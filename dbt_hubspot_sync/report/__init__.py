"""`dbt-hubspot-sync report`: one self-contained HTML file from the warehouse tables (runs, record log,
pending syncs), per exposure: run history, throughput and requests, top rejection reasons, list changes, what is
pending or stale. `queries.py` reads, `render.py` (with `charts.py` and `templates/`) writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbt_hubspot_sync import __version__
from dbt_hubspot_sync.config.sync_config import META_KEY, log_schema_for
from dbt_hubspot_sync.errors import ConfigError, UsageError
from dbt_hubspot_sync.report.queries import ReportData, ReportQueries, read_report
from dbt_hubspot_sync.report.render import render_report

REPORT_FILE = "hubspot_sync_report.html"

__all__ = ["REPORT_FILE", "ReportData", "ReportResult", "read_report", "render_report", "write_report"]


@dataclass(frozen=True)
class ReportResult:
    path: Path
    exposures: int
    runs: int


def _declared_syncs(project: Any) -> dict[str, str | None]:
    """The project's syncs and their resolved list_id (a template's too). The report must not fail on a config
    error: such a sync is shown without a list."""
    out: dict[str, str | None] = {}
    for name, exposure in project.exposures.items():
        if isinstance(exposure.meta.get(META_KEY), dict):
            try:
                out[name] = project.sync_config(name).list_id
            except ConfigError:
                out[name] = None
    return out


def write_report(
    session: Any, *, select: Sequence[str] = (), output: str | Path | None = None, limit: int = 50
) -> ReportResult:
    """Read the log tables of `session`'s project and write the report (default: <target-path>/REPORT_FILE).
    SyncError when the run log does not exist yet."""
    if limit < 1:
        raise UsageError(f"--limit must be at least 1 (got {limit})")
    project = session.project
    schema = log_schema_for(project.hubspot_vars, project.target_schema)
    queries = ReportQueries(session.warehouse, schema)
    if not queries.has_log():
        raise UsageError(
            f"no run log in schema '{schema}' yet ({queries.runs} does not exist): run a sync "
            "(or any dbt command of the project) first"
        )
    data = read_report(
        session.warehouse,
        schema,
        project=project.name,
        adapter=project.adapter_type,
        declared=_declared_syncs(project),
        select=select,
        limit=limit,
        tool_version=__version__,
    )
    path = Path(output) if output else Path(project.target_path or "target") / REPORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data), encoding="utf-8")
    return ReportResult(path.resolve(), len(data.exposures), sum(len(x.runs) for x in data.exposures))
