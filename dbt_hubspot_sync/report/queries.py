"""What the report shows, read from the warehouse tables with portable SQL (plain selects, `group by`, bound
parameters) through anything with the `SqlTarget` surface: the session's warehouse on any adapter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from dbt_hubspot_sync.errors import UsageError
from dbt_hubspot_sync.tables.run_log import (
    RECORDS_TABLE,
    RUNS_TABLE,
    STALE_AFTER,
    RunLog,
    SqlTarget,
    _process_gone,
    append_only,
    in_list,
    utcnow,
)

PENDING_TABLE = "hubspot_sync_pending"
# Append-only targets (Spark, Databricks) keep pushed rows in PENDING_TABLE and record them `done` here.
PENDING_EVENTS_TABLE = "hubspot_sync_pending_events"
OUTCOMES = ("updated", "unchanged", "not_found", "invalid", "duplicate", "failed")
REJECTED = ("invalid", "duplicate", "not_found", "failed")
COUNTER_FIELDS = (
    "rows_read",
    *(f"rows_{o}" for o in OUTCOMES),
    "requests",
    "retries",
    "rate_limited",
    "list_added",
    "list_missing",
    "list_removed",
)
RUN_FIELDS = (
    "run_id",
    "invocation_id",
    "exposure_name",
    "relation",
    "trigger",
    "status",
    "started_at",
    "finished_at",
    *COUNTER_FIELDS,
    "error",
    "tool_version",
    "runner",
)
PENDING_FIELDS = ("pending_id", "model_unique_id", "relation", "invocation_id", "created_at", "claimed_by")
TOP_REASONS = 10
EXAMPLES_PER_REASON = 3


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


@dataclass
class Run:
    """One `hubspot_sync_runs` row (counters as ints, 0 where NULL)."""

    values: dict[str, Any]
    stale: str | None = None  # why an open run is stale (its process is gone, or it is too old)

    def __getattr__(self, name: str) -> Any:  # run.status, run.rows_read, ...: the row's columns
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def duration_s(self) -> float | None:
        started, finished = self.values["started_at"], self.values["finished_at"]
        if not isinstance(started, datetime) or not isinstance(finished, datetime):
            return None
        return max((finished - started).total_seconds(), 0.0)

    @property
    def rows_per_s(self) -> float | None:
        d = self.duration_s
        return self.values["rows_read"] / d if d else None

    @property
    def requests_per_s(self) -> float | None:
        d = self.duration_s
        return self.values["requests"] / d if d else None

    @property
    def is_open(self) -> bool:
        return self.values["status"] in ("running", "waiting")


@dataclass
class Example:
    email_raw: str | None
    email_clean: str | None
    detail: str | None
    http_status: int | None


@dataclass
class Rejection:
    outcome: str
    reason_code: str | None
    count: int
    examples: list[Example] = field(default_factory=list)


@dataclass
class Pending:
    values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:  # run.status, run.rows_read, ...: the row's columns
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class ExposureData:
    name: str
    declared: bool  # a sync of the current project (else only found in the log)
    list_id: str | None
    runs: list[Run]  # newest first, at most the report's limit
    total_runs: int
    rejections: list[Rejection]
    pending: list[Pending]
    open_runs: list[Run]  # running or waiting, each with `stale` set when it is

    @property
    def list_changes(self) -> list[Run]:
        return [r for r in self.runs if r.list_added or r.list_missing or r.list_removed]

    @property
    def stale_runs(self) -> list[Run]:
        return [r for r in self.open_runs if r.stale]

    @property
    def totals(self) -> dict[str, int]:
        """Each counter summed over the runs shown, plus `not_updated` (the rows of the rejected outcomes)."""
        out = {c: sum(r.values[c] for r in self.runs) for c in COUNTER_FIELDS}
        out["not_updated"] = sum(out[f"rows_{o}"] for o in REJECTED)
        return out

    @property
    def last_run(self) -> Run | None:
        return self.runs[0] if self.runs else None


@dataclass
class ReportData:
    project: str
    adapter: str
    schema: str
    generated_at: datetime
    tool_version: str
    limit: int
    exposures: list[ExposureData]


class ReportQueries:
    """The report's reads of the log tables in `schema`."""

    def __init__(self, target: SqlTarget, schema: str) -> None:
        self.target = target
        self._log = RunLog(target, schema)
        self.runs = target.relation(schema, RUNS_TABLE)
        self.records = target.relation(schema, RECORDS_TABLE)
        self.pending = target.relation(schema, PENDING_TABLE)
        self.pending_events = target.relation(schema, PENDING_EVENTS_TABLE) if append_only(target) else None
        self._p = target.placeholder

    def has_log(self) -> bool:
        return self._log.exists()

    def logged_exposures(self) -> list[str]:
        names = {r[0] for r in self.target.execute(f"select distinct exposure_name from {self.runs}")}
        names |= {r[0] for r in self.target.execute(f"select distinct exposure_name from {self.pending}")}
        return sorted(n for n in names if n is not None)

    def _runs(self, where: str, params: Sequence[Any], suffix: str = "") -> list[Run]:
        rows = self.target.execute(
            f"select {', '.join(RUN_FIELDS)} from {self.runs} where {where}{suffix}", params
        )
        out = []
        for row in rows:
            values = dict(zip(RUN_FIELDS, row))
            for key in ("started_at", "finished_at"):
                values[key] = _naive_utc(values[key])
            for key in COUNTER_FIELDS:
                values[key] = int(values[key] or 0)
            out.append(Run(values))
        return out

    def recent_runs(self, exposure: str, limit: int) -> list[Run]:
        return self._runs(
            f"exposure_name = {self._p}",
            [exposure],
            f" order by started_at desc nulls last limit {int(limit)}",
        )

    def count_runs(self, exposure: str) -> int:
        return int(
            self.target.execute(
                f"select count(*) from {self.runs} where exposure_name = {self._p}", [exposure]
            )[0][0]
        )

    def open_runs(self, exposure: str, now: datetime) -> list[Run]:
        """Runs still `running`/`waiting`; `stale` says why one is stale, as `RunLog.fail_stale_runs` decides."""
        runs = self._runs(
            f"exposure_name = {self._p} and status in ('running', 'waiting')",
            [exposure],
            " order by started_at",
        )
        for run in runs:
            if _process_gone(run.runner):
                run.stale = f"its process ({run.runner}) is gone"
            elif run.started_at is not None and run.started_at < now - STALE_AFTER:
                run.stale = f"{run.status} for more than {STALE_AFTER.total_seconds() / 3600:g} h"
        return runs

    def rejections(self, exposure: str, run_ids: Sequence[str]) -> list[Rejection]:
        """The most frequent (outcome, reason) of records not updated in `run_ids`, with a few examples each."""
        if not run_ids:
            return []
        runs_sql, runs_params = in_list(self.target, list(run_ids))
        outcomes = ", ".join(f"'{o}'" for o in REJECTED)
        scope = f"exposure_name = {self._p} and outcome in ({outcomes}) and run_id in {runs_sql}"
        rows = self.target.execute(
            f"select outcome, reason_code, count(*) from {self.records} where {scope}"
            f" group by outcome, reason_code order by count(*) desc, outcome, reason_code limit {TOP_REASONS}",
            [exposure, *runs_params],
        )
        out = []
        for outcome, reason, count in rows:
            reason_sql = "reason_code is null" if reason is None else f"reason_code = {self._p}"
            examples = self.target.execute(
                "select email_raw, email_clean, detail, http_status from "
                f"{self.records} where {scope} and outcome = {self._p} and {reason_sql}"
                f" order by logged_at desc, email_clean limit {EXAMPLES_PER_REASON}",
                [exposure, *runs_params, outcome, *([] if reason is None else [reason])],
            )
            out.append(Rejection(outcome, reason, int(count), [Example(*e) for e in examples]))
        return out

    def pending_rows(self, exposure: str) -> list[Pending]:
        """The pending syncs not pushed yet (oldest first), claimed or not."""
        done = ""
        if self.pending_events is not None:  # append-only: a pushed row stays, with a `done` event
            done = (
                f" and pending_id not in (select pending_id from {self.pending_events} where event = 'done')"
            )
        rows = self.target.execute(
            f"select {', '.join(PENDING_FIELDS)} from {self.pending} where exposure_name = {self._p}{done}"
            " order by created_at",
            [exposure],
        )
        return [Pending({k: _naive_utc(v) for k, v in zip(PENDING_FIELDS, r)}) for r in rows]


