"""The steady mark (engine/steady.py), end to end with real dbt and the sandbox on DuckDB and PostgreSQL: a model
unchanged since the exposure's last run is counted from that run's mark, no row read, whether that run sent
(its forecast: engine/forecast.py) or settled every row; any change to the model, any run in between, and
--full-refresh read the rows again. (The suite sets DBT_HUBSPOT_SYNC_VERIFY_MARKS: each mark left here was
checked against the warehouse's classification.) (The changes that must be seen, one by one, are
in test_change_detection.py: each of them follows a settled run, so each is a change the mark must not hide.)"""

from __future__ import annotations

import logging

import pytest

from dbt_hubspot_sync.doors.runner import SyncOptions, run_sync
from dbt_hubspot_sync.engine import RunResult
from dbt_hubspot_sync.sandbox import Sandbox

from .helpers import (
    ADAPTERS,
    EXPOSURE,
    Built,
    assert_invariant,
    client_factory,
    execute,
    first_names_restored,
    record_log,
    sandbox_config,
    sync,
)

pytestmark = pytest.mark.dbt
STEADY_LOG = "dbt_hubspot_sync.engine.steady"
COUNTS = ("rows_read", "rows_invalid", "rows_duplicate", "rows_unchanged", "rows_updated", "rows_not_found",
          "rows_failed")


@pytest.fixture(params=ADAPTERS)
def b(request, built) -> Built:
    return built(request.param)


def counts(result: RunResult) -> dict[str, int]:
    return {k: getattr(result.counters, k) for k in COUNTS}


def marks(b: Built) -> list[str]:
    rows = b.example.query(
        "select run_id from {schema}.hubspot_sync_checks where kind = 'steady' order by recorded_at"
    )
    return [r[0] for r in rows]


def settled(b: Built, sb: Sandbox, caplog: pytest.LogCaptureFixture) -> RunResult:
    """The first sync sends and leaves its forecast as a mark; the second, the model unchanged, takes it: no row
    read, nothing sent, and its own mark (the same counts) left for the next."""
    [first] = sync(b.example, sb)
    assert first.counters.rows_updated > 0 and first.status == "completed"
    assert marks(b)[-1] == first.run_id  # a run that sent leaves its forecast
    caplog.set_level(logging.INFO, logger=STEADY_LOG)
    [second] = sync(b.example, sb)
    assert f"unchanged since run {first.run_id}" in caplog.text
    assert second.status == "completed" and second.rows_shipped == 0
    assert second.counters.rows_updated == 0 and second.counters.requests <= 2
    c = counts(second)
    assert c["rows_unchanged"] == first.counters.rows_updated + first.counters.rows_unchanged
    assert {k: c[k] for k in ("rows_read", "rows_invalid", "rows_duplicate", "rows_not_found")} == {
        k: getattr(first.counters, k) for k in ("rows_read", "rows_invalid", "rows_duplicate", "rows_not_found")
    }
    assert record_log(b.example, second.run_id) == []
    assert marks(b)[-1] == second.run_id
    caplog.clear()
    return second


def test_an_unchanged_model_is_counted_from_the_last_runs_mark(b: Built, caplog) -> None:
    with Sandbox(sandbox_config()) as sb:
        second = settled(b, sb, caplog)
        [third] = sync(b.example, sb)
        assert f"unchanged since run {second.run_id}" in caplog.text
        assert third.status == "completed" and third.rows_shipped == 0
        assert counts(third) == counts(second)
        assert record_log(b.example, third.run_id) == []
        assert marks(b)[-1] == third.run_id  # the next run may take it from here
    assert_invariant(b.example)


def test_a_value_changed_after_the_mark_is_read_and_sent_once(b: Built, caplog) -> None:
    ex = b.example
    with Sandbox(sandbox_config()) as sb, first_names_restored(ex):
        second = settled(b, sb, caplog)
        execute(ex, "update {schema}.customers set first_name = 'Tin' where amperity_id = 'amp-00002'")
        [changed] = sync(ex, sb)
        assert "unchanged since run" not in caplog.text
        assert (changed.rows_shipped, changed.counters.rows_updated) == (1, 1)
        assert marks(b)[-1] == changed.run_id  # it sent a row: its forecast is the mark
        [after] = sync(ex, sb)
        assert f"unchanged since run {changed.run_id}" in caplog.text
        assert after.rows_shipped == 0 and counts(after) == counts(second)
    assert_invariant(ex)


def test_any_run_in_between_voids_the_mark(b: Built, caplog) -> None:
    ex = b.example
    with Sandbox(sandbox_config()) as sb:
        second = settled(b, sb, caplog)
        options = SyncOptions(
            project_dir=str(ex.project_dir), profiles_dir=str(ex.project_dir), target=ex.target,
            select=[EXPOSURE], dry_run=True,
        )
        [dry] = run_sync(options, client_factory=client_factory(sb))  # a run the mark's run is not the last of
        assert dry.run_id not in marks(b)  # a dry run leaves no mark
        [third] = sync(ex, sb)
        assert "unchanged since run" not in caplog.text  # read again ...
        assert counts(third) == counts(second) and third.rows_shipped == 0  # ... to the same counts
        assert marks(b)[-1] == third.run_id
    assert_invariant(ex)


def test_a_full_refresh_reads_every_row_and_leaves_no_mark(b: Built, caplog) -> None:
    ex = b.example
    with Sandbox(sandbox_config()) as sb:
        settled(b, sb, caplog)
        options = SyncOptions(
            project_dir=str(ex.project_dir), profiles_dir=str(ex.project_dir), target=ex.target,
            select=[EXPOSURE], full_refresh=True,
        )
        [full] = run_sync(options, client_factory=client_factory(sb))
        assert "unchanged since run" not in caplog.text
        assert full.status == "completed" and full.counters.rows_updated + full.counters.rows_unchanged > 0
        assert full.run_id not in marks(b)
    assert_invariant(ex)


def test_verdicts_of_older_validation_rules_are_logged_afresh_once(b: Built, caplog) -> None:
    """After an upgrade of the email rules (email-validator, the TLD list), each rejected record is shipped once,
    logged under the new rules, and settled in the warehouse again from the next run on (not shipped every run)."""
    ex = b.example
    with Sandbox(sandbox_config()) as sb:
        second = settled(b, sb, caplog)
        rejected = sum(getattr(second.counters, k) for k in ("rows_invalid", "rows_duplicate", "rows_not_found"))
        assert rejected > 0
        # What an upgrade does: the rules version changes, which also changes every mark's salt.
        execute(ex, "update {schema}.hubspot_sync_rejections set rules_version = 'older-rules'")
        execute(ex, "delete from {schema}.hubspot_sync_checks where kind = 'steady'")
        [upgraded] = sync(ex, sb)
        assert upgraded.rows_shipped == rejected and counts(upgraded) == counts(second)
        assert len(record_log(ex, upgraded.run_id)) == rejected  # each verdict logged under the new rules
        [after] = sync(ex, sb)
        assert after.rows_shipped == 0 and record_log(ex, after.run_id) == []
        assert counts(after) == counts(second)
    assert_invariant(ex)
