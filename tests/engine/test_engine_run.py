"""SyncRun's lifecycle (engine/run.py): the runs row (waiting, running, end state), dry runs, batching and
request counts, the progress callback, and the invariant (rows_read = the six outcome counts), checked
explicitly so that it also holds under `python -O`.

The log is a real in-memory DuckDB database; HubSpot is the scripted `FakeHubSpot` (tests/helpers.py).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from dbt_hubspot_sync.tables.run_log import RunLog, RunRow, utcnow
from tests.helpers import RELATION, SCHEMA, DuckTarget, Harness, row

ROOT = Path(__file__).resolve().parents[2]


# -- dry run ------------------------------------------------------------------------------------------
def test_dry_run_sends_nothing_and_says_so(h: Harness) -> None:
    result = h.sync(
        [row("c1@example.com"), row("nobody@example.com"), row("bad")],
        {"log_records": "all", "list_id": "7"},
        dry_run=True,
    )
    assert h.client.updates == [] and h.client.list_adds == []
    assert h.client.reads == [["c1@example.com", "nobody@example.com"]]  # reading tells update from not found
    assert result.dry_run and result.status == "completed"
    assert (result.error or "").startswith("dry run")
    assert h.run_row(result.run_id)["error"].startswith("dry run")
    recs = h.records(result.run_id)
    assert {r["outcome"] for r in recs} == {"invalid", "updated", "not_found"}
    assert all(r["detail"].startswith("dry run") for r in recs)
    assert "would update contact 101" in [r["detail"] for r in recs if r["outcome"] == "updated"][0]
    assert result.counters.rows_updated == 1 and result.counters.list_added == 0


def test_dry_run_without_a_client(h: Harness) -> None:
    result = h.sync([row("c1@example.com")], dry_run=True, client=None)
    assert result.counters.rows_read == 1
    assert result.dry_run


def test_a_real_run_needs_a_client(h: Harness) -> None:
    with pytest.raises(ValueError):
        h.new_run(client=None)


# -- batching, request counts, progress ----------------------------------------------------------------------
def test_rows_are_pushed_in_push_size_batches(h: Harness) -> None:
    run = h.new_run(push_size=3)
    run.announce()
    run.start()
    run.feed([row(f"c{i}@example.com") for i in range(5)])
    assert [len(b) for b in h.client.updates] == [3]  # pushed when the buffer filled, not at the chunk's end
    run.feed([row(f"c{i}@example.com") for i in range(5, 7)])
    result = h.finish(run)
    assert [len(b) for b in h.client.updates] == [3, 3, 1]
    assert [len(b) for b in h.client.reads] == [3, 3, 1]
    assert result.counters.rows_updated == 7
    assert result.counters.requests == 6  # this fake: one read and one update request per push


def test_requests_count_only_this_runs_calls(h: Harness) -> None:
    h.client.stats.add(requests=40, retries=3, rate_limited=2)  # another exposure of the same process
    run = h.new_run()
    run.announce()
    run.start()
    h.client.stats.add(retries=1, rate_limited=1)
    run.feed([row("c1@example.com")])
    result = h.finish(run)
    assert (result.counters.requests, result.counters.retries, result.counters.rate_limited) == (2, 1, 1)


def test_progress_callback_sees_the_run(h: Harness) -> None:
    seen: list[int] = []
    run = h.new_run(on_progress=lambda r: seen.append(r.counters.rows_read))
    run.announce()
    run.start()
    run.feed([row("c1@example.com"), row("c2@example.com")])
    h.finish(run)
    assert seen and seen[-1] == 2


# -- the runs row ---------------------------------------------------------------------------------------
def test_status_lifecycle_in_the_runs_table(h: Harness) -> None:
    run = h.new_run()
    run.announce()
    db = h.run_row(run.run.run_id)
    # started_at holds the queue time while waiting (so a killed process's waiting row can be found stale)
    assert db["status"] == "waiting" and db["started_at"] is not None
    assert (db["exposure_name"], db["relation"], db["trigger"]) == ("hs", RELATION, "cli")
    run.start()
    db = h.run_row(run.run.run_id)
    assert db["status"] == "running" and db["started_at"] is not None and db["finished_at"] is None
    run.feed([row("c1@example.com"), row("nobody@example.com")])
    assert h.run_row(run.run.run_id)["status"] == "running"
    result = h.finish(run)
    db = h.run_row(run.run.run_id)
    assert db["status"] == "completed" == result.status
    assert db["finished_at"] >= db["started_at"]
    assert (db["rows_read"], db["rows_updated"], db["rows_not_found"]) == (2, 1, 1)


def test_empty_model_completes_with_zero_rows(h: Harness) -> None:
    result = h.sync([])
    assert result.status == "completed"
    assert h.run_row(result.run_id)["rows_read"] == 0
    assert h.client.reads == [] and h.client.updates == []


def test_announce_marks_stale_runs_of_the_exposure_failed(h: Harness) -> None:
    log = RunLog(DuckTarget(h.conn), SCHEMA)
    log.insert_run(
        RunRow(
            "killed",
            None,
            "hs",
            RELATION,
            "cli",
            status="running",
            started_at=utcnow() - dt.timedelta(hours=7),
        )
    )
    log.insert_run(
        RunRow(
            "alive",
            None,
            "hs",
            RELATION,
            "cli",
            status="running",
            started_at=utcnow() - dt.timedelta(minutes=5),
        )
    )
    run = h.new_run()
    run.announce()
    assert h.run_row("killed")["status"] == "failed"
    assert "stale" in h.run_row("killed")["error"]
    assert h.run_row("alive")["status"] == "running"
    assert h.run_row(run.run.run_id)["status"] == "waiting"


def test_each_run_has_its_own_id_and_invocation(h: Harness) -> None:
    a = h.new_run(invocation_id="inv-1")
    b = h.new_run(invocation_id="inv-1")
    a.announce()
    b.announce()
    assert a.run.run_id != b.run.run_id
    assert h.run_row(a.run.run_id)["invocation_id"] == "inv-1"


# -- the invariant: rows_read = invalid + duplicate + unchanged + updated + not_found + failed -------------
BROKEN = (
    "invariant broken: rows_read 3 != outcomes 2 "
    "(invalid 0, duplicate 0, unchanged 0, updated 1, not_found 1, failed 0)"
)


def test_counts_that_do_not_add_up_fail_the_run_naming_them(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    run = h.new_run()
    run.announce()
    run.start()
    run.feed([row("c1@example.com"), row("nobody@example.com")])
    run.counters.rows_read += 1  # a row read that never got an outcome: what an engine bug would leave
    with caplog.at_level(logging.ERROR, logger="dbt_hubspot_sync.engine"):
        result = run.finish()  # raises nothing: the end state is written
    assert (result.status, result.error, result.ok) == ("failed", BROKEN, False)
    assert run.status == "failed"
    db = h.run_row(result.run_id)
    assert (db["status"], db["error"], db["rows_read"]) == ("failed", BROKEN, 3)
    assert db["finished_at"] is not None
    assert BROKEN in caplog.text


def test_broken_counts_in_a_dry_run_also_fail_it(h: Harness) -> None:
    run = h.new_run(dry_run=True)
    run.announce()
    run.start()
    run.feed([row("c1@example.com")])
    run.counters.rows_updated += 1
    result = run.finish()
    assert result.status == "failed"
    assert (result.error or "").startswith("invariant broken: rows_read 1 != outcomes 2 (")
    assert "dry run" in (result.error or "")


# Run with -O (asserts stripped): the check is explicit code, so the run still ends failed.
OPTIMIZED = """
import json, sys
import duckdb
from tests.helpers import FakeHubSpot, Harness, create_log_tables, row

conn = duckdb.connect(":memory:")
create_log_tables(conn)
h = Harness(conn, FakeHubSpot({"c1@example.com": "101"}))
run = h.new_run()
run.announce()
run.start()
run.feed([row("c1@example.com"), row("nobody@example.com")])
run.counters.rows_read += 1
result = run.finish()
db = h.run_row(result.run_id)
print(json.dumps({"optimize": sys.flags.optimize, "status": result.status, "error": result.error,
                  "db": [db["status"], db["error"]]}))
"""


def test_the_invariant_check_survives_python_dash_o() -> None:
    proc = subprocess.run(
        [sys.executable, "-O", "-c", OPTIMIZED], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"optimize": 1, "status": "failed", "error": BROKEN, "db": ["failed", BROKEN]}
