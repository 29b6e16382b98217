"""The warehouse tables: `hubspot_sync_runs` (one row per exposure per run) and `hubspot_sync_record_log`.

Writes go through anything with the small `SqlTarget` surface: dbt's adapter connection (`dbt_bridge.Warehouse`)
or, inside a DuckDB post-hook, a separate DuckDB connection (so the hook's own connection is never re-entered).

Append-only targets (`target.append_only`: Spark and Databricks, whose built-in table formats have no UPDATE or
DELETE) keep the same tables' meaning without changing a row: a run's status change is a new row of
`hubspot_sync_run_events` (the previous row copied, the changed columns set), and `hubspot_sync_runs` is a view
of each run's latest event (macros/log_tables_ddl.sql: a finished status wins over `running`, which wins over
`waiting`, then the latest). Readers read `hubspot_sync_runs` either way.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from dbt_hubspot_sync import __version__

RUNS_TABLE = "hubspot_sync_runs"
RUN_EVENTS_TABLE = "hubspot_sync_run_events"  # append-only targets: the rows behind the hubspot_sync_runs view
RECORDS_TABLE = "hubspot_sync_record_log"
# A run still `running` after this long was killed: the next run marks it failed. (A run whose process is known
# to be gone, on the same host, is stale at once.)
STALE_AFTER = timedelta(hours=6)


def runner_id() -> str:
    """`host:pid` of this process, stored with each run so the next run can tell a killed one from a live one."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_gone(runner: str | None) -> bool:
    """True only when `runner` ran on this host and its process no longer exists (SIGKILL, OOM, power cut)."""
    host, _, pid = (runner or "").rpartition(":")
    if os.name != "posix" or host != socket.gethostname() or not pid.isdigit():
        return False  # another host (or unknown): only the age tells
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: existence check only
    except ProcessLookupError:
        return True
    except OSError:  # e.g. EPERM: it exists, under another user
        return False
    return False


class SqlTarget(Protocol):
    placeholder: str
    # True when the driver binds a Python list as one SQL array (DuckDB, psycopg2): rows are then written as
    # one statement of a few column arrays, about 10x faster than multi-row VALUES.
    array_params: bool

    # (optional) True where UPDATE and DELETE are unavailable: the log tables are append-only (see above).
    # append_only: bool

    def relation(self, schema: str, identifier: str) -> str: ...
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]: ...


def append_only(target: SqlTarget) -> bool:
    """Whether `target` writes the log tables append-only (Spark, Databricks); False unless it says so. A wrapper
    (the pipeline's guarded target) answers for the target it wraps (`_target`)."""
    seen: Any = target
    while seen is not None:
        flag = getattr(seen, "append_only", None)
        if flag is not None:
            return bool(flag)
        seen = getattr(seen, "_target", None)
    return False


# Rows per statement. Multi-row VALUES: one statement of 500 rows costs what ~5 single-row ones do, and
# 500 x 9 parameters stays far below any driver's limit. Column arrays: bounded only to bound memory.
ROWS_PER_STATEMENT = 500
ROWS_PER_ARRAY_STATEMENT = 50_000


def insert_rows(
    target: SqlTarget,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    constants: Sequence[tuple[str, str, Any]] = (),
) -> None:
    """Insert `rows` into `table`. `columns` are (name, SQL type) pairs, the types those of the DDL;
    `constants` are (name, SQL type, value) columns that hold one value in every row (bound once)."""
    names = ", ".join([name for name, _ in columns] + [name for name, _, _ in constants])
    p = target.placeholder
    fixed = [value for _, _, value in constants]
    if getattr(target, "array_params", False):
        # One array per column, unnested in parallel (DuckDB zips them; PostgreSQL >= 10 does too).
        select = ", ".join(
            [f"unnest({p}::{sql_type}[])" for _, sql_type in columns]
            + [f"{p}::{sql_type}" for _, sql_type, _ in constants]
        )
        for i in range(0, len(rows), ROWS_PER_ARRAY_STATEMENT):
            chunk = rows[i : i + ROWS_PER_ARRAY_STATEMENT]
            arrays = [list(c) for c in zip(*chunk)]
            target.execute(f"insert into {table} ({names}) select {select}", [*arrays, *fixed])
        return
    marks = "(" + ", ".join([p] * (len(columns) + len(constants))) + ")"
    for i in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[i : i + ROWS_PER_STATEMENT]
        target.execute(
            f"insert into {table} ({names}) values {', '.join([marks] * len(chunk))}",
            [value for row in chunk for value in (*row, *fixed)],
        )


def rows_per_statement(target: SqlTarget) -> int:
    return ROWS_PER_ARRAY_STATEMENT if getattr(target, "array_params", False) else ROWS_PER_STATEMENT


