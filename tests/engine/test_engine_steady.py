"""Steady state at the cost of what changed (engine side): contacts that already hold the values are not updated
(ALREADY_IN_HUBSPOT), remembered misses are not looked up again while trusted, and a dry run is a diff."""

from __future__ import annotations

import pytest

from dbt_hubspot_sync.config.properties import changed_properties, same_in_hubspot
from dbt_hubspot_sync.tables.state import NOT_FOUND

from ..helpers import Harness, row


def test_a_contact_that_already_holds_the_values_is_not_updated(h: Harness) -> None:
    h.client.values = {"101": {"firstname": "Ann", "score": "1"}, "102": {"firstname": "Old", "score": "2"}}
    result = h.sync([row("c1@example.com", "Ann", 1), row("c2@example.com", "Bo", 2)], {"log_records": "all"})
    assert h.client.updates == [[("102", {"firstname": "Bo", "score": "2"})]]
    assert (result.counters.rows_unchanged, result.counters.rows_updated) == (1, 1)
    assert h.by_email(result.run_id)["c1@example.com"] == ("unchanged", "ALREADY_IN_HUBSPOT")


def test_the_first_sync_of_an_audience_hubspot_already_has_costs_reads_only(h: Harness) -> None:
    h.client.values = {str(100 + i): {"firstname": f"N{i}", "score": str(i)} for i in range(1, 6)}
    result = h.sync([row(f"c{i}@example.com", f"N{i}", i) for i in range(1, 6)])
    assert h.client.updates == [] and len(h.client.reads) == 1
    assert result.counters.rows_unchanged == 5 and result.status == "completed"


@pytest.mark.parametrize(
    ("sent", "held", "same"),
    [
        ("10.50", "10.5", True),
        ("3", "3.0", True),
        ("true", "True", True),
        ("false", "true", False),
        ("", None, True),
        ("", "x", False),
        ("x", None, False),
        ("1769731200000", "2026-01-30", True),  # a date: sent as midnight-UTC epoch ms, shown as ISO
        ("1769731200000", "2026-01-30T00:00:00Z", True),
        ("1769731200001", "2026-01-30T00:00:00Z", False),
        ("Ann", "ann", False),  # text is compared exactly
    ],
)
def test_values_as_hubspot_stores_them(sent: str, held: str | None, same: bool) -> None:
    assert same_in_hubspot(sent, held) is same
    assert bool(changed_properties({"p": sent}, {"p": held})) is not same


def test_a_remembered_miss_is_not_looked_up_while_trusted(h: Harness) -> None:
    remembered = ("gone@example.com", "gone@example.com", 1, None, NOT_FOUND, "Ann", 1)
    trusted = h.sync([remembered, row("c1@example.com")], trust_not_found=True)
    assert h.client.reads == [["c1@example.com"]]  # the remembered miss cost no request
    assert h.by_email(trusted.run_id)["gone@example.com"] == ("not_found", "OBJECT_NOT_FOUND")
    h.client.reads.clear()
    rechecked = h.sync([remembered], trust_not_found=False)  # the full recheck looks it up again
    assert h.client.reads == [["gone@example.com"]]
    assert rechecked.counters.rows_not_found == 1


def test_a_dry_run_is_a_diff_old_to_new(h: Harness) -> None:
    h.client.values = {"101": {"firstname": "Ann", "score": "1"}, "102": {"firstname": "Bo", "score": "7"}}
    known = ("c2@example.com", "c2@example.com", 1, "102", "old-hash", "Bob", 7)  # the state knows its id
    result = h.sync([row("c1@example.com", "Anne", 1), known, row("nobody@example.com")], dry_run=True)
    assert h.client.updates == []  # reads only
    assert h.client.id_reads == [["102"]]  # the known contact's old values, read by id
    assert result.changes == {"firstname": 2}
    records = {r["email_clean"]: r for r in h.records(result.run_id)}
    assert records["nobody@example.com"]["outcome"] == "not_found"
    # Would-updates are logged even with log_records: rejected: their details are the diff.
    assert records["c1@example.com"]["outcome"] == "updated"
    assert records["c1@example.com"]["detail"] == "dry run: would update contact 101: firstname: 'Ann' → 'Anne'"
    assert records["c2@example.com"]["detail"] == "dry run: would update contact 102: firstname: 'Bo' → 'Bob'"


def test_contacts_that_already_hold_the_values_still_join_the_list(h: Harness) -> None:
    h.client.values = {"101": {"firstname": "Ann", "score": "1"}}
    result = h.sync([row("c1@example.com", "Ann", 1)], {"list_id": "9"})
    assert h.client.updates == [] and h.client.list_adds == [("9", ["101"])]
    assert (result.counters.rows_unchanged, result.counters.list_added) == (1, 1)
