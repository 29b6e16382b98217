"""A sync that dies mid-run: SIGKILL and Ctrl-C (SIGINT) of a real `dbt-hubspot-sync sync` process, and a
KeyboardInterrupt / SystemExit raised inside the in-process runner, against the sandbox.

The sandbox runs in this process; the sync runs in a child process paced to a few requests a second (sandbox
latency and a small rate limit), so it can be signalled once its first contacts were updated and before its last.
SIGKILL (or an exception escaping the runner): the run is left `running`; the next run sees its process is gone
(or the run is hours old), marks it failed and converges to a clean run's HubSpot state, counting no row twice.
SIGINT: the in-flight requests finish and are counted, the run ends `failed` with reason interrupted and exit
code 1, the rows not sent are logged, and the next run converges.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from dbt_hubspot_sync.hubspot import HubSpotClient, UpdateOutcome
from dbt_hubspot_sync.sandbox import Sandbox

from .helpers import (
    ADAPTERS,
    EXPOSURE,
    Built,
    assert_converges,
    assert_invariant,
    assert_progress_is_correct,
    client_factory,
    contact_values,
    execute,
    model_rows,
    record_log,
    release_duckdb,
    run_row,
    sandbox_config,
    sync,
    wait_for_first_update,
)

pytestmark = pytest.mark.dbt

# A few requests a second: the child's client starts at this pace (and the sandbox's headers confirm it).
PACE = {"HUBSPOT_RATE_LIMIT_MAX": "3", "HUBSPOT_RATE_LIMIT_INTERVAL_MS": "1000"}


@pytest.fixture
def b(built) -> Built:
    return built("duckdb")


@pytest.fixture
def paced_sandbox(b: Built) -> Iterator[Sandbox]:
    with Sandbox(sandbox_config(rate_max=3, rate_window_ms=1000, latency_ms=150)) as sb:
        yield sb


def start_sync(b: Built, sb: Sandbox) -> subprocess.Popen[str]:
    release_duckdb()
    env = {
        **os.environ,
        **PACE,
        "HUBSPOT_ACCESS_TOKEN": sb.app.cfg.token,
        "HUBSPOT_BASE_URL": sb.url,
        "DBT_DUCKDB_PATH": b.example.env["DBT_DUCKDB_PATH"],
    }
    argv = [sys.executable, "-m", "dbt_hubspot_sync.doors.cli", "sync", "--select", EXPOSURE, *b.example.cli_args()]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def only_run(b: Built) -> dict:
    [(run_id,)] = b.example.query("select run_id from {schema}.hubspot_sync_runs")
    return {"run_id": run_id, **run_row(b.example, run_id)}


def assert_next_run_converges(b: Built, sb: Sandbox, stopped_run_id: str) -> None:
    """The next run completes, every row counted once; HubSpot ends as after a clean run, nothing created, and no
    contact updated twice across the two runs."""
    applied = sb.stats()["contacts_updated"]  # what HubSpot holds from the stopped run, counted by it or not
    [again] = sync(b.example, sb)
    row = run_row(b.example, again.run_id)
    ref = b.reference_result.counters
    assert row["status"] == "completed", row
    assert_invariant(b.example)
    assert row["rows_read"] == model_rows(b.example)
    assert (row["rows_invalid"], row["rows_duplicate"], row["rows_not_found"]) == (
        ref.rows_invalid,
        ref.rows_duplicate,
        ref.rows_not_found,
    )
    # What HubSpot already holds is `unchanged` now: by hubspot_sync_state where the stopped run recorded it,
    # else the lookup finds the values there (ALREADY_IN_HUBSPOT). Only the rest is sent.
    assert row["rows_unchanged"] - ref.rows_unchanged == applied
    assert row["rows_updated"] == ref.rows_updated - applied
    assert sb.stats()["contacts_updated"] == ref.rows_updated  # each contact updated once, across both runs
    assert run_row(b.example, stopped_run_id)["rows_updated"] <= applied  # it counted only what HubSpot has
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
    assert_invariant(b.example)
    assert row["rows_read"] == model_rows(b.example)
    # Every update HubSpot applied was counted: the requests in flight finished and were recorded.
    assert row["rows_updated"] == sb.stats()["contacts_updated"]
    assert 0 < row["rows_updated"] < b.reference_result.counters.rows_updated, "not interrupted mid-run"
    # Each row not sent is logged, with the reason.
    log = record_log(b.example, row["run_id"])
    failed = [code for _, outcome, code, _ in log if outcome == "failed"]
    assert failed and set(failed) == {"INTERRUPTED"} and len(failed) == row["rows_failed"]

    assert_next_run_converges(b, sb, row["run_id"])


# -- an exception escaping the in-process runner mid-run --------------------------------------------------------
class CrashOnSecondChunk(HubSpotClient):
    """The process dies (Ctrl-C, SIGTERM turned SystemExit) while sending the second update request."""

    crash: type[BaseException] = KeyboardInterrupt

    def _update_chunk(self, chunk: Any) -> UpdateOutcome:
        self.chunks = getattr(self, "chunks", 0) + 1
        if self.chunks == 2:
            raise self.crash()
        return super()._update_chunk(chunk)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("crash", [KeyboardInterrupt, SystemExit])
def test_killed_run_is_left_running_then_marked_stale_and_next_run_converges(built, adapter, crash):
    b = built(adapter)
    ex = b.example
    with Sandbox(sandbox_config()) as sb:
        before = contact_values(sb)
        cls = type("Crash", (CrashOnSecondChunk,), {"crash": crash})
        with pytest.raises(crash):
            sync(ex, sb, factory=client_factory(sb, cls, concurrency=1))
        [(run_id, status, finished)] = ex.query(
            "select run_id, status, finished_at from {schema}.hubspot_sync_runs"
        )
        assert (status, finished) == ("running", None)
        # The first update request went through before the kill: HubSpot keeps it.
        assert sb.stats()["contacts_updated"] == 100
        assert_progress_is_correct(sb, before, b, 100)

        # Seven hours later the next run finds it stale.
        execute(
            ex,
            "update {schema}.hubspot_sync_runs set started_at = started_at - interval '7 hours'"
            f" where run_id = '{run_id}'",
        )
        assert_converges(ex, sb, b)
        row = run_row(ex, run_id)
        assert row["status"] == "failed"
        assert row["error"].startswith("stale")
        assert row["finished_at"] is not None
