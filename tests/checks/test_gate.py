"""The test gate's verdicts (gate.py): which dbt statuses let a push through, and what a gated-out run says."""

from __future__ import annotations

import pytest

from dbt_hubspot_sync.checks.gate import blocked_by, judge, skipped_reason, upstream_failures

NOT_NULL = "test.shop.not_null_contacts_email.1a2b3c"
UNIQUE = "test.shop.unique_contacts_email.4d5e6f"
REQUIRED = (NOT_NULL, UNIQUE)


@pytest.mark.parametrize(
    ("statuses", "gate", "ok"),
    [
        ({NOT_NULL: "pass", UNIQUE: "pass"}, "tests", True),
        ({NOT_NULL: "pass", UNIQUE: "warn"}, "tests", True),
        ({NOT_NULL: "pass", UNIQUE: "warn"}, "strict", False),
        ({NOT_NULL: "pass", UNIQUE: "fail"}, "tests", False),
        ({NOT_NULL: "error", UNIQUE: "pass"}, "tests", False),
        ({NOT_NULL: "skipped", UNIQUE: "pass"}, "tests", False),
        ({NOT_NULL: "fail", UNIQUE: "fail"}, "none", True),
    ],
)
def test_verdict_by_status_and_gate(statuses: dict[str, str], gate: str, ok: bool) -> None:
    verdict = judge(REQUIRED, statuses, gate)
    assert verdict is not None and verdict.ok is ok
    assert (verdict.reason is None) is ok


def test_the_reason_starts_with_tests_failed_and_names_each_blocking_test() -> None:
    verdict = judge(REQUIRED, {NOT_NULL: "fail", UNIQUE: "warn"}, "strict")
    assert verdict is not None
    assert verdict.reason == "tests_failed: not_null_contacts_email (fail), unique_contacts_email (warn)"


def test_nothing_to_wait_for_passes() -> None:
    assert judge((), {}, "strict") == judge((), {}, "tests")
    assert judge((), {}, "tests").ok  # type: ignore[union-attr]


def test_unfinished_tests_wait_until_final_where_they_count_as_not_run() -> None:
    assert judge(REQUIRED, {NOT_NULL: "pass"}, "tests", final=False) is None
    verdict = judge(REQUIRED, {NOT_NULL: "pass"}, "tests", final=True)
    assert verdict is not None and not verdict.ok
    assert verdict.reason == "tests_failed: unique_contacts_email (not run)"


def test_a_skip_is_explained_by_the_failed_tests_upstream_only() -> None:
    parents = {"model.shop.contacts": ("model.shop.customers",), "model.shop.customers": ("seed.shop.raw",)}
    tests = {
        "test.shop.not_null_customers_id.1": ("model.shop.customers",),
        "test.shop.unique_orders_id.2": ("model.shop.orders",),  # another branch of the DAG
        "test.shop.accepted_values_raw_kind.3": ("seed.shop.raw",),
    }
    statuses = {t: "fail" for t in tests} | {"test.shop.accepted_values_raw_kind.3": "pass"}
    failed = upstream_failures("model.shop.contacts", parents, tests, statuses)
    assert failed == [("test.shop.not_null_customers_id.1", "fail")]
    assert (
        skipped_reason([t for t, _ in failed], statuses, "contacts")
        == "tests_failed: not_null_customers_id (fail); dbt skipped model contacts"
    )
    assert blocked_by([("test.shop.singular_check", "error")]) == "tests_failed: singular_check (error)"


def test_a_failed_unit_test_of_the_model_explains_its_skip() -> None:
    unit = "unit_test.shop.contacts.test_email_cleanup"
    failed = upstream_failures("model.shop.contacts", {}, {unit: ("model.shop.contacts",)}, {unit: "fail"})
    assert blocked_by(failed) == "tests_failed: contacts.test_email_cleanup (fail)"


def test_sync_pending_without_the_builds_results_refuses_to_push() -> None:
    from types import SimpleNamespace

    from dbt_hubspot_sync.checks.gate import gate_verdict
    from dbt_hubspot_sync.tables.pending import Pending

    plan = SimpleNamespace(config=SimpleNamespace(gate="tests"))
    build = Pending("p1", "hubspot_customers", "model.shop.contacts", "inv-1", REQUIRED)
    # run_results.json holds another invocation's results: the build's tests are unknown, nothing is pushed.
    verdict = gate_verdict(plan, build, lambda inv: None)  # type: ignore[arg-type]
    assert not verdict.ok and verdict.reason is not None and verdict.reason.startswith("tests_unknown: ")
    assert "inv-1" in verdict.reason
    ok = gate_verdict(plan, build, lambda inv: {NOT_NULL: "pass", UNIQUE: "warn"})  # type: ignore[arg-type]
    assert ok.ok
    # What the package's on-run-end kept on the pending row decides when run_results.json is gone.
    kept = Pending("p1", "hubspot_customers", "model.shop.contacts", "inv-1", REQUIRED, {NOT_NULL: "fail"})
    verdict = gate_verdict(plan, kept, lambda inv: None)  # type: ignore[arg-type]
    assert verdict.reason == "tests_failed: not_null_contacts_email (fail), unique_contacts_email (not run)"
    # A build that ran no tests (dbt run) has nothing to wait for.
    assert gate_verdict(plan, Pending("p2", "x", "m", "inv-2"), None).ok  # type: ignore[arg-type]
