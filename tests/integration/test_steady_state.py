"""Steady state at the cost of what changed, end to end with real dbt and the sandbox: contacts that already hold
the values are not updated, a dry run is a diff old → new, back-to-back runs stay at 0 429s, and remembered
misses cost a search for new contacts instead of a lookup each (a contact created in HubSpot between two runs is
updated by the second; one whose email changed is found by the full recheck and by --full-refresh)."""

from __future__ import annotations

import pytest

from dbt_hubspot_sync.hubspot import RateLimiter
from dbt_hubspot_sync.sandbox import Sandbox

from .helpers import (
    ADAPTERS,
    EXPOSURE,
    UPDATE,
    Built,
    assert_invariant,
    calls,
    client_factory,
    execute,
    record_log,
    run_row,
    sandbox_config,
    sync,
)

pytestmark = pytest.mark.dbt


@pytest.fixture(params=ADAPTERS)
def b(request, built) -> Built:
    return built(request.param)


def test_the_first_sync_of_an_audience_hubspot_already_has_sends_no_update(b: Built) -> None:
    with Sandbox(sandbox_config()) as sb:
        [first] = sync(b.example, sb)
        assert first.counters.rows_updated > 0
        # As if HubSpot had these values before the product ever ran: no sync state.
        execute(b.example, "delete from {schema}.hubspot_sync_state")
        updates = calls(sb, "batch/update")
        [again] = sync(b.example, sb)
        assert calls(sb, "batch/update") == updates  # reads only
        c = again.counters
        assert (c.rows_updated, c.rows_unchanged) == (0, first.counters.rows_updated)
        assert again.status == "completed"
        # ... and the state now knows them: the next run does not even read them.
        reads = calls(sb, "batch/read")
        [third] = sync(b.example, sb)
        assert calls(sb, "batch/read") == reads or third.counters.rows_not_found > 0
        assert third.counters.rows_unchanged == first.counters.rows_updated
    assert_invariant(b.example)


def test_a_dry_run_is_a_diff_old_to_new(b: Built) -> None:
    ex = b.example
    with Sandbox(sandbox_config()) as sb:
        [first] = sync(ex, sb)
        execute(ex, "update {schema}.customers set first_name = 'Zed' where amperity_id = 'amp-00002'")
        from dbt_hubspot_sync.runner import SyncOptions, run_sync

        options = SyncOptions(
            project_dir=str(ex.project_dir), profiles_dir=str(ex.project_dir), target=ex.target,
            select=[EXPOSURE], dry_run=True,
        )
        updates = calls(sb, "batch/update")
        [dry] = run_sync(options, client_factory=client_factory(sb))
        assert calls(sb, "batch/update") == updates  # nothing written
    assert dry.changes == {"firstname": 1}
    assert dry.counters.rows_updated == 1 and dry.counters.rows_unchanged == first.counters.rows_updated - 1
    [(detail,)] = ex.query(
        f"select detail from {{schema}}.hubspot_sync_record_log where run_id = '{dry.run_id}'"
        " and outcome = 'updated'"
    )
    assert detail.startswith("dry run: would update contact ") and "firstname: 'Tim' → 'Zed'" in detail
    assert_invariant(ex)


def test_back_to_back_runs_send_no_burst_into_a_spent_window(built) -> None:
    """Each run as a new process would be (a fresh limiter at HubSpot's default figures): the second one starts
    while the first one's requests still fill HubSpot's window."""
    b = built("duckdb")
    with Sandbox(sandbox_config(rate_max=14, rate_window_ms=4000)) as sb:

        def fresh_process():
            return client_factory(sb, limiter=RateLimiter(warm_up=True))

        from dbt_hubspot_sync.runner import SyncOptions, run_sync

        ex = b.example
        options = SyncOptions(
            project_dir=str(ex.project_dir), profiles_dir=str(ex.project_dir), target=ex.target,
            select=[EXPOSURE], full_refresh=True,
        )
        [first] = run_sync(options, client_factory=fresh_process())
        [second] = run_sync(options, client_factory=fresh_process())
        stats = sb.stats()
    assert first.counters.requests + second.counters.requests > 14  # more than one window's worth
    assert stats["rate_limited"] == 0 if "rate_limited" in stats else True
    assert sum(v.get("429", 0) for v in stats["requests"].values()) == 0
    assert first.status == second.status == "completed"
    assert_invariant(ex)


def test_remembered_misses_cost_no_lookup_on_a_resync(b: Built) -> None:
    with Sandbox(sandbox_config()) as sb:
        [first] = sync(b.example, sb)
        assert first.counters.rows_not_found > 0
        reads = calls(sb, "batch/read")
        [again] = sync(b.example, sb)
        assert calls(sb, "batch/read") == reads  # the misses were not looked up again
        assert again.counters.rows_not_found == first.counters.rows_not_found
        row = run_row(b.example, again.run_id)
        assert row["requests"] <= 2, row  # at most the search for new contacts (+ nothing else)
        log = record_log(b.example, again.run_id)
        assert {code for _, outcome, code, _ in log if outcome == "not_found"} == {"OBJECT_NOT_FOUND"}
        assert sb.stats()["requests"].get(UPDATE, {}).get("200", 0) > 0
    assert_invariant(b.example)
