"""The three ways a sync runs with dbt: the DuckDB post-hook during a plain `dbt run`,
`dbt-hubspot-sync run -- run` and `dbt run` + `sync --pending` on PostgreSQL. Real dbt, real warehouses, sandbox."""

from __future__ import annotations

import logging

import pytest

from dbt_hubspot_sync.doors.cli import main

from .helpers import UPDATE, Example, assert_invariant, execute, first_names_restored, make_example


def hubspot_requests(sandbox) -> int:
    return sandbox.stats()["requests_total"]


def runs(example: Example) -> list[tuple]:
    return example.query(
        "select exposure_name, trigger, invocation_id, status, rows_read, rows_invalid + rows_duplicate"
        " + rows_unchanged + rows_updated + rows_not_found + rows_failed, rows_updated"
        " from {schema}.hubspot_sync_runs order by started_at"
    )


def break_model(example: Example) -> None:
    (example.project_dir / "models" / "hubspot_contacts.sql").write_text(
        "select no_such_column as \"Email\" from {{ ref('customer360') }}\n", encoding="utf-8"
    )


# -- DuckDB: the plugin pushes during a plain `dbt run` ----------------------------------------------------------
@pytest.fixture
def duck(tmp_path, monkeypatch) -> Example:
    return make_example("duckdb", tmp_path, monkeypatch)


def test_duckdb_plain_dbt_run_pushes_automatic_exposure(duck: Example, hubspot_env):
    result = duck.dbt_ok("run", "--threads", "4")
    invocation = result.result.args.get("invocation_id") if hasattr(result.result, "args") else None
    rows = runs(duck)
    assert [r[0] for r in rows] == ["hubspot_customers"]  # the manual exposure is not pushed by dbt run
    name, trigger, inv, status, read, outcomes, updated = rows[0]
    assert (trigger, status) == ("post_hook", "completed")
    assert inv and (invocation is None or inv == invocation)
    assert read == outcomes == 612 and updated > 0
    assert hubspot_env.stats()["contacts_updated"] == updated
    assert hubspot_env.stats()["contacts_created"] == 0
    assert_invariant(duck)


def test_duckdb_run_of_other_models_pushes_nothing(duck: Example, hubspot_env):
    # (The project is also named customer360: select the model by path.)
    result = duck.dbt_ok("run", "--select", "path:models/customer360.sql")
    # (The package's own hooks, on-run-start and on-run-end, are results too.)
    assert [r.node.name for r in result.result if r.node.resource_type == "model"] == ["customer360"]
    assert hubspot_requests(hubspot_env) == 0
    assert runs(duck) == []  # (the log tables exist: the package's on-run-start creates them)


def test_duckdb_failed_build_is_never_pushed(duck: Example, hubspot_env):
    break_model(duck)
    result = duck.dbt("run")
    assert not result.success
    assert hubspot_requests(hubspot_env) == 0


def test_duckdb_push_failure_warns_by_default_and_fails_when_asked(duck: Example, hubspot_env, monkeypatch):
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "not-the-sandbox-token")
    # warn (default): the model builds, downstream goes on. The token is refused by the property preflight,
    # before a run starts: nothing is sent and no run is logged (a config problem, as for the CLI's exit 2).
    duck.dbt_ok("run")
    assert hubspot_requests(hubspot_env) == 1  # the preflight's GET, answered 401
    assert duck.query("select count(*) from {schema}.hubspot_sync_runs") == [(0,)]
    # fail: the hook raises, the model errors.
    result = duck.dbt("run", "--vars", "{hubspot_sync: {on_push_error: fail}}")
    assert not result.success


def test_duckdb_dbt_run_of_a_model_unchanged_since_the_last_run_reads_no_row(duck: Example, hubspot_env, caplog):
    """The post-hook door uses the steady mark as `sync` does (engine/steady.py): the first push sends and leaves
    its forecast; the next `dbt run` of the unchanged model takes it, its statement reading the rows left out."""
    caplog.set_level(logging.INFO, logger="dbt_hubspot_sync.engine.steady")
    duck.dbt_ok("run")
    marks = duck.query("select run_id from {schema}.hubspot_sync_checks where kind = 'steady'")
    assert len(marks) == 1 and "unchanged since run" not in caplog.text
    updates = hubspot_env.stats()["contacts_updated"]
    duck.dbt_ok("run", "--select", "hubspot_contacts")
    assert f"unchanged since run {marks[0][0]}" in caplog.text
    *_, marked, steady = runs(duck)
    assert marked[6] > 0  # the marked run sent
    assert steady[3] == "completed" and steady[4:6] == marked[4:6] and steady[6] == 0  # every row accounted for
    assert hubspot_env.stats()["contacts_updated"] == updates
    assert_invariant(duck)


