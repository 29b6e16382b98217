"""HubSpot's daily request limit reached mid-sync (a 429 with policyName DAILY): the run ends cleanly `failed`,
reason `daily_limit`, exit code 1, keeping what was done; every row not sent is logged `failed` DAILY_LIMIT; the
next day a run converges to a clean run's HubSpot state. Through the CLI's `main()` on the `built` project."""

from __future__ import annotations

import uuid

import pytest

from dbt_hubspot_sync.doors.cli import main
from dbt_hubspot_sync.sandbox import Sandbox

from .helpers import (
    EXPOSURE,
    assert_invariant,
    assert_progress_is_correct,
    contact_values,
    model_rows,
    record_log,
    run_row,
    sandbox_config,
)

pytestmark = pytest.mark.dbt


@pytest.mark.parametrize("budget", ["lookups_and_one_update", "three_requests"])
def test_daily_limit_fails_the_run_keeps_what_was_done_and_exits_1(built, monkeypatch, capsys, budget: str):
    b = built("duckdb")
    ex = b.example
    ref = b.reference_result.counters
    token = (
        f"daily-{uuid.uuid4().hex}"  # a token of its own: a fresh process-wide limiter for the CLI's client
    )
    # Either every lookup and one update request (of at most 100 contacts) get through before the limit, or
    # only 3 of the lookups do.
    # (+1: the property preflight's GET before the run.)
    daily_max = b.reference_reads + 2 if budget == "lookups_and_one_update" else 4
    assert b.reference_reads > 3
    with Sandbox(sandbox_config(token=token, daily_max=daily_max)) as sb:
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", token)
        monkeypatch.setenv("HUBSPOT_BASE_URL", sb.url)
        before = contact_values(sb)

        # --force: the max_daily_share guard would refuse this run before it sends anything (test_guards.py);
        # here HubSpot's own DAILY 429 stops it mid-run.
        code = main(["sync", "--select", EXPOSURE, *ex.cli_args(), "--force"])
        out = capsys.readouterr().out
        assert code == 1, out
        assert "daily_limit" in out

        [(run_id,)] = ex.query("select run_id from {schema}.hubspot_sync_runs")
        row = run_row(ex, run_id)
        assert row["status"] == "failed"
        assert row["error"].startswith("daily_limit")
        assert_invariant(ex)
        assert row["rows_read"] == model_rows(ex)
        assert (row["rows_invalid"], row["rows_duplicate"]) == (ref.rows_invalid, ref.rows_duplicate)
        assert row["rows_updated"] == sb.stats()["contacts_updated"]
        if budget == "lookups_and_one_update":
            assert 0 < row["rows_updated"] <= 100
            assert row["rows_not_found"] == ref.rows_not_found  # the lookups all completed
            assert row["rows_failed"] == ref.rows_updated - row["rows_updated"]
        else:
            assert row["rows_updated"] == 0
            assert row["rows_failed"] == ref.rows_updated + ref.rows_not_found - row["rows_not_found"]
        log = record_log(ex, run_id)
        assert {(c, s) for _, o, c, s in log if o == "failed"} == {("DAILY_LIMIT", 429)}
        assert sum(1 for _, o, _, _ in log if o == "failed") == row["rows_failed"]
        assert_progress_is_correct(sb, before, b, row["rows_updated"])

        # The next day (a fresh allowance, bigger than this sync needs), a run converges.
        sb.app.limiter.daily_max = 10_000
        sb.app.limiter.reset()
        code = main(["sync", "--select", EXPOSURE, *ex.cli_args()])
        assert code == 0, capsys.readouterr().out
        assert contact_values(sb) == b.reference
        assert len(assert_invariant(ex)) == 2