def in_list(target: SqlTarget, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """SQL for `x in (...)` over `values`, and its parameters (one array where the driver binds lists)."""
    p = target.placeholder
    if getattr(target, "array_params", False):
        return f"(select unnest({p}::text[]))", [list(values)]
    return "(" + ", ".join([p] * len(values)) + ")", list(values)


def utcnow() -> datetime:
    # Naive UTC: both DuckDB's and Postgres' `timestamp` columns take it without a time-zone shift.
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class Counters:
    rows_read: int = 0
    rows_invalid: int = 0
    rows_duplicate: int = 0
    rows_unchanged: int = 0
    rows_updated: int = 0
    rows_not_found: int = 0
    rows_failed: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    list_added: int = 0
    list_missing: int = 0
    list_removed: int = 0  # list_mode mirror: members that left the audience, removed (a dry run: would be)

    def outcomes(self) -> int:
        return (
            self.rows_invalid
            + self.rows_duplicate
            + self.rows_unchanged
            + self.rows_updated
            + self.rows_not_found
            + self.rows_failed
        )

    def holds(self) -> bool:
        """The product's invariant: every row read has exactly one counted outcome."""
        return self.rows_read == self.outcomes()


@dataclass
class RunRow:
    run_id: str
    invocation_id: str | None
    exposure_name: str
    relation: str
    trigger: str  # cli | post_hook | dbt_run
    status: str = "waiting"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    tool_version: str = __version__
    runner: str = field(default_factory=runner_id)


@dataclass(frozen=True)
class RecordRow:
    email_raw: str | None
    email_clean: str | None
    outcome: str  # invalid | duplicate | not_found | failed (and updated | unchanged with log_records: all)
    reason_code: str | None
    detail: str | None = None
    http_status: int | None = None


# (name, type) as macros/log_tables_ddl.sql creates them: text, bigint, timestamp on every supported adapter.
RECORD_COLUMNS = [
    ("email_raw", "text"),
    ("email_clean", "text"),
    ("outcome", "text"),
    ("reason_code", "text"),
    ("detail", "text"),
    ("http_status", "bigint"),
]
RUN_COLUMNS = (
    [f.name for f in fields(RunRow)][:8]
    + [f.name for f in fields(Counters)]
    + ["error", "tool_version", "runner"]
)


class RunLog:
    def __init__(self, target: SqlTarget, schema: str) -> None:
        self.target = target
        self.runs = target.relation(schema, RUNS_TABLE)  # what readers read (a view on append-only targets)
        self.records = target.relation(schema, RECORDS_TABLE)
        self.append_only = append_only(target)
        self.run_events = target.relation(schema, RUN_EVENTS_TABLE) if self.append_only else None
        self._p = target.placeholder

    def _marks(self, n: int) -> str:
        return ", ".join([self._p] * n)

    def insert_run(self, run: RunRow, counters: Counters | None = None) -> None:
        # started_at holds the queue time until the run starts, so a `waiting` row left by a killed
        # process can be found stale too.
        run.started_at = run.started_at or utcnow()
        values = asdict(run)
        values.update(asdict(counters or Counters()))
        params = [values[c] for c in RUN_COLUMNS]
        if self.run_events is not None:
            self.target.execute(
                f"insert into {self.run_events} ({', '.join(RUN_COLUMNS)}, event_at)"
                f" values ({self._marks(len(RUN_COLUMNS) + 1)})",
                [*params, utcnow()],
            )
            return
        self.target.execute(
            f"insert into {self.runs} ({', '.join(RUN_COLUMNS)}) values ({self._marks(len(RUN_COLUMNS))})",
            params,
        )

    def set_running(self, run_id: str) -> datetime:
        started = utcnow()
        self._change(run_id, {"status": "running", "started_at": started})
        return started

    def finish_run(self, run_id: str, status: str, counters: Counters, error: str | None) -> None:
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error}
        values.update(asdict(counters))
        self._change(run_id, values)

    def set_import_ids(self, run_id: str, import_ids: Sequence[str]) -> None:
        """The HubSpot imports a run started, comma-separated. Not on append-only targets: their runs view has no
        such column (hubspot_sync_imports names each import's run there)."""
        if import_ids and self.run_events is None:
            self._change(run_id, {"import_ids": ",".join(import_ids)})

    def _change(self, run_id: str, values: dict[str, Any]) -> None:
        """Set some columns of one run: an UPDATE of its row, or on an append-only target a new event that
        copies the run's latest state with these columns changed."""
        p = self._p
        if self.run_events is None:
            sets = ", ".join(f"{c} = {p}" for c in values)
            self.target.execute(f"update {self.runs} set {sets} where run_id = {p}", [*values.values(), run_id])
            return
        select = ", ".join(p if c in values else c for c in RUN_COLUMNS)
        self.target.execute(
            f"insert into {self.run_events} ({', '.join(RUN_COLUMNS)}, event_at)"
            f" select {select}, {p} from {self.runs} where run_id = {p}",
            [*(values[c] for c in RUN_COLUMNS if c in values), utcnow(), run_id],
        )

    def log_records(self, run_id: str, exposure: str, rows: Sequence[RecordRow]) -> None:
        insert_rows(
            self.target,
            self.records,
            RECORD_COLUMNS,
            [(r.email_raw, r.email_clean, r.outcome, r.reason_code, r.detail, r.http_status) for r in rows],
            [
                ("run_id", "text", run_id),
                ("exposure_name", "text", exposure),
                ("logged_at", "timestamp", utcnow()),
            ],
        )

    def fail_stale_runs(self, exposure: str) -> int:
        """Runs left `running`/`waiting` by a killed process are marked failed, so the log never lies: at once
        when their process is gone from this host, else once they are older than STALE_AFTER."""
        cutoff = utcnow() - STALE_AFTER
        open_runs = self.target.execute(
            f"select run_id, runner, started_at from {self.runs}"
            f" where exposure_name = {self._p} and status in ('running', 'waiting')",
            [exposure],
        )
        stale = []
        for run_id, runner, started_at in open_runs:
            if isinstance(started_at, datetime) and started_at.tzinfo is not None:
                started_at = started_at.astimezone(timezone.utc).replace(tzinfo=None)
            if _process_gone(runner):
                stale.append((run_id, f"stale: its process ({runner}) was killed before the run finished"))
            elif started_at is not None and started_at < cutoff:
                stale.append((run_id, "stale: the process running it stopped before it finished"))
        for run_id, reason in stale:
            self._change(run_id, {"status": "failed", "finished_at": utcnow(), "error": reason})
        return len(stale)

    def recent_runs(self, limit: int = 20, exposures: Sequence[str] = ()) -> tuple[list[str], list[tuple]]:
        """The newest runs first (of `exposures` only, when given): (column names, rows)."""
        where, params = "", list(exposures)
        if exposures:
            where = f" where exposure_name in ({self._marks(len(exposures))})"
        rows = self.target.execute(
            f"select {', '.join(RECENT_COLUMNS)} from {self.runs}{where}"
            f" order by started_at desc nulls last limit {int(limit)}",
            params or None,
        )
        return list(RECENT_COLUMNS), rows

    def exists(self) -> bool:
        """Whether the runs table (or view) is there to read: False before the first sync of the schema."""
        try:
            self.target.execute(f"select count(*) from {self.runs} where 1 = 0")
        except Exception:  # the driver's own error for a missing relation; nothing else is asked
            return False
        return True

    def runs_of_invocation(self, invocation_id: str) -> list[tuple[str, str, str, str | None, Counters]]:
        """(run id, exposure, status, error, counters) of the runs one dbt invocation logged, oldest first (the
        DuckDB plugin pushes inside dbt, out of the runner's sight)."""
        counters = [f.name for f in fields(Counters)]
        rows = self.target.execute(
            f"select run_id, exposure_name, status, error, {', '.join(counters)} from {self.runs}"
            f" where invocation_id = {self._p} order by started_at",
            [invocation_id],
        )
        return [(r[0], r[1], r[2], r[3], Counters(*r[4:])) for r in rows]

    def find_run(self, run_id_prefix: str) -> str:
        """The full run id a prefix names (as `runs` prints the first 8 characters); KeyError names the problem."""
        matches = self.target.execute(
            f"select run_id from {self.runs} where run_id like {self._p} order by run_id limit 2",
            [run_id_prefix.replace("%", "").replace("_", "") + "%"],
        )
        if not matches:
            raise KeyError(f"no run with id '{run_id_prefix}' in {self.runs}")
        if len(matches) > 1 and matches[0][0] != run_id_prefix:
            raise KeyError(f"run id '{run_id_prefix}' is ambiguous in {self.runs}: give more characters")
        return str(matches[0][0])

    def rejected_records(self, run_id: str, limit: int | None = None) -> tuple[list[str], list[tuple]]:
        """One run's record-log rows for records not updated (invalid, duplicate, not_found, failed)."""
        cols = ["email_raw", "email_clean", "outcome", "reason_code", "http_status", "detail"]
        rows = self.target.execute(
            f"select {', '.join(cols)} from {self.records} where run_id = {self._p}"
            " and outcome in ('invalid', 'duplicate', 'not_found', 'failed')"
            " order by outcome, reason_code, email_clean" + (f" limit {int(limit)}" if limit else ""),
            [run_id],
        )
        return cols, rows


# What `dbt-hubspot-sync runs` shows (the CLI formats them): newest first.
RECENT_COLUMNS = (
    "started_at",
    "exposure_name",
    "trigger",
    "status",
    "finished_at",
    "run_id",
    *(f.name for f in fields(Counters)),
    "error",
)
