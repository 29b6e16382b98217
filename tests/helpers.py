"""Helpers the unit tests share (plain constants, classes and functions; the fixtures are conftest.py's).

- The warehouse log on DuckDB: `DuckTarget` (run_log.SqlTarget over a DuckDB connection: the engine writes
  through the same surface the dbt adapter offers), `create_log_tables`, `fetch_dicts`.
- The engine harness: `FakeHubSpot` (a scripted fake with the client's surface: `stats`, `read_ids_by_email`,
  `update`, `add_to_list`), `make_plan`, `row` (a row as the sync_rows_query macro returns it) and `Harness`
  (runs `SyncRun`s and checks what must hold after every run on the database).
- `Receiver`: a webhook on loopback that records what the notifications POST.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import duckdb

from dbt_hubspot_sync.config.plan import SyncPlan, build_plan
from dbt_hubspot_sync.dbt_bridge import Exposure, Model, Project
from dbt_hubspot_sync.engine import RunResult, SyncRun
from dbt_hubspot_sync.hubspot import ClientStats, ListOutcome, UpdateOutcome
from dbt_hubspot_sync.tables.run_log import RunLog

# -- the warehouse log on DuckDB ------------------------------------------------------------------------
SCHEMA = "main"

# The columns and types of the log_tables_ddl macro as dbt-duckdb renders them (type_string, type_timestamp,
# type_bigint).
RUNS_DDL = """
create table if not exists {schema}.hubspot_sync_runs (
    run_id varchar, invocation_id varchar, exposure_name varchar, relation varchar, trigger varchar,
    status varchar, started_at timestamp, finished_at timestamp,
    rows_read bigint, rows_invalid bigint, rows_duplicate bigint, rows_unchanged bigint,
    rows_updated bigint, rows_not_found bigint, rows_failed bigint,
    requests bigint, retries bigint, rate_limited bigint, list_added bigint, list_missing bigint,
    list_removed bigint, error varchar, tool_version varchar, runner varchar
)
"""
LIST_MEMBERS_DDL = """
create table if not exists {schema}.hubspot_sync_list_members (
    exposure_name varchar, list_id varchar, record_id varchar, event varchar, run_id varchar, event_at timestamp
)
"""
RECORDS_DDL = """
create table if not exists {schema}.hubspot_sync_record_log (
    run_id varchar, exposure_name varchar, email_raw varchar, email_clean varchar, outcome varchar,
    reason_code varchar, detail varchar, http_status bigint, logged_at timestamp
)
"""


class DuckTarget:
    """run_log.SqlTarget over a DuckDB connection."""

    placeholder = "?"
    array_params = False

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn
        self.statements: list[str] = []

    def relation(self, schema: str, identifier: str) -> str:
        return f'"{schema}"."{identifier}"'

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        self.statements.append(sql)
        cur = self.conn.execute(sql, params) if params is not None else self.conn.execute(sql)
        return cur.fetchall() if sql.lstrip().lower().startswith("select") else []

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.statements.append(sql)
        self.conn.executemany(sql, [list(r) for r in rows])


def create_log_tables(conn: duckdb.DuckDBPyConnection, schema: str = SCHEMA) -> None:
    conn.execute(f"create schema if not exists {schema}")
    conn.execute(RUNS_DDL.format(schema=schema))
    conn.execute(RECORDS_DDL.format(schema=schema))
    conn.execute(LIST_MEMBERS_DDL.format(schema=schema))


def fetch_dicts(
    conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    cur = conn.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


# -- the engine harness: a scripted HubSpot, plans, rows ------------------------------------------------
RELATION = '"db"."main"."contacts"'
OUTCOME_COLUMNS = (
    "rows_invalid",
    "rows_duplicate",
    "rows_unchanged",
    "rows_updated",
    "rows_not_found",
    "rows_failed",
)

Inputs = Sequence[tuple[str, dict[str, str]]]


class FakeHubSpot:
    """The client's surface with scripted answers; emails keyed lower-case, as the real client documents."""

    def __init__(self, contacts: dict[str, str] | None = None) -> None:
        self.stats = ClientStats()
        self.contacts = {k.lower(): v for k, v in (contacts or {}).items()}
        self.reads: list[list[str]] = []
        self.id_reads: list[list[str]] = []
        # What HubSpot holds, by record id (a batch read returns it): {record id: {property: value}}.
        self.values: dict[str, dict[str, str]] = {}
        self.updates: list[list[tuple[str, dict[str, str]]]] = []
        self.list_adds: list[tuple[str, list[str]]] = []
        self.read_error: Exception | None = None
        # Called with the inputs of each update; returns the outcome or raises. Default: all updated.
        self.on_update: Callable[[Inputs], UpdateOutcome] | None = None
        self.list_missing: set[str] = set()
        self.list_already: set[str] = set()

    def read_ids_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        return {email: rid for email, (rid, _) in self.read_by_email(emails).items()}

    def read_by_email(
        self, emails: Sequence[str], properties: Sequence[str] = ()
    ) -> dict[str, tuple[str, dict[str, str | None]]]:
        self.reads.append(list(emails))
        self.stats.add(requests=math.ceil(len(emails) / 100))
        if self.read_error is not None:
            raise self.read_error
        keys = (e.strip().lower() for e in emails)
        return {k: (self.contacts[k], self._values(self.contacts[k], properties)) for k in keys if k in self.contacts}

    def read_by_id(self, ids: Sequence[str], properties: Sequence[str]) -> dict[str, dict[str, str | None]]:
        self.id_reads.append(list(ids))
        self.stats.add(requests=math.ceil(len(ids) / 100))
        known = set(self.contacts.values())
        return {rid: self._values(rid, properties) for rid in ids if rid in known}

    def _values(self, rid: str, properties: Sequence[str]) -> dict[str, str | None]:
        held = self.values.get(rid, {})
        return {p: held.get(p) for p in properties}

    def update(self, inputs: Inputs) -> UpdateOutcome:
        self.updates.append(list(inputs))
        self.stats.add(requests=math.ceil(len(inputs) / 100))
        if self.on_update is not None:
            return self.on_update(inputs)
        return UpdateOutcome(updated={rid for rid, _ in inputs})

    def add_to_list(self, list_id: str, record_ids: Sequence[str]) -> ListOutcome:
        self.list_adds.append((list_id, list(record_ids)))
        self.stats.add(requests=1)
        ids = set(record_ids)
        missing, already = ids & self.list_missing, ids & self.list_already
        return ListOutcome(added=ids - missing - already, missing=missing, already=already)

    @property
    def sent_ids(self) -> list[str]:
        return [rid for batch in self.updates for rid, _ in batch]


