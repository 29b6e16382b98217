"""SyncRun and HubSpot's side (engine/calls.py): a call that ends the run (unknown property, daily limit,
5xx, an unexpected exception, Ctrl-C) fails the rest of the run, never sends it, never loses a row; list
adds; a cached record id HubSpot no longer knows.

The log is a real in-memory DuckDB database; HubSpot is the scripted `FakeHubSpot` (tests/helpers.py).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from dbt_hubspot_sync.hubspot import (
    DailyLimitError,
    HubSpotError,
    ListOutcome,
    PropertyError,
    RecordFailure,
    UpdateOutcome,
)
from tests.helpers import Harness, Inputs, row


# -- stops: the rest of the run is failed, never sent, never lost --------------------------------------------
def property_error(outcome: UpdateOutcome | None = None) -> PropertyError:
    return PropertyError(
        "POST /crm/v3/objects/contacts/batch/update: HubSpot rejected property 'score' "
        '(PROPERTY_DOESNT_EXIST): Property "score" does not exist',
        property_name="score",
        call="POST /crm/v3/objects/contacts/batch/update",
        status=400,
        code="PROPERTY_DOESNT_EXIST",
        outcome_so_far=outcome,
    )


def test_property_error_fails_the_run_and_every_later_row(h: Harness) -> None:
    def reject(inputs: Inputs) -> UpdateOutcome:
        raise property_error()

    h.client.on_update = reject
    run = h.new_run(push_size=2)
    run.announce()
    run.start()
    run.feed([row("c0@example.com"), row("c1@example.com"), row("c2@example.com")])
    run.feed([row("c3@example.com"), row("bad"), row("c3@example.com", rank=2)])
    assert run.stopped
    result = h.finish(run)
    # Batches overlap: the one behind the failing one may have done its lookup, never its update.
    assert len(h.client.updates) == 1 and len(h.client.reads) <= 2
    assert result.status == "failed"
    assert "score" in (result.error or "")
    assert h.run_row(result.run_id)["error"] == result.error
    codes = h.by_email(result.run_id)
    for email in ("c0@example.com", "c1@example.com", "c2@example.com", "c3@example.com"):
        assert codes[email] == ("failed", "PROPERTY_DOESNT_EXIST"), email
    # Rows that would never have been sent keep their own outcome.
    assert codes["bad"] == ("invalid", "INVALID_SYNTAX")
    assert (result.counters.rows_failed, result.counters.rows_invalid, result.counters.rows_duplicate) == (
        4,
        1,
        1,
    )
    assert {r["http_status"] for r in h.records(result.run_id) if r["outcome"] == "failed"} == {400}


def test_property_error_keeps_what_was_updated_before_it(h: Harness) -> None:
    h.client.on_update = lambda inputs: (_ for _ in ()).throw(property_error(UpdateOutcome(updated={"100"})))
    result = h.sync([row("c0@example.com"), row("c1@example.com")])
    assert (result.counters.rows_updated, result.counters.rows_failed) == (1, 1)
    assert h.by_email(result.run_id) == {"c1@example.com": ("failed", "PROPERTY_DOESNT_EXIST")}
    assert result.status == "failed"


def test_daily_limit_on_update_ends_the_run_cleanly(h: Harness) -> None:
    def limit(inputs: Inputs) -> UpdateOutcome:
        raise DailyLimitError(
            "429 DAILY",
            call="POST update",
            status=429,
            code="RATE_LIMITED",
            outcome_so_far=UpdateOutcome(updated={"100"}),
        )

    h.client.on_update = limit
    run = h.new_run(push_size=2)
    run.announce()
    run.start()
    run.feed([row("c0@example.com"), row("c1@example.com"), row("c2@example.com"), row("nobody@example.com")])
    result = h.finish(run)
    assert result.status == "failed"
    assert (result.error or "").startswith("daily_limit")
    recs = {r["email_clean"]: r for r in h.records(result.run_id)}
    assert set(recs) == {"c1@example.com", "c2@example.com", "nobody@example.com"}
    assert all(
        (r["outcome"], r["reason_code"], r["http_status"]) == ("failed", "DAILY_LIMIT", 429)
        for r in recs.values()
    )
    assert (result.counters.rows_updated, result.counters.rows_failed) == (1, 3)
    assert len(h.client.reads) == 1  # the rows after the stop were never looked up


def test_daily_limit_on_read(h: Harness) -> None:
    h.client.read_error = DailyLimitError("429 DAILY", call="POST read", status=429)
    result = h.sync([row("c0@example.com"), row("c1@example.com")])
    assert result.status == "failed" and (result.error or "").startswith("daily_limit")
    assert result.counters.rows_failed == 2
    assert h.client.updates == []


def test_read_failure_fails_the_buffered_rows(h: Harness) -> None:
    h.client.read_error = HubSpotError("POST read: 503 after 5 retries", call="POST read", status=503)
    result = h.sync([row("c0@example.com"), row("c1@example.com"), row("bad")])
    assert result.status == "failed"
    assert "503" in (result.error or "")
    assert h.by_email(result.run_id) == {
        "bad": ("invalid", "INVALID_SYNTAX"),
        "c0@example.com": ("failed", "HTTP_5XX"),
        "c1@example.com": ("failed", "HTTP_5XX"),
    }
    assert {r["http_status"] for r in h.records(result.run_id) if r["outcome"] == "failed"} == {503}
    assert h.client.updates == []


def test_callers_error_fails_what_is_buffered(h: Harness) -> None:
    run = h.new_run()
    run.announce()
    run.start()
    run.feed([row("c0@example.com"), row("c1@example.com")])
    result = h.finish(run, "reading contacts failed: connection lost")
    assert result.status == "failed" and result.error == "reading contacts failed: connection lost"
    assert set(h.by_email(result.run_id).values()) == {("failed", "RUN_FAILED")}
    assert h.client.updates == []


def test_unexpected_client_exception_never_loses_rows(h: Harness) -> None:
    def crash(inputs: Inputs) -> UpdateOutcome:
        raise RuntimeError("client bug")

    h.client.on_update = crash
    run = h.new_run(push_size=2)
    run.announce()
    run.start()
    run.feed([row("c0@example.com"), row("c1@example.com")])  # the engine absorbs it: the run stops
    result = h.finish(run)
    assert result.status == "failed" and "client bug" in (result.error or "")
    assert result.counters.rows_failed == 2
    assert set(h.by_email(result.run_id).values()) == {("failed", "INTERNAL_ERROR")}


# -- lists: only updated contacts, and an add that fails ends the run ----------------------------------------
def test_list_gets_only_the_updated_ids(h: Harness) -> None:
    h.client.on_update = lambda inputs: UpdateOutcome(
        updated={"100", "101", "102", "103"}, failed={"104": RecordFailure("INVALID_EMAIL", "no", 400)}
    )
    h.client.list_missing = {"103"}
    h.client.list_already = {"102"}
    result = h.sync(
        [row(f"c{i}@example.com") for i in range(5)] + [row("nobody@example.com")], {"list_id": 123}
    )
    assert h.client.list_adds == [("123", ["100", "101", "102", "103"])]
    assert (result.counters.list_added, result.counters.list_missing) == (3, 1)
    db = h.run_row(result.run_id)
    assert (db["list_added"], db["list_missing"]) == (3, 1)


def test_list_failure_fails_the_run_but_keeps_the_updates(h: Harness) -> None:
    def no_list(list_id: str, record_ids: Sequence[str]) -> ListOutcome:
        raise HubSpotError("PUT /crm/v3/lists/9/memberships/add: 404 list not found", call="PUT", status=404)

    h.client.add_to_list = no_list  # type: ignore[method-assign]
    run = h.new_run({"list_id": "9"}, push_size=2)
    run.announce()
    run.start()
    run.feed([row("c0@example.com"), row("c1@example.com"), row("c2@example.com")])
    result = h.finish(run)
    assert result.status == "failed" and "404" in (result.error or "")
    assert (result.counters.rows_updated, result.counters.rows_failed) == (2, 1)
    assert h.by_email(result.run_id) == {"c2@example.com": ("failed", "HTTP_404")}
    assert len(h.client.updates) == 1


def test_contacts_updated_before_an_error_still_join_the_list(h: Harness) -> None:
    def half(inputs: Inputs) -> UpdateOutcome:
        raise HubSpotError(
            "POST update: 503 after 5 retries",
            call="POST update",
            status=503,
            outcome_so_far=UpdateOutcome(updated={"100"}),
        )

    h.client.on_update = half
    result = h.sync([row("c0@example.com"), row("c1@example.com")], {"list_id": "9"})
    assert (result.counters.rows_updated, result.counters.rows_failed) == (1, 1)
    assert h.client.list_adds == [("9", ["100"])]


def test_no_list_call_without_list_id_or_updates(h: Harness) -> None:
    h.sync([row("c1@example.com")])
    h.sync([row("nobody@example.com")], {"list_id": "5"})
    assert h.client.list_adds == []


# -- Ctrl-C: what is in flight lands, nothing more is sent ---------------------------------------------------
def test_cancel_stops_sending_lands_what_was_sent_and_fails_the_run_interrupted(h: Harness) -> None:
    cancel = threading.Event()
    run = h.new_run(push_size=3, cancel=cancel)
    run.announce()
    run.start()
    run.feed([row(f"c{i}@example.com") for i in range(3)])  # one batch pushed
    cancel.set()  # Ctrl-C
    run.feed([row(f"c{i}@example.com") for i in range(3, 6)] + [row(None)])
    result = h.finish(run)
    assert result.status == "failed" and result.error.startswith("interrupted")
    c = result.counters
    assert (c.rows_read, c.rows_updated, c.rows_failed, c.rows_invalid) == (7, 3, 3, 1)
    assert h.client.sent_ids == ["100", "101", "102"]  # nothing sent after the interrupt
    failed = {e: code for e, (o, code) in h.by_email(result.run_id).items() if o == "failed"}
    assert failed == {f"c{i}@example.com": "INTERRUPTED" for i in range(3, 6)}


def test_cancel_while_a_batch_is_in_flight_stops_the_batch_behind_it(h: Harness) -> None:
    cancel = threading.Event()
    gate = threading.Event()

    def slow_update(inputs: Inputs) -> UpdateOutcome:
        cancel.set()  # Ctrl-C arrives while this update is in flight
        gate.wait(5)
        return UpdateOutcome(updated={rid for rid, _ in inputs})

    h.client.on_update = slow_update
    run = h.new_run(push_size=2, cancel=cancel)
    run.announce()
    run.start()
    threading.Timer(0.5, gate.set).start()
    run.feed([row(f"c{i}@example.com") for i in range(6)])
    result = h.finish(run)
    assert result.status == "failed" and result.error.startswith("interrupted")
    # The in-flight update finished and counts; nothing after it was sent.
    assert h.client.sent_ids == ["100", "101"]
    assert (result.counters.rows_updated, result.counters.rows_failed) == (2, 4)


# -- a cached record id HubSpot no longer knows --------------------------------------------------------------
def test_a_stale_cached_id_whose_lookup_hits_the_daily_limit_is_failed_not_lost(h: Harness) -> None:
    # The cached id is gone (HubSpot says not found); looking its email up again ends the run (daily limit).
    h.client.contacts = {"b@example.com": "2"}
    h.client.on_update = lambda inputs: UpdateOutcome(
        updated={rid for rid, _ in inputs if rid != "1"}, not_found={"1"} & {rid for rid, _ in inputs}
    )
    h.client.read_error = DailyLimitError("daily limit", call="POST batch/read", status=429)
    run = h.new_run()
    stale = ("a@example.com", "a@example.com", 1, "1", "old-hash", "Ann", 1)
    known = ("b@example.com", "b@example.com", 1, "2", "old-hash", "Bob", 2)
    run.start()
    run.feed([stale, known])
    result = run.finish()
    c = result.counters
    assert c.holds() and (c.rows_updated, c.rows_failed) == (1, 1)
    assert result.status == "failed" and "daily_limit" in (result.error or "")
