"""SyncRun, row by row: every row read ends in exactly one counted, logged outcome (engine/outcomes.py's
bookkeeping): invalid, duplicate, not found, updated, unchanged, failed, with its reason.

The log is a real in-memory DuckDB database; HubSpot is the scripted `FakeHubSpot` (tests/helpers.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from dbt_hubspot_sync.engine import run_result_ok
from dbt_hubspot_sync.hubspot import RecordFailure, UpdateOutcome
from tests.helpers import Harness, Inputs, row


# -- outcomes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("clean", "reason"),
    [
        (None, "NULL_EMAIL"),
        ("", "NULL_EMAIL"),
        ("not an email", "INVALID_SYNTAX"),
        ('"a b"@example.com', "QUOTED_LOCAL_PART"),
        ("jane@example.notatld", "UNKNOWN_TLD"),
    ],
)
def test_invalid_emails_are_logged_with_their_reason_and_not_sent(
    h: Harness, clean: str | None, reason: str
) -> None:
    result = h.sync([row(clean, raw=f"raw:{clean}"), row("c1@example.com")])
    [rec] = [r for r in h.records(result.run_id) if r["outcome"] == "invalid"]
    assert (rec["email_raw"], rec["email_clean"], rec["reason_code"]) == (f"raw:{clean}", clean, reason)
    assert rec["detail"] and rec["http_status"] is None and rec["exposure_name"] == "hs"
    assert result.counters.rows_invalid == 1 and result.counters.rows_updated == 1
    assert result.status == "completed"
    assert h.client.reads == [["c1@example.com"]]
    assert h.client.sent_ids == ["101"]


def test_lower_ranked_rows_of_an_email_are_duplicates(h: Harness) -> None:
    result = h.sync(
        [
            row("c1@example.com", "First", rank=1),
            row("c1@example.com", "Second", raw="C1@example.com", rank=2),
        ]
    )
    assert h.client.updates == [[("101", {"firstname": "First", "score": "1"})]]
    [rec] = h.records(result.run_id)
    assert (rec["email_raw"], rec["outcome"], rec["reason_code"]) == (
        "C1@example.com",
        "duplicate",
        "DUPLICATE_EMAIL",
    )
    assert (result.counters.rows_updated, result.counters.rows_duplicate) == (1, 1)


def test_unknown_email_is_not_found_and_never_sent(h: Harness) -> None:
    result = h.sync([row("nobody@example.com"), row("c2@example.com")])
    assert h.by_email(result.run_id) == {"nobody@example.com": ("not_found", "OBJECT_NOT_FOUND")}
    assert h.client.sent_ids == ["102"]
    assert (result.counters.rows_not_found, result.counters.rows_updated) == (1, 1)
    assert result.status == "completed" and result.ok


def test_updated_rows_are_counted_not_logged_by_default(h: Harness) -> None:
    result = h.sync([row(f"c{i}@example.com", f"n{i}", i) for i in range(3)])
    assert h.client.updates == [[(str(100 + i), {"firstname": f"n{i}", "score": str(i)}) for i in range(3)]]
    assert result.counters.rows_updated == 3 and result.counters.rows_read == 3
    assert h.records(result.run_id) == []
    assert result.status == "completed" and result.error is None


def test_failed_records_keep_hubspots_code_and_status(h: Harness) -> None:
    def answer(inputs: Inputs) -> UpdateOutcome:
        return UpdateOutcome(
            updated={"100"},
            not_found={"101"},
            failed={"102": RecordFailure("INVALID_OPTION", "bad option 'x'", 400)},
        )

    h.client.on_update = answer
    result = h.sync([row(f"c{i}@example.com") for i in range(4)])
    recs = {r["email_clean"]: r for r in h.records(result.run_id)}
    assert set(recs) == {"c1@example.com", "c2@example.com", "c3@example.com"}
    assert (recs["c1@example.com"]["outcome"], recs["c1@example.com"]["reason_code"]) == (
        "not_found",
        "OBJECT_NOT_FOUND",
    )
    failed = recs["c2@example.com"]
    assert (failed["outcome"], failed["reason_code"], failed["detail"], failed["http_status"]) == (
        "failed",
        "INVALID_OPTION",
        "bad option 'x'",
        400,
    )
    # HubSpot said nothing about 103: not silently counted as updated.
    assert (recs["c3@example.com"]["outcome"], recs["c3@example.com"]["reason_code"]) == (
        "failed",
        "NOT_SENT",
    )
    assert (result.counters.rows_updated, result.counters.rows_not_found, result.counters.rows_failed) == (
        1,
        1,
        2,
    )
    assert result.status == "completed_with_errors"
    assert not result.ok and not run_result_ok([result])


def test_all_null_properties_are_unchanged_and_not_sent(h: Harness) -> None:
    result = h.sync([row("c1@example.com", None, None), row("c2@example.com", None, 5)])
    assert h.client.updates == [[("102", {"score": "5"})]]  # a NULL property is left out, not cleared
    assert (result.counters.rows_unchanged, result.counters.rows_updated) == (1, 1)
    assert h.records(result.run_id) == []


def test_null_as_empty_clears_properties(h: Harness) -> None:
    h.client.values = {"101": {"firstname": "Ann", "score": "1"}, "102": {"firstname": "Bo"}}  # to be cleared
    result = h.sync(
        [row("c1@example.com", None, None), row("c2@example.com", None, 5)], {"null_as_empty": True}
    )
    assert h.client.updates == [
        [("101", {"firstname": "", "score": ""}), ("102", {"firstname": "", "score": "5"})]
    ]
    assert result.counters.rows_updated == 2 and result.counters.rows_unchanged == 0


def test_log_records_all_logs_updated_and_unchanged_rows_too(h: Harness) -> None:
    result = h.sync(
        [row("c1@example.com"), row("c2@example.com", None, None), row("nobody@example.com")],
        {"log_records": "all"},
    )
    assert h.by_email(result.run_id) == {
        "c1@example.com": ("updated", None),
        "c2@example.com": ("unchanged", "NO_PROPERTIES"),
        "nobody@example.com": ("not_found", "OBJECT_NOT_FOUND"),
    }
    assert "101" in h.records(result.run_id)[0]["detail"]


def test_values_reach_the_client_as_hubspot_strings(h: Harness) -> None:
    values = [
        (Decimal("10.50"), "10.50"),
        (True, "true"),
        (3.0, "3"),
        (0.1, "0.1"),
        (12345678901234567890, "12345678901234567890"),
        (dt.date(2024, 1, 2), "1704153600000"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "1704164645000"),
        ("  kept as is ", "  kept as is "),
    ]
    rows = [row(f"c{i}@example.com", "x", v) for i, (v, _) in enumerate(values)]
    h.sync(rows)
    sent = {rid: props["score"] for rid, props in h.client.updates[0]}
    assert sent == {str(100 + i): text for i, (_, text) in enumerate(values)}


@pytest.mark.parametrize("bad", [float("nan"), Decimal("Infinity"), object()])
def test_value_with_no_hubspot_form_fails_that_row_only(h: Harness, bad: Any) -> None:
    result = h.sync([row("c1@example.com", "x", bad), row("c2@example.com")])
    [rec] = h.records(result.run_id)
    assert (rec["email_clean"], rec["outcome"], rec["reason_code"]) == (
        "c1@example.com",
        "failed",
        "INVALID_VALUE",
    )
    assert h.client.sent_ids == ["102"]
    assert result.status == "completed_with_errors"


def test_two_emails_of_one_contact_send_it_once(h: Harness) -> None:
    h.client.contacts["alias@example.com"] = "101"
    result = h.sync([row("c1@example.com", "A"), row("alias@example.com", "B")])
    # One input per record id, or HubSpot rejects the whole batch.
    assert h.client.updates == [[("101", {"firstname": "A", "score": "1"})]]
    [rec] = h.records(result.run_id)
    assert (rec["email_clean"], rec["outcome"], rec["reason_code"]) == (
        "alias@example.com",
        "duplicate",
        "DUPLICATE_RECORD",
    )
    assert "101" in rec["detail"] and "c1@example.com" in rec["detail"]
    assert (result.counters.rows_updated, result.counters.rows_duplicate) == (1, 1)


def test_lookup_uses_the_clients_lower_case_keys(h: Harness) -> None:
    result = h.sync([row("C1@Example.com")])
    assert result.counters.rows_updated == 1
    assert h.client.sent_ids == ["101"]


# -- enumeration options, checked before sending -------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "multiple", "ok"),
    [("lead", False, True), ("Lead", False, False), ("lead;customer", True, True), ("lead;vip", True, False)],
)
def test_enumeration_value_outside_the_options_fails_locally(
    h: Harness, value: str, multiple: bool, ok: bool
) -> None:
    run = h.new_run()
    run.plan = dataclasses.replace(
        run.plan, enumerations={"firstname": (frozenset({"lead", "customer"}), multiple)}
    )
    run.announce()
    run.start()
    run.feed([row("c1@example.com", first=value), row("c2@example.com", first="customer")])
    result = h.finish(run)
    assert result.counters.rows_updated == (2 if ok else 1)
    if not ok:
        [rec] = [r for r in h.records(result.run_id) if r["outcome"] == "failed"]
        assert (rec["email_clean"], rec["reason_code"]) == ("c1@example.com", "INVALID_OPTION")
        assert "firstname" in rec["detail"] and "customer, lead" in rec["detail"]
        assert [rid for rid, _ in h.client.updates[0]] == ["102"]  # the bad row never reached HubSpot
