"""The forecast of the next run's counts (engine/forecast.py), window by window: what each shipped row's outcome
and the writes made for it say the next rows query will count, and when nothing can be said (a write for a row
the run did not ship, a write that came after its row's window, a row shipped again, a count that does not add
up). The CASE itself is pinned against the warehouses in tests/macros/test_forecast_case.py."""

from __future__ import annotations

from dbt_hubspot_sync.engine.forecast import UNSEEN, Forecast, Tracked
from dbt_hubspot_sync.tables.state import NOT_FOUND

FP = "f" * 32


def shipped(email: str, rank: int = 1, record_id: str | None = None, phash: str | None = None) -> Tracked:
    return Tracked(f"={email}#{rank}", None, FP, rank, record_id, phash)


def test_updated_rows_and_remembered_misses_are_counted_as_the_next_query_settles_them() -> None:
    f = Forecast(log_all=False)
    f.settled("a@x.com", shipped("a@x.com"), None)  # updated: the state gets id, hash and fingerprint
    f.wrote("a@x.com", ("101", "h1", FP))
    f.settled("b@x.com", shipped("b@x.com"), ("not_found", "OBJECT_NOT_FOUND"))  # a lookup's miss, logged
    f.wrote("b@x.com", (None, NOT_FOUND, FP))
    f.settled("c@x.com", shipped("c@x.com", rank=2), ("duplicate", "DUPLICATE_EMAIL"))
    f.settled("d@x.com", shipped("d@x.com", record_id="104", phash="h4"), ("invalid", "UNKNOWN_TLD"))
    f.window()
    counted = [("invalid", False, 7), ("unchanged", True, 5), ("ship", False, 1), ("ship", True, 3)]
    assert f.next_counts(counted, shipped=4) == [
        ("duplicate", False, 1),
        ("invalid", False, 7),
        ("invalid", True, 1),  # rank 1 of a contact the state knows: counted as known, as the query does
        ("not_found", False, 1),
        ("unchanged", True, 6),
    ]


def test_a_row_the_next_run_would_read_again_voids_the_forecast() -> None:
    f = Forecast(log_all=False)
    f.settled("a@x.com", shipped("a@x.com"), None)  # e.g. not found by id: the state forgot it
    f.wrote("a@x.com", None)
    assert f.next_counts([("ship", True, 1)], shipped=1) is None
    assert f.void is not None and "=a@x.com#1" in f.void


def test_with_log_records_all_an_updated_row_is_read_again_to_be_logged_unchanged() -> None:
    f = Forecast(log_all=True)
    f.settled("a@x.com", shipped("a@x.com"), None)
    f.wrote("a@x.com", ("101", "h1", FP))
    assert f.next_counts([("ship", False, 1)], shipped=1) is None
    g = Forecast(log_all=True)  # found unchanged by Python and logged so: settled next time
    g.settled("a@x.com", shipped("a@x.com", record_id="101", phash="h1"), ("unchanged", "UNCHANGED"))
    g.wrote("a@x.com", ("101", "h1", FP))
    assert g.next_counts([("ship", True, 1)], shipped=1) == [("unchanged", True, 1)]


def test_a_write_for_a_row_not_settled_in_the_window_voids_it() -> None:
    f = Forecast(log_all=False)
    f.wrote("other@x.com", ("9", "h", FP))  # e.g. an earlier run's import landed now
    f.window()
    assert f.void is not None and f.next_counts([], shipped=0) is None
    late = Forecast(log_all=False)
    late.settled("a@x.com", shipped("a@x.com"), None)
    late.window()  # its state not written yet: what the state holds is not seen
    late.wrote("a@x.com", ("101", "h1", FP))
    assert late.next_counts([("ship", False, 1)], shipped=1) is None


def test_every_shipped_row_must_have_been_foreseen() -> None:
    f = Forecast(log_all=False)
    f.settled("a@x.com", shipped("a@x.com"), None)
    f.wrote("a@x.com", ("101", "h1", FP))
    assert f.next_counts([("ship", False, 2)], shipped=2) is None  # one shipped row had no outcome here
    g = Forecast(log_all=False)
    g.fail("record =b@x.com#1 failed")
    g.settled("a@x.com", shipped("a@x.com"), None)
    g.wrote("a@x.com", ("101", "h1", FP))
    assert g.next_counts([("ship", False, 1)], shipped=1) is None


def test_a_candidates_unseen_hash_is_never_taken_for_a_state() -> None:
    f = Forecast(log_all=False)
    f.settled("a@x.com", Tracked("=a@x.com#1", None, FP, 1, "101", UNSEEN), None)  # no write for it
    assert f.next_counts([("ship", True, 1)], shipped=1) is None
