"""The test gate: under `dbt build`, an exposure's model reaches HubSpot only after its tests passed.

The post-hook records, with the pending sync, which tests of the same dbt invocation are attached to the
exposure's nodes (those dbt selected: none under `dbt run`). A pusher judges them from the statuses dbt reported:
dbtRunner's events (`dbt-hubspot-sync run`), `run_results.json` (`sync --pending`) or on-run-end's `results`
(the DuckDB plugin). A gated-out sync gets a `failed` runs row whose error starts with `tests_failed`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from dbt_hubspot_sync.config.plan import SyncPlan
from dbt_hubspot_sync.config.sync_config import NotifyConfig
from dbt_hubspot_sync.engine import RunResult
from dbt_hubspot_sync.engine.ending import announce_end
from dbt_hubspot_sync.tables.pending import Pending
from dbt_hubspot_sync.tables.run_log import Counters, RunLog, RunRow, SqlTarget, utcnow

# dbt's statuses of a finished test that let a push through, per `gate`.
PASSING = {"tests": frozenset({"pass", "warn"}), "strict": frozenset({"pass"})}


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str | None = None  # why not: `tests_failed: name (status), ...` or `tests_unknown: ...`


def short_name(unique_id: str) -> str:
    """`test.<package>.<name>.<hash>` → `<name>` (what dbt prints for the test);
    `unit_test.<package>.<model>.<name>` → `<model>.<name>`."""
    parts = unique_id.split(".")
    if parts[0] == "unit_test" and len(parts) >= 4:
        return ".".join(parts[2:])
    return parts[2] if parts[0] == "test" and len(parts) >= 3 else unique_id


def blocked_by(bad: Iterable[tuple[str, str]]) -> str:
    return "tests_failed: " + ", ".join(f"{short_name(t)} ({status})" for t, status in bad)


def skipped_reason(failed: Sequence[str], statuses: Mapping[str, str], model_name: str) -> str:
    return f"{blocked_by((t, statuses.get(t, 'fail')) for t in failed)}; dbt skipped model {model_name}"


def judge(
    required: Sequence[str], statuses: Mapping[str, str], gate: str, *, final: bool = True
) -> Verdict | None:
    """May the push go? None while a required test has not finished (unless `final`: then it counts as not run)."""
    if gate == "none" or not required:
        return Verdict(True)
    if not final and any(t not in statuses for t in required):
        return None
    bad = [(t, statuses.get(t, "not run")) for t in required if statuses.get(t) not in PASSING[gate]]
    return Verdict(True) if not bad else Verdict(False, blocked_by(bad))


def upstream_failures(
    node: str,
    parents: Mapping[str, Sequence[str]],
    tests: Mapping[str, Sequence[str]],
    statuses: Mapping[str, str],
) -> list[tuple[str, str]]:
    """The failed tests attached to `node` or its ancestors: why dbt build skipped `node`."""
    seen, frontier = {node}, [node]
    while frontier:
        frontier = [p for n in frontier for p in parents.get(n, ()) if p not in seen]
        seen.update(frontier)
    return sorted(
        (t, statuses[t])
        for t, attached in tests.items()
        if statuses.get(t) in ("fail", "error") and seen.intersection(attached)
    )


def record_gated_out(
    target: SqlTarget,
    schema: str,
    exposure: str,
    relation: str,
    *,
    trigger: str,
    invocation_id: str | None,
    reason: str,
    notify: NotifyConfig | None = None,
) -> RunResult:
    """The runs row of a push the gate stopped: failed, nothing read (the invariant holds at 0); the exposure's
    webhook hears of it like of any failed run."""
    now = utcnow()
    row = RunRow(
        str(uuid.uuid4()), invocation_id, exposure, relation, trigger, "failed", now, now, error=reason
    )
    RunLog(target, schema).insert_run(row)  # born ended: failed, nothing read
    announce_end(row, "failed", Counters(), reason, notify)
    return RunResult(row.run_id, exposure, "failed", Counters(), reason)


TestStatuses = Callable[[str | None], Mapping[str, str] | None]


def gate_verdict(plan: SyncPlan, pending: Pending, test_statuses: TestStatuses | None) -> Verdict:
    """The gate on one build: its tests' statuses come from `test_statuses(invocation_id)` (None: unknown), else
    from what the package's on-run-end kept on the pending row."""
    if plan.config.gate == "none" or not pending.gate_tests:
        return Verdict(True)
    statuses = test_statuses(pending.invocation_id) if test_statuses else None
    if statuses is None:
        statuses = pending.gate_results
    if statuses is None:
        return Verdict(
            False,
            f"tests_unknown: the test results of dbt invocation {pending.invocation_id} are gone (dbt's"
            " run_results.json holds a later command's and its on-run-end did not run); rebuild the model",
        )
    verdict = judge(pending.gate_tests, statuses, plan.config.gate)
    return verdict if verdict is not None else Verdict(False, "tests_unknown: the gate could not decide")
