"""When a run leaves a steady mark (engine/steady.py) and when the next takes it, isolated from the warehouse: a
run that completed with nothing failed and foresaw the next run's counts (engine/forecast.py), over a model that
did not change while it read it; taken only while the model, the exposure's latest run and its state and
rejection tables are what the mark says. (End to end: tests/integration/test_steady_mark.py; the fingerprint
itself: tests/macros/test_model_fingerprint_macro.py; the forecast: tests/engine/test_forecast.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dbt_hubspot_sync.engine import steady as steady_module
from dbt_hubspot_sync.engine.outcomes import Counters, RunResult
from dbt_hubspot_sync.engine.steady import Steady

from ..helpers import make_plan

COUNTS = [("unchanged", True, 5), ("invalid", False, 1)]


TABLES = [(7, "2026-12-06 01:00:00"), (2, "2026-12-06 01:00:01")]  # state, rejection events: count, latest
DIGEST = "7@2026-12-06 01:00:00|2@2026-12-06 01:00:01"


class Target:
    """The log tables as the mark reads them: the latest mark, the tables' and the runs' digest."""

    placeholder = "?"

    def __init__(self, mark: dict[str, Any] | None = None, runs: int = 4) -> None:
        self.inserts: list[list[Any]] = []
        self.mark, self.runs, self.tables = mark, runs, list(TABLES)

    def relation(self, schema: str, identifier: str) -> str:
        return f"{schema}.{identifier}"

    def render(self, macro: str, **kwargs: Any) -> str:
        assert macro == "_model_fingerprint"
        return "select fingerprint"

    def execute(self, sql: str, params: Any = None) -> list[tuple]:
        if sql.startswith("insert into main.hubspot_sync_checks"):
            self.inserts.append(list(params))
            return []
        if sql == "select fingerprint":
            return [(6, 11, 12, "types")]
        if sql.startswith("select 0 as part"):  # log_digest (rows in any order)
            return [(2, self.runs, "2026-12-06 01:00:02"), *((i, n, at) for i, (n, at) in enumerate(self.tables))]
        assert "from main.hubspot_sync_checks" in sql, sql
        return [("r1", json.dumps(self.mark))] if self.mark else []


def result(status: str = "completed", shipped: int | None = 0, **counters: int) -> RunResult:
    c = Counters(rows_read=6, rows_unchanged=5, rows_invalid=1)
    for k, v in counters.items():
        setattr(c, k, v)
    return RunResult("r2", "hs", status, c, rows_shipped=shipped)


@pytest.fixture(autouse=True)
def unverified(monkeypatch) -> None:
    """No check of marks against the warehouse's classification here: the fake has none (tests/conftest.py)."""
    monkeypatch.delenv(steady_module.VERIFY_ENV, raising=False)


@pytest.fixture
def fingerprints(monkeypatch) -> list[str]:
    """What the model's fingerprint reads as, call after call."""
    seq: list[str] = []
    monkeypatch.setattr(steady_module, "model_fingerprint", lambda target, plan: seq.pop(0))
    return seq


def steady(target: Target) -> Steady:
    plan = make_plan()
    return Steady(target, plan, "r2", "fp-1")


def test_a_run_leaves_the_counts_it_foresaw_its_fingerprint_and_its_tables(fingerprints) -> None:
    target = Target()
    fingerprints.append("fp-1")
    steady(target).conclude(result(shipped=3, rows_updated=3), COUNTS, dry_run=False)
    [[exposure, kind, _until, run_id, _at, detail]] = target.inserts
    assert (exposure, kind, run_id) == ("hs", "steady", "r2")
    assert json.loads(detail) == {
        "fingerprint": "fp-1",
        "counts": [list(c) for c in COUNTS],
        "tables": DIGEST,
        "runs": 4,  # this run's own row included
    }


