"""When a run leaves a steady mark (engine/steady.py), isolated from the warehouse: only a run that settled every
row in the warehouse, over a model that did not change while it read it. (End to end: tests/integration/
test_steady_mark.py; the fingerprint itself: tests/macros/test_model_fingerprint_macro.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dbt_hubspot_sync.engine import steady as steady_module
from dbt_hubspot_sync.engine.outcomes import Counters, RunResult
from dbt_hubspot_sync.engine.steady import Steady

from ..helpers import make_plan

COUNTS = [("unchanged", True, 5), ("invalid", False, 1)]


class Target:
    placeholder = "?"

    def __init__(self) -> None:
        self.inserts: list[list[Any]] = []

    def relation(self, schema: str, identifier: str) -> str:
        return f"{schema}.{identifier}"

    def execute(self, sql: str, params: Any = None) -> list[tuple]:
        assert sql.startswith("insert into main.hubspot_sync_checks"), sql
        self.inserts.append(list(params))
        return []


def result(status: str = "completed", shipped: int | None = 0, **counters: int) -> RunResult:
    c = Counters(rows_read=6, rows_unchanged=5, rows_invalid=1)
    for k, v in counters.items():
        setattr(c, k, v)
    return RunResult("r2", "hs", status, c, rows_shipped=shipped)


@pytest.fixture
def fingerprints(monkeypatch) -> list[str]:
    """What the model's fingerprint reads as, call after call."""
    seq: list[str] = []
    monkeypatch.setattr(steady_module, "model_fingerprint", lambda target, plan: seq.pop(0))
    return seq


def steady(target: Target) -> Steady:
    plan = make_plan()
    return Steady(target, plan, "r2", "fp-1")


def test_a_run_that_settled_every_row_leaves_its_counts_and_fingerprint(fingerprints) -> None:
    target = Target()
    fingerprints.append("fp-1")
    steady(target).conclude(result(), COUNTS, 0, dry_run=False)
    [[exposure, kind, _until, run_id, _at, detail]] = target.inserts
    assert (exposure, kind, run_id) == ("hs", "steady", "r2")
    assert json.loads(detail) == {"fingerprint": "fp-1", "counts": [list(c) for c in COUNTS]}


@pytest.mark.parametrize(
    ("why", "res", "closed", "dry"),
    [
        ("shipped a row", result(shipped=1), 0, False),
        ("closed a rejection", result(), 1, False),
        ("a row failed", result(rows_failed=1), 0, False),
        ("a row was updated", result(rows_updated=1), 0, False),
        ("the run failed", result(status="failed"), 0, False),
        ("a dry run", result(), 0, True),
    ],
)
def test_no_mark_unless_the_warehouse_settled_every_row(fingerprints, why, res, closed, dry) -> None:
    target = Target()
    fingerprints.append("fp-1")
    steady(target).conclude(res, COUNTS, closed, dry_run=dry)
    assert target.inserts == [], why


def test_no_mark_when_the_model_was_rebuilt_while_the_run_read_it(fingerprints) -> None:
    target = Target()
    fingerprints.append("fp-2")
    steady(target).conclude(result(), COUNTS, 0, dry_run=False)
    assert target.inserts == []


def test_a_run_counted_from_the_mark_passes_it_on_without_reading_the_model_again(fingerprints) -> None:
    target = Target()
    s = steady(target)
    s.counts = COUNTS
    s.conclude(result(), COUNTS, 0, dry_run=False)  # no fingerprint left to read: a read would fail the test
    assert len(target.inserts) == 1
    rows = s.count_rows()
    assert [r[-4:] for r in rows] == [("count", "unchanged", True, 5), ("count", "invalid", False, 1)]
    assert {r[-8] for r in rows} == {"2"}  # each says how many count rows there are


def test_a_warehouse_that_cannot_compute_the_fingerprint_reads_the_rows(caplog) -> None:
    class NoHash(Target):
        def render(self, macro: str, **kwargs: Any) -> str:
            return "select hash(email) from contacts"

        def execute(self, sql: str, params: Any = None) -> list[tuple]:
            raise RuntimeError("Catalog Error: Scalar Function with name hash does not exist!")

    got = Steady.for_run(NoHash(), make_plan(), "r2", full_refresh=False, trusted=True)
    assert got is None  # no mark used or left; the run reads every row as it would without marks
    assert "no steady mark this run" in caplog.text and "hash does not exist" in caplog.text
