"""The steady mark (engine/steady.py), end to end with real dbt and the sandbox on DuckDB and PostgreSQL: a model
unchanged since a run that settled every row is counted from that run's mark, no row read; any change to the
model, any run in between, and --full-refresh read the rows again. (The changes that must be seen, one by one, are
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


def settled(b: Built, sb: Sandbox) -> RunResult:
    """Sync until a run settles every row in the warehouse (the second, after the first sent): its mark is left."""
    [first] = sync(b.example, sb)
    assert first.counters.rows_updated > 0 and first.status == "completed"
    [second] = sync(b.example, sb)
    assert second.status == "completed" and second.rows_shipped == 0
    assert marks(b)[-1] == second.run_id  # a run that shipped nothing leaves its mark; the first left none
    assert first.run_id not in marks(b)
    return second


def test_an_unchanged_model_after_a_settled_run_is_counted_from_its_mark(b: Built, caplog) -> None:
    with Sandbox(sandbox_config()) as sb:
        second = settled(b, sb)
        caplog.set_level(logging.INFO, logger=STEADY_LOG)
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
        second = settled(b, sb)
        execute(ex, "update {schema}.customers set first_name = 'Tin' where amperity_id = 'amp-00002'")
        caplog.set_level(logging.INFO, logger=STEADY_LOG)
        [changed] = sync(ex, sb)
        assert "unchanged since run" not in caplog.text
        assert (changed.rows_shipped, changed.counters.rows_updated) == (1, 1)
        assert changed.run_id not in marks(b)  # it sent a row: the next run reads the rows again
        [after] = sync(ex, sb)
        assert after.rows_shipped == 0 and counts(after) == {**counts(second)}
    assert_invariant(ex)


def test_any_run_in_between_voids_the_mark(b: Built, caplog) -> None:
    ex = b.example
    with Sandbox(sandbox_config()) as sb:
        second = settled(b, sb)
        options = SyncOptions(
            project_dir=str(ex.project_dir), profiles_dir=str(ex.project_dir), target=ex.target,
            select=[EXPOSURE], dry_run=True,
        )
        [dry] = run_sync(options, client_factory=client_factory(sb))  # a run the mark's run is not the last of
        assert dry.run_id not in marks(b)  # a dry run leaves no mark
        caplog.set_level(logging.INFO, logger=STEADY_LOG)
        [third] = sync(ex, sb)
        assert "unchanged since run" not in caplog.text  # read again ...
        assert counts(third) == counts(second) and third.rows_shipped == 0  # ... to the same counts
        assert marks(b)[-1] == third.run_id
    assert_invariant(ex)


def test_a_full_refresh_reads_every_row_and_leaves_no_mark(b: Built, caplog) -> None:
    ex = b.example
    with Sandbox(sandbox_config()) as sb:
        settled(b, sb)
        options = SyncOptions(
            project_dir=str(ex.project_dir), profiles_dir=str(ex.project_dir), target=ex.target,
            select=[EXPOSURE], full_refresh=True,
        )
        caplog.set_level(logging.INFO, logger=STEADY_LOG)
        [full] = run_sync(options, client_factory=client_factory(sb))
        assert "unchanged since run" not in caplog.text
        assert full.status == "completed" and full.counters.rows_updated + full.counters.rows_unchanged > 0
        assert full.run_id not in marks(b)
    assert_invariant(ex)
