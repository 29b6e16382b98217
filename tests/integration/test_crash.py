"""SIGKILL and Ctrl-C (SIGINT) of a real `dbt-hubspot-sync sync` process, mid-run, against the sandbox.

The sandbox runs in this process; the sync runs in a child process paced to a few requests a second (sandbox
latency and a small rate limit), so it can be signalled once its first contacts were updated and before its last.
SIGKILL: the run is left `running`; the next run sees its process is gone, marks it failed and converges to a
clean run's HubSpot state, counting no row twice. SIGINT: the in-flight requests finish and are counted, the run
ends `failed` with reason interrupted and exit code 1, the rows not sent are logged, and the next run converges.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from dbt_hubspot_sync.sandbox import Sandbox

from .test_faults import (
    EXPOSURE,
    OUTCOMES,
    Built,
    contact_values,
    model_rows,
    record_log,
    run_row,
    sandbox_config,
    sync,
)

pytestmark = pytest.mark.dbt

UPDATE = "POST /crm/v3/objects/contacts/batch/update"
# A few requests a second: the child's client starts at this pace (and the sandbox's headers confirm it).
PACE = {"HUBSPOT_RATE_LIMIT_MAX": "3", "HUBSPOT_RATE_LIMIT_INTERVAL_MS": "1000"}


@pytest.fixture
def b(built) -> Built:
    return built("duckdb")


@pytest.fixture
def paced_sandbox(b: Built) -> Iterator[Sandbox]:
    with Sandbox(sandbox_config(rate_max=3, rate_window_ms=1000, latency_ms=150)) as sb:
        yield sb


def release_duckdb() -> None:
    """dbt-duckdb keeps the database open in this process after an in-process dbt call; the child needs its
    write lock (DuckDB allows one writing process)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager

    with manager._LOCK:
        if manager._ENV is not None:
            manager._ENV.close()
            manager._ENV = None


def start_sync(b: Built, sb: Sandbox) -> subprocess.Popen[str]:
    release_duckdb()
    env = {
        **os.environ,
        **PACE,
        "HUBSPOT_ACCESS_TOKEN": sb.app.cfg.token,
        "HUBSPOT_BASE_URL": sb.url,
        "DBT_DUCKDB_PATH": b.example.env["DBT_DUCKDB_PATH"],
    }
    argv = [sys.executable, "-m", "dbt_hubspot_sync.cli", "sync", "--select", EXPOSURE, *b.example.cli_args()]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_first_update(sb: Sandbox, proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """Until HubSpot has applied one update request (so the run is mid-way: more are still to come)."""
    deadline = time.monotonic() + timeout
    while sb.stats()["requests"].get(UPDATE, {}).get("200", 0) < 1:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the sync ended before its first update (exit {proc.returncode}):\n{out}\n{err}")
        assert time.monotonic() < deadline, "no update request within the timeout"
        time.sleep(0.01)


def only_run(b: Built) -> dict:
    [(run_id,)] = b.example.query("select run_id from {schema}.hubspot_sync_runs")
    return {"run_id": run_id, **run_row(b.example, run_id)}


def assert_next_run_converges(b: Built, sb: Sandbox, stopped_run_id: str) -> None:
    """The next run completes, every row counted once; HubSpot ends as after a clean run, nothing created."""
    [again] = sync(b.example, sb)
    row = run_row(b.example, again.run_id)
    ref = b.reference_result.counters
    assert row["status"] == "completed", row
    assert row["rows_read"] == sum(row[f"rows_{o}"] for o in OUTCOMES) == model_rows(b.example)
    assert (row["rows_invalid"], row["rows_duplicate"], row["rows_not_found"]) == (
        ref.rows_invalid,
        ref.rows_duplicate,
        ref.rows_not_found,
    )
    # What the stopped run recorded as updated is `unchanged` now (hubspot_sync_state); the rest is updated
    # (again, if HubSpot had applied it unrecorded: updates are idempotent). Across both runs each contact is
    # counted updated exactly once.
    stopped = run_row(b.example, stopped_run_id)
    assert row["rows_updated"] + row["rows_unchanged"] == ref.rows_updated + ref.rows_unchanged
    assert row["rows_unchanged"] - ref.rows_unchanged == stopped["rows_updated"]
    assert contact_values(sb) == b.reference
    assert sb.stats()["contacts_created"] == 0


def test_sigkill_mid_run_is_marked_stale_by_the_next_run_which_converges(b: Built, paced_sandbox: Sandbox):
    sb = paced_sandbox
    proc = start_sync(b, sb)
    wait_for_first_update(sb, proc)
    proc.kill()
    proc.wait(timeout=30)
    killed_updated = sb.stats()["contacts_updated"]
    assert 0 < killed_updated < b.reference_result.counters.rows_updated, "not killed mid-run"

    killed = only_run(b)
    assert (killed["status"], killed["finished_at"]) == ("running", None)

    assert_next_run_converges(b, sb, killed["run_id"])
    killed = run_row(b.example, killed["run_id"])
    assert killed["status"] == "failed" and killed["finished_at"] is not None
    assert killed["error"].startswith("stale") and f":{proc.pid})" in killed["error"]


def test_sigint_lets_in_flight_requests_land_and_ends_the_run_failed_interrupted(
    b: Built, paced_sandbox: Sandbox
):
    sb = paced_sandbox
    proc = start_sync(b, sb)
    wait_for_first_update(sb, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, f"{out}\n{err}"
    assert "interrupted" in out and "Traceback" not in err, f"{out}\n{err}"

    row = only_run(b)
    assert row["status"] == "failed" and row["error"].startswith("interrupted"), row
    assert row["finished_at"] is not None
    assert row["rows_read"] == sum(row[f"rows_{o}"] for o in OUTCOMES)
    # Every update HubSpot applied was counted: the requests in flight finished and were recorded.
    assert row["rows_updated"] == sb.stats()["contacts_updated"]
    assert 0 < row["rows_updated"] < b.reference_result.counters.rows_updated, "not interrupted mid-run"
    # Each row not sent is logged, with the reason.
    log = record_log(b.example, row["run_id"])
    failed = [code for _, outcome, code, _ in log if outcome == "failed"]
    assert failed and set(failed) == {"INTERRUPTED"} and len(failed) == row["rows_failed"]

    assert_next_run_converges(b, sb, row["run_id"])
