"""Steady state at the cost of what changed, end to end with real dbt and the sandbox: contacts that already hold
the values are not updated, a dry run is a diff old → new, back-to-back runs stay at 0 429s, and remembered
misses cost a search for new contacts instead of a lookup each (a contact created in HubSpot between two runs is
updated by the second; one whose email changed is found by the full recheck and by --full-refresh)."""

from __future__ import annotations

import csv

import pytest

from dbt_hubspot_sync.hubspot import RateLimiter
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

from .helpers import (
    ADAPTERS,
    CONTACTS_CSV,
    EXPOSURE,
    UPDATE,
    Built,
    assert_invariant,
    calls,
    client_factory,
    execute,
    first_names_restored,
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
    with Sandbox(sandbox_config()) as sb, first_names_restored(ex):
        [first] = sync(ex, sb)
        execute(ex, "update {schema}.customers set first_name = 'Zed' where amperity_id = 'amp-00002'")
        from dbt_hubspot_sync.doors.runner import SyncOptions, run_sync

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

        from dbt_hubspot_sync.doors.runner import SyncOptions, run_sync

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
        # Logged by the first run, when they first appeared; still rejected now, for the same reason.
        assert [r for r in record_log(b.example, again.run_id) if r[1] == "not_found"] == []
        assert b.example.query(
            "select reason_code, count(*) from {schema}.hubspot_sync_rejected where outcome = 'not_found' group by 1"
        ) == [("OBJECT_NOT_FOUND", again.counters.rows_not_found)]
        assert sb.stats()["requests"].get(UPDATE, {}).get("200", 0) > 0
    assert_invariant(b.example)


def a_remembered_miss(b: Built, run_id: str) -> str:
    """A valid email the run found no contact for (now remembered in hubspot_sync_state)."""
    [(email,)] = b.example.query(
        "select email_clean from {schema}.hubspot_sync_record_log"
        f" where run_id = '{run_id}' and outcome = 'not_found' order by email_clean limit 1"
    )
    assert b.example.query(
        f"select count(*) from {{schema}}.hubspot_sync_state where email_clean = '{email}'"
        " and properties_hash = 'not_found'"
    ) == [(1,)]
    return email


def old_contacts() -> SandboxConfig:
    """The example's contacts, created long before the sync ever ran (a fresh sandbox would stamp them now)."""
    with open(CONTACTS_CSV, newline="", encoding="utf-8") as fh:
        contacts = [dict(row, createdate="2024-01-01T00:00:00Z") for row in csv.DictReader(fh)]
    return SandboxConfig(contacts=contacts)


def holder_of(sb: Sandbox, email: str) -> dict | None:
    return next((c for c in sb.contacts() if c["properties"].get("email") == email), None)


def test_a_contact_created_in_hubspot_between_two_runs_is_updated_by_the_second(b: Built) -> None:
    with Sandbox(sandbox_config()) as sb:
        [first] = sync(b.example, sb)
        email = a_remembered_miss(b, first.run_id)
        sb.create_contact({"email": email})
        [second] = sync(b.example, sb)
        contact = holder_of(sb, email)
        assert contact is not None and contact["properties"].get("amperity_id"), contact
        assert second.counters.rows_updated == 1
        assert second.counters.rows_not_found == first.counters.rows_not_found - 1
        assert sb.stats()["contacts_created"] == 1  # the one the test made: the sync creates none
    assert_invariant(b.example)


def test_a_contact_created_inside_search_lag_is_caught_by_the_following_run(built) -> None:
    b = built("duckdb")
    with Sandbox(sandbox_config(search_lag_ms=600_000)) as sb:  # search sees writes ten minutes late
        [first] = sync(b.example, sb)
        email = a_remembered_miss(b, first.run_id)
        sb.create_contact({"email": email})
        [second] = sync(b.example, sb)
        assert second.counters.rows_updated == 0  # not indexed yet: still a remembered miss
        # The index catches up (as if the ten minutes had passed); the next run's window overlaps the last one's.
        index = sb.app.store.index
        index._pending = type(index._pending)((0.0, rid, snap) for _, rid, snap in index._pending)
        [third] = sync(b.example, sb)
        assert third.counters.rows_updated == 1
        assert holder_of(sb, email)["properties"].get("amperity_id")
    assert_invariant(b.example)


@pytest.mark.parametrize("how", ["full_recheck", "full_refresh"])
def test_a_contact_whose_email_changed_to_a_remembered_miss(built, how: str) -> None:
    """Not a new contact: search cannot see it; the periodic full recheck and --full-refresh do."""
    b = built("duckdb")
    with Sandbox(old_contacts()) as sb:
        [first] = sync(b.example, sb)
        email = a_remembered_miss(b, first.run_id)
        # A contact the model does not feed (never updated), whose email becomes one the model has.
        other = next(c for c in sb.contacts() if not c["properties"].get("amperity_id"))
        sb.change_email(other["id"], email)
        [second] = sync(b.example, sb)
        assert second.counters.rows_not_found == first.counters.rows_not_found  # trusted: not looked up
        from dbt_hubspot_sync.doors.runner import SyncOptions, run_sync

        ex = b.example
        options = SyncOptions(
            project_dir=str(ex.project_dir), profiles_dir=str(ex.project_dir), target=ex.target,
            select=[EXPOSURE],
            vars_yaml="{hubspot_sync: {not_found_recheck_hours: 0}}" if how == "full_recheck" else None,
            full_refresh=how == "full_refresh",
        )
        [third] = run_sync(options, client_factory=client_factory(sb))
        assert third.counters.rows_not_found == first.counters.rows_not_found - 1
        assert holder_of(sb, email)["properties"].get("amperity_id")
    assert_invariant(b.example)