@pytest.mark.parametrize(
    ("why", "res", "counts", "dry"),
    [
        ("the next counts were not foreseen", result(shipped=1), None, False),
        ("a row failed", result(rows_failed=1), COUNTS, False),
        ("the run failed", result(status="failed"), COUNTS, False),
        ("a dry run", result(), COUNTS, True),
    ],
)
def test_no_mark_unless_the_run_completed_and_foresaw_the_next(fingerprints, why, res, counts, dry) -> None:
    target = Target()
    fingerprints.append("fp-1")
    steady(target).conclude(res, counts, dry_run=dry)
    assert target.inserts == [], why


def test_no_mark_when_the_model_was_rebuilt_while_the_run_read_it(fingerprints) -> None:
    target = Target()
    fingerprints.append("fp-2")
    steady(target).conclude(result(), COUNTS, dry_run=False)
    assert target.inserts == []


def test_a_run_counted_from_the_mark_passes_it_on_without_reading_the_model_again(fingerprints) -> None:
    target = Target()
    s = steady(target)
    s.counts = COUNTS
    s.conclude(result(), COUNTS, dry_run=False)  # no fingerprint left to read: a read would fail the test
    assert len(target.inserts) == 1
    rows = s.count_rows()
    assert [r[-4:] for r in rows] == [("count", "unchanged", True, 5), ("count", "invalid", False, 1)]
    assert {r[-8] for r in rows} == {"2"}  # each says how many count rows there are


def _mark(target: Target, **change: Any) -> dict[str, Any]:
    """The mark the exposure's previous run left (3 runs then), with `change` made to it."""
    fingerprint = steady_module.model_fingerprint(target, make_plan())
    mark = {"fingerprint": fingerprint, "counts": [list(c) for c in COUNTS], "tables": DIGEST, "runs": 3}
    return {**mark, **change}


@pytest.mark.parametrize(
    ("why", "change", "runs", "tables"),
    [
        ("the same model, run and tables", {}, 4, TABLES),
        ("the model changed", {"fingerprint": "other"}, 4, TABLES),
        ("a run came in between", {}, 5, TABLES),
        ("the state was edited by hand", {}, 4, [(6, "2026-12-06 01:00:00"), TABLES[1]]),
        ("a rejection was written since", {}, 4, [TABLES[0], (3, "2026-12-06 02:00:00")]),
        ("a mark of an earlier release", {"tables": None, "runs": None}, 4, TABLES),
    ],
)
def test_a_mark_is_taken_only_while_model_runs_and_tables_are_the_marks(why, change, runs, tables) -> None:
    target = Target(runs=runs)
    target.mark = _mark(target, **change)
    target.tables = tables
    got = Steady.for_run(target, make_plan(), "r2", full_refresh=False, trusted=True)
    assert got is not None
    assert (got.counts == COUNTS) is (why == "the same model, run and tables"), why


def test_no_mark_for_a_full_refresh_and_none_taken_by_a_run_that_looks_misses_up() -> None:
    target = Target()
    target.mark = _mark(target)
    assert Steady.for_run(target, make_plan(), "r2", full_refresh=True, trusted=True) is None
    rechecking = Steady.for_run(target, make_plan(), "r2", full_refresh=False, trusted=False)
    assert rechecking is not None and rechecking.counts is None  # it reads the rows; it may leave a mark


def test_a_warehouse_that_cannot_compute_the_fingerprint_reads_the_rows(caplog) -> None:
    class NoHash(Target):
        def render(self, macro: str, **kwargs: Any) -> str:
            return "select hash(email) from contacts"

        def execute(self, sql: str, params: Any = None) -> list[tuple]:
            raise RuntimeError("Catalog Error: Scalar Function with name hash does not exist!")

    got = Steady.for_run(NoHash(), make_plan(), "r2", full_refresh=False, trusted=True)
    assert got is None  # no mark used or left; the run reads every row as it would without marks
    assert "no steady mark this run" in caplog.text and "hash does not exist" in caplog.text
