"""The log tables as a dbt source of the package (`source('dbt_hubspot_sync', ...)`), with tests: a first
`dbt build` passes before any sync ran (the package's on-run-start creates the tables empty), the tests pass
after a sync, and they catch a bad row. Real dbt on example_project, DuckDB and PostgreSQL."""

from __future__ import annotations

import pytest

from dbt_hubspot_sync.doors.cli import main

from .helpers import Example, assert_invariant, make_example

LOG_TABLES = [
    "hubspot_sync_runs",
    "hubspot_sync_record_log",
    "hubspot_sync_rejections",
    "hubspot_sync_state",
    "hubspot_sync_pending",
]


def source_tests(result) -> dict[str, str]:
    """name → status of the dbt_hubspot_sync source tests in a dbt result."""
    return {
        r.node.name: str(r.status)
        for r in result.result
        if r.node.resource_type == "test" and r.node.package_name == "dbt_hubspot_sync"
    }


@pytest.fixture(params=["duckdb", "postgres"])
def example(request: pytest.FixtureRequest, tmp_path, monkeypatch) -> Example:
    ex = make_example(request.param, tmp_path, monkeypatch)
    # Start from a warehouse without the log tables (make_example's seed already made them); the view over the
    # runs and rejections goes first (PostgreSQL refuses to drop a table a view depends on).
    _drop(ex, "hubspot_sync_rejected", kind="view")
    for table in LOG_TABLES:
        _drop(ex, table)
    return ex


def _drop(ex: Example, table: str, kind: str = "table") -> None:
    conn = ex.connect()
    try:
        conn.cursor().execute(f"drop {kind} if exists {ex.schema}.{table}")
        if ex.adapter == "postgres":
            conn.commit()
    finally:
        conn.close()


def test_first_build_passes_and_source_tests_guard_the_log(
    example: Example, hubspot_env, monkeypatch, capsys
):
    tables = "select count(*) from information_schema.tables where table_name = 'hubspot_sync_runs'"
    assert example.query(tables + " and table_schema = '{schema}'") == [(0,)]
    # A plain first build: models, the post-hook, and the package's source tests, before any sync ran.
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN")  # the post-hook's push is not what this is about
    first = example.dbt_ok("build")
    tests = source_tests(first)
    assert len(tests) >= 10 and set(tests.values()) == {"pass"}, tests
    assert any("accepted_values" in n and "status" in n for n in tests)

    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "sandbox-token")
    assert main(["sync", *example.cli_args()]) == 0
    capsys.readouterr()
    after = example.dbt_ok("build", "--select", "source:dbt_hubspot_sync")
    assert set(source_tests(after).values()) == {"pass"} and len(source_tests(after)) == len(tests)
    assert len(assert_invariant(example)) == 2  # the two exposures' runs (the build's post-hook had no token)

    # The tests can fail: a status outside the lifecycle is caught.
    conn = example.connect()
    try:
        conn.cursor().execute(
            f"insert into {example.schema}.hubspot_sync_runs (run_id, exposure_name, trigger, status, started_at)"
            " values ('bad-run', 'x', 'cli', 'exploded', current_timestamp)"
        )
        if example.adapter == "postgres":
            conn.commit()
    finally:
        conn.close()
    bad = example.dbt("test", "--select", "source:dbt_hubspot_sync.hubspot_sync_runs")
    assert not bad.success
    failed = {n for n, s in source_tests(bad).items() if s == "fail"}
    assert failed and all("status" in n for n in failed), failed
