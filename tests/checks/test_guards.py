"""The guards' estimate and refusals (guards.py): a run's requests against the portal's day, its changes against
the audience's known contacts."""

from __future__ import annotations

from dbt_hubspot_sync.checks.guards import estimate, refusal
from dbt_hubspot_sync.config.properties import properties_hash
from dbt_hubspot_sync.tables.state import NOT_FOUND

from ..helpers import make_plan, row


def known(email: str, rid: str, digest: str = "old") -> tuple:
    return (email, email, 1, rid, digest, "Ann", 1)


def test_the_estimate_classifies_rows_as_the_run_will() -> None:
    plan = make_plan()
    rows = [
        row("new@example.com"),  # looked up
        known("k1@example.com", "1"),  # changed: updated by id
        row("dup@example.com", rank=2),  # duplicate: nothing sent
        row("not an email"),  # invalid
        ("gone@example.com", "gone@example.com", 1, None, NOT_FOUND, "Ann", 1),  # a remembered miss
    ]
    est = estimate([rows], plan, trust_not_found=True)
    assert (est.rows, est.known, est.changed_known, est.unknown) == (5, 1, 1, 1)
    assert est.requests(plan) == 1 + 1  # one lookup, one update
    assert estimate([rows], plan, trust_not_found=False).unknown == 2  # the miss is looked up again
    with_list = make_plan({"list_id": "7"})
    assert est.requests(with_list) == 1 + 1 + 1


def test_a_run_over_its_share_of_the_day_is_refused_naming_the_figures() -> None:
    plan = make_plan({"max_daily_share": 0.5})
    est = estimate([[row(f"n{i}@example.com") for i in range(1000)]], plan, trust_not_found=True)
    assert est.requests(plan) == 20
    assert refusal(plan, est, daily_remaining=40) is None  # 20 <= 50% of 40
    problem = refusal(plan, est, daily_remaining=39)
    assert problem is not None and problem.startswith("guard_daily_budget: the run would send up to 20 requests")
    assert "50% of the 39" in problem and "--force" in problem
    assert refusal(plan, est, daily_remaining=None) is None  # no header seen: nothing to measure against


def test_a_run_changing_too_much_of_the_known_audience_is_refused() -> None:
    plan = make_plan({"max_change_share": 0.5})
    rows = [known(f"k{i}@example.com", str(i)) for i in range(6)]
    same = properties_hash({"firstname": "Ann", "score": "1"})  # what the state says was last sent
    rows += [known(f"u{i}@example.com", str(100 + i), same) for i in range(4)]
    est = estimate([rows], plan, trust_not_found=True)
    assert (est.known, est.changed_known) == (10, 6)
    problem = refusal(plan, est, daily_remaining=None)
    assert problem is not None and problem.startswith("guard_change_share: the run would change 6 of the 10")
    assert "(60%)" in problem
    assert refusal(make_plan({"max_change_share": 0.6}), est, daily_remaining=None) is None
    off = make_plan()
    assert refusal(off, est, daily_remaining=None) is None  # max_change_share is off by default


def test_an_import_run_is_estimated_by_its_files_not_its_rows() -> None:
    rows = [row(f"n{i}@example.com") for i in range(60_000)]
    est = estimate([rows], make_plan(), trust_not_found=True)  # push: auto, 60,000 to send >= 50,000
    assert est.requests(make_plan()) == 50 + 600  # the file, and the record ids read once it landed
    assert est.requests(make_plan({"push": "batch"})) == 600 + 600