def test_duckdb_dbt_run_after_one_that_sent_takes_its_forecast_which_the_warehouse_confirms(
    duck: Example, hubspot_env, caplog
):
    """A post-hook run that sent leaves its forecast as the mark (engine/forecast.py); the next `dbt run` of the
    unchanged model takes it, and a run made to classify every row again (the marks deleted) counts the same."""
    caplog.set_level(logging.INFO, logger="dbt_hubspot_sync.engine.steady")
    duck.dbt_ok("run")  # the first push (no state yet)
    with first_names_restored(duck):
        execute(duck, "update {schema}.customers set first_name = 'Tin' where amperity_id = 'amp-00002'")
        duck.dbt_ok("run", "--select", "hubspot_contacts")
        [(sent, updated)] = duck.query(
            "select run_id, rows_updated from {schema}.hubspot_sync_runs order by started_at desc limit 1"
        )
        assert updated == 1
        [(marked,)] = duck.query(
            "select run_id from {schema}.hubspot_sync_checks where kind = 'steady' order by recorded_at desc limit 1"
        )
        assert marked == sent  # a run that sent leaves its forecast
        duck.dbt_ok("run", "--select", "hubspot_contacts")
        assert f"unchanged since run {sent}" in caplog.text
        execute(duck, "delete from {schema}.hubspot_sync_checks where kind = 'steady'")
        duck.dbt_ok("run", "--select", "hubspot_contacts")  # classifies every row in the warehouse
        *_, from_mark, classified = duck.query(
            "select status, rows_read, rows_invalid, rows_duplicate, rows_unchanged, rows_updated, rows_not_found,"
            " rows_failed from {schema}.hubspot_sync_runs order by started_at"
        )
        assert from_mark[0] == classified[0] == "completed"
        assert from_mark == classified and classified[5] == 0  # the same counts, outcome by outcome; none sent
    assert_invariant(duck)


# -- PostgreSQL: pending rows ------------------------------------------------------------------------------------
@pytest.fixture
def pg(tmp_path, monkeypatch) -> Example:
    return make_example("postgres", tmp_path, monkeypatch)


def pending(example: Example) -> int:
    return example.query("select count(*) from {schema}.hubspot_sync_pending")[0][0]


def test_postgres_run_command_pushes_as_models_finish(pg: Example, hubspot_env, capsys):
    code = main(["run", *pg.cli_args(), "--", "run", "--threads", "4"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, out
    # The push is reported as plain stage lines beside dbt's own output.
    assert "hubspot_customers: running (reading " in captured.err
    assert "hubspot_customers: completed in " in captured.err
    rows = runs(pg)
    assert [(r[0], r[1], r[3]) for r in rows] == [("hubspot_customers", "dbt_run", "completed")]
    assert rows[0][2]  # dbt's invocation id
    assert rows[0][4] == rows[0][5] == 612
    assert pending(pg) == 0
    assert hubspot_env.stats()["contacts_created"] == 0
    assert_invariant(pg)


def test_postgres_dbt_run_then_sync_pending_consumes_once(pg: Example, hubspot_env, capsys):
    pg.dbt_ok("run", "--threads", "4")
    assert pending(pg) == 1  # written inside the model's transaction, committed with it
    assert hubspot_requests(hubspot_env) == 0  # a plain dbt run on Postgres does not push

    assert main(["sync", "--pending", *pg.cli_args()]) == 0
    rows = runs(pg)
    assert [(r[1], r[3]) for r in rows] == [("cli", "completed")]
    assert rows[0][2]  # the invocation id of the dbt run that built the model
    assert pending(pg) == 0
    updates = sum(hubspot_env.stats()["requests"].get(UPDATE, {}).values())
    assert updates > 0 and rows[0][6] > 0

    assert main(["sync", "--pending", *pg.cli_args()]) == 0  # nothing left: nothing pushed again
    assert len(runs(pg)) == 1
    assert sum(hubspot_env.stats()["requests"].get(UPDATE, {}).values()) == updates
    assert_invariant(pg)
    capsys.readouterr()


def test_postgres_failed_build_leaves_no_pending_row(pg: Example, hubspot_env, capsys):
    pg.dbt_ok("run")
    assert main(["sync", "--pending", *pg.cli_args()]) == 0
    requests = hubspot_requests(hubspot_env)
    break_model(pg)
    assert not pg.dbt("run").success
    assert pending(pg) == 0
    assert main(["run", *pg.cli_args(), "--", "run"]) == 1  # dbt failed
    assert pending(pg) == 0
    assert hubspot_requests(hubspot_env) == requests
    capsys.readouterr()