def read_report(
    target: SqlTarget,
    schema: str,
    *,
    project: str,
    adapter: str,
    declared: dict[str, str | None],
    select: Sequence[str] = (),
    limit: int = 50,
    tool_version: str = "",
) -> ReportData:
    """Everything the report shows. `declared` maps the project's syncs to their list_id; exposures found only in
    the log are shown too (a sync since removed still has history). `select` keeps only those names."""
    q = ReportQueries(target, schema)
    now = utcnow()
    names = sorted(set(declared) | set(q.logged_exposures()))
    if select:
        unknown = sorted(set(select) - set(names))
        if unknown:
            raise UsageError(
                f"no exposure named {', '.join(repr(n) for n in unknown)} among the project's syncs or in {q.runs}"
            )
        names = [n for n in names if n in set(select)]
    exposures = []
    for name in names:
        runs = q.recent_runs(name, limit)
        exposures.append(
            ExposureData(
                name=name,
                declared=name in declared,
                list_id=declared.get(name),
                runs=runs,
                total_runs=q.count_runs(name),
                rejections=q.rejections(name, [str(r.run_id) for r in runs]),
                pending=q.pending_rows(name),
                open_runs=q.open_runs(name, now),
            )
        )
    return ReportData(project, adapter, schema, now, tool_version, limit, exposures)
