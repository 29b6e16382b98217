"""The warehouse log on a real DuckDB database: runs rows, record rows, stale runs, recent runs.

A plain DuckDB connection stands in for the warehouse through `DuckTarget` (tests/helpers.py): the log writes
through the same `SqlTarget` surface the dbt adapter offers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import duckdb
import pytest

from dbt_hubspot_sync import __version__
from dbt_hubspot_sync.tables.run_log import (
    RUN_COLUMNS,
    Counters,
    RecordRow,
    RunLog,
    RunRow,
    runner_id,
    utcnow,
)
from tests.helpers import SCHEMA, DuckTarget, create_log_tables, fetch_dicts


@pytest.fixture
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect(":memory:")
    create_log_tables(c)
    yield c
    c.close()


@pytest.fixture(params=[False, True], ids=["multi-row-values", "column-arrays"])
def log(conn: duckdb.DuckDBPyConnection, request: pytest.FixtureRequest) -> RunLog:
    target = DuckTarget(conn)
    target.array_params = request.param  # both ways insert_rows writes
    return RunLog(target, SCHEMA)


def runs(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return fetch_dicts(conn, "select * from main.hubspot_sync_runs order by run_id")


def test_run_columns_are_the_tables_columns(conn: duckdb.DuckDBPyConnection) -> None:
    cols = [
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where "
            "table_name = 'hubspot_sync_runs' order by ordinal_position"
        ).fetchall()
    ]
    assert RUN_COLUMNS == cols


def test_insert_then_finish_round_trip(conn: duckdb.DuckDBPyConnection, log: RunLog) -> None:
    log.insert_run(RunRow("r1", "inv-1", "hs", '"db"."main"."contacts"', "cli"))
    [row] = runs(conn)
    assert row["status"] == "waiting"
    assert row["started_at"] is not None and row["finished_at"] is None  # queue time while waiting
    assert (row["invocation_id"], row["exposure_name"], row["relation"], row["trigger"]) == (
        "inv-1",
        "hs",
        '"db"."main"."contacts"',
        "cli",
    )
    assert row["tool_version"] == __version__
    assert row["rows_read"] == 0 and row["error"] is None

    before = utcnow()
    started = log.set_running("r1")
    [row] = runs(conn)
    assert row["status"] == "running"
    assert row["started_at"] == started
    assert before <= started <= utcnow()

    counters = Counters(
        rows_read=9,
        rows_invalid=1,
        rows_duplicate=1,
        rows_unchanged=1,
        rows_updated=3,
        rows_not_found=2,
        rows_failed=1,
        requests=4,
        retries=1,
        rate_limited=2,
        list_added=3,
        list_missing=0,
    )
    log.finish_run("r1", "completed_with_errors", counters, "one failed")
    [row] = runs(conn)
    assert row["status"] == "completed_with_errors"
    assert row["error"] == "one failed"
    assert row["finished_at"] >= row["started_at"]
    for name, value in vars(counters).items():
        assert row[name] == value, name


def test_finish_only_touches_its_own_run(conn: duckdb.DuckDBPyConnection, log: RunLog) -> None:
    log.insert_run(RunRow("r1", None, "hs", "rel", "cli"))
    log.insert_run(RunRow("r2", None, "hs", "rel", "cli"))
    log.finish_run("r2", "completed", Counters(rows_read=1, rows_updated=1), None)
    by_id = {r["run_id"]: r for r in runs(conn)}
    assert by_id["r1"]["status"] == "waiting" and by_id["r1"]["rows_read"] == 0
    assert by_id["r2"]["status"] == "completed" and by_id["r2"]["rows_read"] == 1


def test_log_records_writes_one_row_each(conn: duckdb.DuckDBPyConnection, log: RunLog) -> None:
    log.log_records(
        "r1",
        "hs",
        [
            RecordRow(" A@x.com ", "a@x.com", "not_found", "OBJECT_NOT_FOUND", "no contact", None),
            RecordRow(None, None, "invalid", "NULL_EMAIL", "email is empty"),
            RecordRow("b@x.com", "b@x.com", "failed", "INVALID_EMAIL", "HubSpot says no", 400),
        ],
    )
    log.log_records("r1", "hs", [])  # nothing to write: no statement, no error
    rows = fetch_dicts(conn, "select * from main.hubspot_sync_record_log order by reason_code")
    assert [
        (r["email_raw"], r["email_clean"], r["outcome"], r["reason_code"], r["detail"], r["http_status"])
        for r in rows
    ] == [
        ("b@x.com", "b@x.com", "failed", "INVALID_EMAIL", "HubSpot says no", 400),
        (None, None, "invalid", "NULL_EMAIL", "email is empty", None),
        (" A@x.com ", "a@x.com", "not_found", "OBJECT_NOT_FOUND", "no contact", None),
    ]
    assert all(
        r["run_id"] == "r1" and r["exposure_name"] == "hs" and r["logged_at"] is not None for r in rows
    )


def test_fail_stale_runs(conn: duckdb.DuckDBPyConnection, log: RunLog) -> None:
    now = utcnow()
    for run_id, exposure, status, started in [
        ("old", "hs", "running", now - timedelta(hours=7)),
        ("recent", "hs", "running", now - timedelta(hours=5)),
        ("done", "hs", "completed", now - timedelta(hours=9)),
        ("other", "other_exposure", "running", now - timedelta(hours=7)),
    ]:
        log.insert_run(RunRow(run_id, None, exposure, "rel", "cli", status=status, started_at=started))
    assert log.fail_stale_runs("hs") == 1
    by_id = {r["run_id"]: r for r in runs(conn)}
    assert by_id["old"]["status"] == "failed"
    assert "stale" in by_id["old"]["error"]
    assert by_id["old"]["finished_at"] is not None
    assert by_id["recent"]["status"] == "running"
    assert by_id["done"]["status"] == "completed" and by_id["done"]["error"] is None
    assert by_id["other"]["status"] == "running"  # another exposure's run is that exposure's business


def test_run_of_a_killed_process_on_this_host_is_stale_at_once(
    conn: duckdb.DuckDBPyConnection, log: RunLog
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is free now (reuse within the test is vanishingly unlikely)
    host = socket.gethostname()
    now = utcnow()
    for run_id, runner in [
        ("killed", f"{host}:{dead.pid}"),
        ("alive", runner_id()),  # this process: still running
        ("elsewhere", f"another-host:{dead.pid}"),  # cannot be checked from here: only age tells
    ]:
        log.insert_run(
            RunRow(run_id, None, "hs", "rel", "cli", status="running", started_at=now, runner=runner)
        )
    assert log.fail_stale_runs("hs") == 1
    by_id = {r["run_id"]: r for r in runs(conn)}
    assert by_id["killed"]["status"] == "failed"
    assert by_id["killed"]["error"].startswith("stale") and str(dead.pid) in by_id["killed"]["error"]
    assert (by_id["alive"]["status"], by_id["elsewhere"]["status"]) == ("running", "running")


def test_runs_rows_name_their_process(conn: duckdb.DuckDBPyConnection, log: RunLog) -> None:
    log.insert_run(RunRow("r1", None, "hs", "rel", "cli"))
    assert runs(conn)[0]["runner"] == f"{socket.gethostname()}:{os.getpid()}"


def test_recent_runs_newest_first_limited(conn: duckdb.DuckDBPyConnection, log: RunLog) -> None:
    now = utcnow()
    for i in range(5):
        log.insert_run(
            RunRow(
                f"r{i}",
                None,
                f"exp{i}",
                "rel",
                "cli",
                status="completed",
                started_at=now - timedelta(minutes=10 - i),
            )
        )
    log.insert_run(RunRow("queued", None, "exp_q", "rel", "cli"))  # waiting: started_at = queued now
    headers, rows = log.recent_runs(limit=10)
    assert headers[:4] == ["started_at", "exposure_name", "trigger", "status"]
    assert len(headers) == len(rows[0])
    assert [r[1] for r in rows] == ["exp_q", "exp4", "exp3", "exp2", "exp1", "exp0"]
    _, rows = log.recent_runs(limit=2)
    assert [r[1] for r in rows] == ["exp_q", "exp4"]


def test_log_schema_other_than_target(conn: duckdb.DuckDBPyConnection) -> None:
    create_log_tables(conn, "audit")
    log = RunLog(DuckTarget(conn), "audit")
    log.insert_run(RunRow("r1", None, "hs", "rel", "cli"))
    assert conn.execute("select count(*) from audit.hubspot_sync_runs").fetchone() == (1,)
    assert conn.execute("select count(*) from main.hubspot_sync_runs").fetchone() == (0,)
