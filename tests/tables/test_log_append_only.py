"""The log tables where UPDATE and DELETE are unavailable (Spark, Databricks): the same Python methods, writing
only inserts, read through views of the latest state. On DuckDB with the Spark layout's tables and views (the same
SQL as macros/log_tables_ddl.sql's spark variant), so the logic is checked in milliseconds; tests/spark/ runs the
real thing on Spark.

What must hold: a run's lifecycle, stale-run marking and `runs` read as on the mutable tables; sync state versions
(latest wins, forget hides, record brings back); pending claims owned by exactly one pusher, also when pushers
race; the writer queue's release; and no statement ever updates or deletes.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from dbt_hubspot_sync.tables.pending import CLAIM_LEASE, Pending, PendingQueue
from dbt_hubspot_sync.tables.run_log import RUN_COLUMNS, Counters, RecordRow, RunLog, RunRow, utcnow
from dbt_hubspot_sync.tables.state import SyncState
from dbt_hubspot_sync.tables.writer import WriterLease

from ..helpers import SCHEMA, DuckTarget

RUN_TYPES = {c: "timestamp" for c in ("started_at", "finished_at")} | {
    c: "bigint"
    for c in RUN_COLUMNS
    if c.startswith("rows_") or c in ("requests", "retries", "rate_limited", "list_added", "list_missing")
}
STATE_COLS = "exposure_name, email_clean, record_id, properties_hash, run_id, synced_at"
PENDING_COLS = (
    "pending_id varchar, exposure_name varchar, model_unique_id varchar, relation varchar, invocation_id varchar,"
    " created_at timestamp, claimed_by varchar, claimed_at timestamp, gate_tests varchar, gate_results varchar"
)
# The spark variant of log_tables_ddl, as DuckDB reads it.
DDL = [
    "create table {s}.hubspot_sync_run_events ("
    + ", ".join(f"{c} {RUN_TYPES.get(c, 'varchar')}" for c in RUN_COLUMNS)
    + ", event_at timestamp)",
    "create view {s}.hubspot_sync_runs as select "
    + ", ".join(RUN_COLUMNS)
    + " from (select *, row_number() over (partition by run_id order by case status when 'waiting' then 0"
    " when 'running' then 1 else 2 end desc, event_at desc) as hubspot_sync__latest"
    " from {s}.hubspot_sync_run_events) as e where hubspot_sync__latest = 1",
    "create table {s}.hubspot_sync_record_log (run_id varchar, exposure_name varchar, email_raw varchar,"
    " email_clean varchar, outcome varchar, reason_code varchar, detail varchar, http_status bigint,"
    " logged_at timestamp)",
    "create table {s}.hubspot_sync_state_versions (exposure_name varchar, email_clean varchar, record_id varchar,"
    " properties_hash varchar, run_id varchar, synced_at timestamp, row_fingerprint varchar)",
    f"create view {{s}}.hubspot_sync_state as select {STATE_COLS} from (select *, row_number() over (partition by"
    " exposure_name, email_clean order by synced_at desc, case when properties_hash is null then 0 else 1 end"
    " desc) as hubspot_sync__latest from {s}.hubspot_sync_state_versions) as s where hubspot_sync__latest = 1"
    " and properties_hash is not null",
    f"create table {{s}}.hubspot_sync_pending_builds ({PENDING_COLS})",
    "create table {s}.hubspot_sync_pending_events (pending_id varchar, event varchar, claimed_by varchar,"
    " ticket bigint, detail varchar, event_at timestamp)",
    "create table {s}.hubspot_sync_writers (exposure_name varchar, run_id varchar, phase varchar, ticket bigint,"
    " created_at timestamp)",
]


class AppendOnly(DuckTarget):
    """A target without UPDATE or DELETE (as Spark's parquet tables), one DuckDB connection, thread-safe."""

    append_only = True

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        super().__init__(conn)
        self._lock = threading.Lock()

    def execute(self, sql, params=None):
        verb = sql.split()[0].lower()
        assert verb in ("insert", "select"), f"an append-only target got: {sql}"
        with self._lock:
            return super().execute(sql, params)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect(str(tmp_path / "a.duckdb"))
    for ddl in DDL:
        conn.execute(ddl.format(s=SCHEMA))
    yield conn
    conn.close()


@pytest.fixture
def target(db) -> AppendOnly:
    return AppendOnly(db.cursor())


def run_row(run_id: str, runner: str | None = None) -> RunRow:
    row = RunRow(run_id, "inv", "newsletter", '"main"."audience"', "cli")
    if runner is not None:
        row.runner = runner
    return row


def view(db, sql: str) -> list[tuple]:
    return db.execute(sql.format(s=SCHEMA)).fetchall()


# -- runs ---------------------------------------------------------------------------------------------------
def test_a_runs_lifecycle_is_events_read_as_one_row(db, target) -> None:
    log = RunLog(target, SCHEMA)
    log.insert_run(run_row("r1"))
    assert view(db, "select status, finished_at from {s}.hubspot_sync_runs") == [("waiting", None)]
    started = log.set_running("r1")
    assert view(db, "select status, started_at from {s}.hubspot_sync_runs") == [("running", started)]
    counters = Counters(rows_read=3, rows_updated=2, rows_invalid=1, requests=2)
    log.finish_run("r1", "completed", counters, None)
    [row] = view(
        db,
        "select status, started_at, finished_at, rows_read, rows_updated, rows_invalid,"
        " requests, invocation_id, runner from {s}.hubspot_sync_runs",
    )
    assert row[:2] == ("completed", started) and row[2] is not None
    assert row[3:7] == (3, 2, 1, 2) and row[7] == "inv" and row[8]  # copied from the first event
    assert view(db, "select status from {s}.hubspot_sync_run_events order by event_at") == [
        ("waiting",),
        ("running",),
        ("completed",),
    ]
    log.log_records("r1", "newsletter", [RecordRow("a@x", "a@x", "invalid", "INVALID_SYNTAX")])
    assert log.rejected_records("r1")[1] == [("a@x", "a@x", "invalid", "INVALID_SYNTAX", None, None)]


def test_the_finished_state_wins_over_an_older_clock(db, target) -> None:
    """A run's end is its state even when its `running` event carries a later time (clock skew)."""
    log = RunLog(target, SCHEMA)
    log.insert_run(run_row("r1"))
    log.finish_run("r1", "failed", Counters(), "boom")
    log.set_running("r1")  # late, out of order
    assert view(db, "select status, error from {s}.hubspot_sync_runs") == [("failed", "boom")]


def test_stale_runs_are_marked_failed_and_listed(db, target) -> None:
    log = RunLog(target, SCHEMA)
    old = run_row("old", runner="another-host:1")  # only its age tells
    old.started_at = utcnow() - timedelta(hours=7)
    log.insert_run(old)
    log.insert_run(run_row("live"))
    assert log.fail_stale_runs("newsletter") == 1
    rows = dict(view(db, "select run_id, status from {s}.hubspot_sync_runs"))
    assert rows == {"old": "failed", "live": "waiting"}
    cols, recent = log.recent_runs()
    assert len(recent) == 2 and {r[cols.index("run_id")] for r in recent} == {"old", "live"}
    assert log.find_run("liv") == "live"


# -- state --------------------------------------------------------------------------------------------------
def test_state_versions_latest_wins_forget_hides(db, target) -> None:
    state = SyncState(target, SCHEMA)
    state.record("newsletter", "r1", [("a@x.com", "1", "h1"), ("b@x.com", "2", "h2")])
    state.record("newsletter", "r2", [("a@x.com", "1", "h1b")])
    state.forget("newsletter", ["b@x.com"])
    state.record("other", "r3", [("b@x.com", "9", "h9")])
    got = view(
        db,
        "select exposure_name, email_clean, record_id, properties_hash from {s}.hubspot_sync_state"
        " order by 1, 2",
    )
    assert got == [("newsletter", "a@x.com", "1", "h1b"), ("other", "b@x.com", "9", "h9")]
    state.record("newsletter", "r4", [("b@x.com", "2", "h2c")])  # looked up again and sent
    assert ("newsletter", "b@x.com", "2", "h2c") in view(
        db, "select exposure_name, email_clean, record_id, properties_hash from {s}.hubspot_sync_state"
    )


# -- pending claims -----------------------------------------------------------------------------------------
def add_build(db, pending_id: str, model: str = "model.p.m", invocation: str = "inv-1") -> None:
    db.execute(
        f"insert into {SCHEMA}.hubspot_sync_pending_builds (pending_id, exposure_name, model_unique_id, relation,"
        " invocation_id, created_at, gate_tests) values (?, 'newsletter', ?, 'r', ?, now()::timestamp, ?)",
        [pending_id, model, invocation, '["test.p.t"]'],
    )


def test_claim_done_release_and_kept_test_results(db, target) -> None:
    add_build(db, "inv-1:newsletter")
    a, b = PendingQueue(target, SCHEMA), PendingQueue(target, SCHEMA)
    [item] = a.waiting()
    assert item.gate_tests == ("test.p.t",) and item.gate_results is None
    assert a.claim([item]) == [item]
    assert b.waiting() == [] and b.claim([item]) == []  # claimed: another pusher does not take it
    a.release([item])
    assert [i.pending_id for i in b.waiting()] == ["inv-1:newsletter"]  # released: taken at once
    assert b.claim([item]) == [item]
    b.done([item])
    assert a.waiting() == [] and a.claim([item]) == []  # done: never pushed again
    # The package's on-run-end keeps the tests' statuses as a `gate_results` event.
    add_build(db, "inv-2:newsletter", invocation="inv-2")
    db.execute(
        f"insert into {SCHEMA}.hubspot_sync_pending_events (pending_id, event, detail, event_at)"
        " values ('inv-2:newsletter', 'gate_results', '{\"test.p.t\": \"pass\"}', now()::timestamp)"
    )
    [kept] = a.waiting(invocation_id="inv-2")
    assert kept.gate_results == {"test.p.t": "pass"}


def test_an_expired_claim_is_taken_over(db, target) -> None:
    add_build(db, "inv-1:newsletter")
    dead = PendingQueue(target, SCHEMA)
    [item] = dead.waiting()
    assert dead.claim([item]) == [item]
    db.execute(
        f"update {SCHEMA}.hubspot_sync_pending_events set event_at = event_at - ?",  # (the test moves time)
        [CLAIM_LEASE + timedelta(minutes=1)],
    )
    fresh = PendingQueue(target, SCHEMA)
    assert fresh.claim(fresh.waiting()) == [item]


def test_racing_claimers_own_each_build_once(db) -> None:
    for n in range(6):
        add_build(db, f"inv-{n}:newsletter", invocation=f"inv-{n}")
    queues = [PendingQueue(AppendOnly(db.cursor()), SCHEMA, sleep=lambda s: None) for _ in range(4)]
    items: list[Pending] = queues[0].waiting()
    assert len(items) == 6
    owned: dict[int, list[str]] = {}
    barrier = threading.Barrier(len(queues))

    def claim(i: int) -> None:
        barrier.wait()
        owned[i] = [p.pending_id for p in queues[i].claim(list(items))]

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(queues))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = sorted(p for ids in owned.values() for p in ids)
    assert taken == sorted(i.pending_id for i in items), owned  # each build exactly once
    assert queues[0].waiting() == []  # all claimed (losers gave their tickets back)


# -- the writer queue ---------------------------------------------------------------------------------------
def test_release_ends_a_ticket_without_deleting(db, target) -> None:
    log = RunLog(target, SCHEMA)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for run_id in (first, second):
        log.insert_run(run_row(run_id))
    slept: list[float] = []
    one = WriterLease(target, SCHEMA, "newsletter", first, sleep=slept.append)
    one.acquire(0)
    log.set_running(first)
    one.release()  # its run is still `running` (the end state is written after): the ticket ends here
    WriterLease(target, SCHEMA, "newsletter", second, sleep=slept.append).acquire(0)
    assert slept == []
    assert ("released",) in view(db, "select phase from {s}.hubspot_sync_writers")