def make_plan(meta: dict[str, Any] | None = None) -> SyncPlan:
    """A plan over columns (email, firstname, score): rows are (raw, clean, rank, firstname, score)."""
    model = Model("model.p.contacts", "contacts", "model", "table", RELATION)
    meta = {"email_column": "email", **(meta or {})}
    project = Project(
        "p",
        "duckdb",
        SCHEMA,
        "db",
        {"hs": Exposure("hs", {"hubspot_sync": meta}, (model.unique_id,))},
        {model.unique_id: model},
    )
    return build_plan(project, "hs", ["email", "firstname", "score"])


def row(
    email: str | None, first: Any = "Ann", score: Any = 1, *, raw: Any = "same", rank: int | None = 1
) -> tuple[Any, ...]:
    # The shape of the sync_rows_query macro: raw, clean, rank, state record id, state hash, values...
    return (email if raw == "same" else raw, email, rank, None, None, first, score)


@dataclass
class Harness:
    conn: duckdb.DuckDBPyConnection
    client: FakeHubSpot
    runs: list[SyncRun] = field(default_factory=list)

    def new_run(
        self,
        meta: dict[str, Any] | None = None,
        *,
        dry_run: bool = False,
        push_size: int = 1000,
        client: Any = "default",
        **kw: Any,
    ) -> SyncRun:
        run = SyncRun(
            make_plan(meta),
            RunLog(DuckTarget(self.conn), SCHEMA),
            self.client if client == "default" else client,
            trigger="cli",
            dry_run=dry_run,
            push_size=push_size,
            **kw,
        )
        self.runs.append(run)
        return run

    def sync(self, rows: Sequence[Sequence[Any]], meta: dict[str, Any] | None = None, **kw: Any) -> RunResult:
        run = self.new_run(meta, **kw)
        run.announce()
        run.start()
        run.feed(rows)
        return self.finish(run)

    def finish(self, run: SyncRun, error: str | None = None) -> RunResult:
        result = run.finish(error)
        self.check(run, result)
        return result

    def run_row(self, run_id: str) -> dict[str, Any]:
        [r] = fetch_dicts(self.conn, "select * from main.hubspot_sync_runs where run_id = ?", [run_id])
        return r

    def records(self, run_id: str) -> list[dict[str, Any]]:
        return fetch_dicts(
            self.conn,
            "select * from main.hubspot_sync_record_log where run_id = ? "
            "order by email_clean nulls first, outcome",
            [run_id],
        )

    def by_email(self, run_id: str) -> dict[str | None, tuple[str, str | None]]:
        return {r["email_clean"]: (r["outcome"], r["reason_code"]) for r in self.records(run_id)}

    def check(self, run: SyncRun, result: RunResult) -> None:
        """What must hold after every run, whatever happened: checked on the database, not the object."""
        db = self.run_row(result.run_id)
        assert db["rows_read"] == sum(db[c] for c in OUTCOME_COLUMNS), f"invariant broken in the log: {db}"
        for name, value in vars(result.counters).items():
            assert db[name] == value, name
        assert db["status"] == result.status
        assert db["error"] == result.error
        assert db["finished_at"] is not None
        records = self.records(result.run_id)
        logged = {
            c: sum(1 for r in records if r["outcome"] == c.removeprefix("rows_")) for c in OUTCOME_COLUMNS
        }
        # One record row per row not updated (per row with log_records: all), with the counted outcome.
        for col in ("rows_invalid", "rows_duplicate", "rows_not_found", "rows_failed"):
            assert logged[col] == db[col], col
        if run.dry_run and run.plan.config.log_records != "all":  # would-updates are logged with their diff
            assert logged["rows_updated"] == db["rows_updated"]
            assert len(records) == db["rows_read"] - db["rows_unchanged"]
        elif run.plan.config.log_records == "all":
            assert len(records) == db["rows_read"]
            assert logged["rows_updated"] == db["rows_updated"]
            assert logged["rows_unchanged"] == db["rows_unchanged"]
        else:
            assert len(records) == db["rows_read"] - db["rows_updated"] - db["rows_unchanged"]


# -- a webhook on loopback -------------------------------------------------------------------------------
SECRET_PATH = "/services/T000/B000/very-secret-part"


class Receiver:
    """A webhook on 127.0.0.1: records every POST body; answers `status`."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.headers.append(dict(self.headers))
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
