"""Apache Spark through dbt-spark (Thrift): the example project end to end, with the log tables append-only.

A sync with every row's outcome checked against Python's own reading of the model, the invariant and the record
log; a re-sync that sends nothing for unchanged rows; the log tables' dbt source tests; the post-hook under
`run -- run` and under `dbt run` + `sync --pending` (each build pushed once, racing claims owning a build once);
HubSpot faults mid-run, a killed run marked failed and the convergence after them; the canary refusing the
standard-SQL cleanup Spark reads wrong.
"""

from __future__ import annotations

import logging
import shutil
import socket
from collections import Counter
from datetime import datetime

from dbt_hubspot_sync.dbt_bridge import open_session
from dbt_hubspot_sync.doors.cli import main
from dbt_hubspot_sync.sandbox.faults import FaultInjector
from dbt_hubspot_sync.tables.pending import PendingQueue

from .helpers import (
    EXPOSURE,
    UPDATE,
    SparkExample,
    assert_invariant,
    calls,
    expected_outcomes,
    pending,
    runs,
    sync,
)


def contact_values(sb) -> dict[str, dict[str, str]]:
    bookkeeping = {"lastmodifieddate", "createdate"}
    return {
        c["id"]: {k: v for k, v in c["properties"].items() if k not in bookkeeping} for c in sb.contacts()
    }


def test_sync_accounts_for_every_row_and_resync_sends_nothing(ex: SparkExample, sandbox, caplog) -> None:
    result = sync(ex, sandbox)
    assert result.status == "completed", result
    want = expected_outcomes(ex)
    [run] = assert_invariant(ex)
    assert run["rows_read"] == 612 and run["status"] == "completed" and run["trigger"] == "cli"
    log = ex.query(
        "select email_raw, email_clean, outcome, reason_code from {log}.hubspot_sync_record_log"
        f" where run_id = '{result.run_id}'"
    )
    # Every row's outcome: the raw values of invalid rows come back exactly (quotes, backslashes, Unicode).
    assert Counter(r[0] for r in log if r[2] == "invalid") == want.invalid_raw
    assert Counter(r[1] for r in log if r[2] == "duplicate") == want.duplicate_clean
    assert {r[1] for r in log if r[2] == "not_found"} == want.not_found
    assert run["rows_updated"] == len(want.updated) and run["rows_not_found"] == len(want.not_found)
    assert sandbox.stats()["contacts_created"] == 0
    by_email = {c["properties"]["email"].lower(): c["properties"] for c in sandbox.contacts()}
    for email in want.updated:
        if email in want.amperity_ids:
            assert by_email[email.lower()]["amperity_id"] == want.amperity_ids[email], email
    updates = calls(sandbox, UPDATE)

    # Re-sync: nothing changed, nothing sent; the unchanged rows are counted as such, from the first sync's
    # forecast (engine/forecast.py; the suite has it checked against the warehouse: tests/conftest.py).
    caplog.set_level(logging.INFO, logger="dbt_hubspot_sync.engine.steady")
    again = sync(ex, sandbox)
    assert f"unchanged since run {result.run_id}" in caplog.text
    assert again.status == "completed" and again.rows_shipped == 0
    assert again.counters.rows_unchanged == result.counters.rows_updated and again.counters.rows_updated == 0
    assert calls(sandbox, UPDATE) == updates
    assert len(assert_invariant(ex)) == 2

    # Each run left its mark (engine/steady.py): the next run of the unchanged model takes the latest's counts.
    marks = ex.query("select run_id from {log}.hubspot_sync_checks where kind = 'steady' order by recorded_at")
    assert [m[0] for m in marks] == [result.run_id, again.run_id]
    third = sync(ex, sandbox)
    assert f"unchanged since run {again.run_id}" in caplog.text
    assert third.status == "completed" and third.rows_shipped == 0
    assert vars(third.counters) | {"requests": 0} == vars(again.counters) | {"requests": 0}
    assert len(assert_invariant(ex)) == 3

    # The log tables' dbt source tests pass on Spark (the views keep the documented columns).
    res = ex.dbt_ok("test", "--select", "source:dbt_hubspot_sync")
    tests = [r for r in res.result if str(r.node.resource_type) == "test"]
    assert len(tests) > 10 and all(str(r.status) == "pass" for r in tests), [
        (r.node.name, r.status) for r in tests
    ]


def test_run_command_pushes_once_as_the_model_finishes(ex: SparkExample, sandbox, capsys) -> None:
    code = main(["run", *ex.cli_args(with_vars=False), "--", "run", "--vars", ex.vars_yaml])
    assert code == 0, capsys.readouterr()
    [run] = assert_invariant(ex)
    assert (run["exposure_name"], run["trigger"], run["status"]) == (EXPOSURE, "dbt_run", "completed")
    assert run["invocation_id"] and run["rows_read"] == 612 and run["rows_updated"] > 0
    assert pending(ex) == 0
    assert sandbox.stats()["contacts_created"] == 0
    capsys.readouterr()


def test_dbt_run_then_sync_pending_pushes_once(ex: SparkExample, sandbox, monkeypatch, capsys) -> None:
    with monkeypatch.context() as m:
        m.delenv("HUBSPOT_ACCESS_TOKEN")
        ex.dbt_ok("run", "--select", "hubspot_contacts")
    assert pending(ex) == 1 and sandbox.stats()["requests_total"] == 0  # recorded, not pushed
    assert main(["sync", "--pending", *ex.cli_args()]) == 0
    [run] = assert_invariant(ex)
    assert (run["trigger"], run["status"]) == ("cli", "completed") and run["invocation_id"]
    assert pending(ex) == 0
    updates = calls(sandbox, UPDATE)
    assert updates > 0 and run["rows_updated"] > 0
    assert main(["sync", "--pending", *ex.cli_args()]) == 0  # nothing left: nothing pushed again
    assert len(runs(ex)) == 1 and calls(sandbox, UPDATE) == updates
    capsys.readouterr()

    # Two pushers claiming one build at once (append-only: the bakery over hubspot_sync_pending_events).
    ex.query(
        "insert into {log}.hubspot_sync_pending_builds (pending_id, exposure_name, model_unique_id, relation,"
        f" invocation_id, created_at, gate_tests) values ('inv:{EXPOSURE}', '{EXPOSURE}', 'model.m', 'r', 'inv',"
        " current_timestamp(), '[]')"
    )
    with open_session(ex.project_dir, ex.project_dir, "spark", ex.vars_yaml) as session:
        queues = [PendingQueue(session.warehouse, ex.log_schema or "") for _ in range(2)]
        items = queues[0].waiting()
        assert [i.pending_id for i in items] == [f"inv:{EXPOSURE}"]
        assert len(queues[0].claim(items) + queues[1].claim(items)) == 1
        assert queues[0].waiting() == [] and pending(ex) == 1  # claimed, not done: still pending
        # Rows stream in chunks on a cursor of their own; the connection stays open for the run's own writes.
        wh = session.warehouse
        chunks = [len(rows) for _names, rows in wh.stream("select id from range(25000)", 10_000)]
        assert chunks == [10_000, 10_000, 5_000]
        at = datetime(2026, 1, 2, 3, 4, 5, 123456)
        values = ["it's \\ $1 ?", None, 7, at]  # parameters bound as Spark literals: quotes, NULL, timestamps
        assert wh.execute("select ? as a, ? as b, ? as c, ? as d", values) == [tuple(values)]


def test_hubspot_faults_mid_run_lose_nothing_and_the_next_run_converges(ex: SparkExample, sandbox) -> None:
    sandbox.app.faults = FaultInjector("503:0.3,reset:0.1,423:0.1", 3)
    first = sync(ex, sandbox)
    assert first.status in ("completed", "completed_with_errors", "failed")
    assert_invariant(ex)
    # Meanwhile a run was killed (its process is gone from this host): the next run marks it failed.
    dead = f"{socket.gethostname()}:999999"
    ex.query(
        "insert into {log}.hubspot_sync_run_events (run_id, exposure_name, relation, trigger, status, started_at,"
        " rows_read, rows_invalid, rows_duplicate, rows_unchanged, rows_updated, rows_not_found, rows_failed,"
        f" runner, event_at) values ('killed-run', '{EXPOSURE}', 'r', 'cli', 'running', current_timestamp(),"
        f" 0, 0, 0, 0, 0, 0, 0, '{dead}', current_timestamp())"
    )
    sandbox.app.faults = FaultInjector("", 0)
    again = sync(ex, sandbox)
    assert again.status == "completed" and again.counters.rows_failed == 0, again
    [killed] = [r for r in assert_invariant(ex) if r["run_id"] == "killed-run"]
    assert killed["status"] == "failed" and killed["error"].startswith("stale"), killed
    want = expected_outcomes(ex)
    assert first.counters.rows_updated + again.counters.rows_updated >= len(want.updated)
    by_email = {c["properties"]["email"].lower(): c["properties"] for c in sandbox.contacts()}
    for email, amperity in want.amperity_ids.items():
        if email in want.updated:
            assert by_email[email.lower()]["amperity_id"] == amperity, email
    assert sandbox.stats()["contacts_created"] == 0


def test_the_canary_refuses_a_clean_email_that_spark_reads_wrong(ex: SparkExample, sandbox, tmp_path, capsys):
    """Spark reading the standard-SQL cleanup (the product before its Spark variant) stops the run, exit 2."""
    project = tmp_path / "project"
    shutil.copytree(ex.project_dir, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "macros").mkdir(exist_ok=True)
    (project / "macros" / "standard_clean_email.sql").write_text(
        # The standard-SQL cleanup and literals (DuckDB's and PostgreSQL's), as Spark got them before its variant.
        "{% macro spark__clean_email(expr) %}"
        "{{ return(dbt_hubspot_sync._clean_email_sql(expr, '\\\\')) }}{% endmacro %}\n"
        "{% macro spark___sql_string(value) %}"
        "{{ return(dbt_hubspot_sync.default___sql_string(value)) }}{% endmacro %}\n",
        encoding="utf-8",
    )
    with open(project / "dbt_project.yml", "a", encoding="utf-8") as f:
        f.write(
            "\ndispatch:\n  - macro_namespace: dbt_hubspot_sync\n"
            "    search_order: [customer360, dbt_hubspot_sync]\n"
        )
    wrong = SparkExample(project, ex.schema, ex.log_schema)
    assert main(["sync", "--select", EXPOSURE, *wrong.cli_args()]) == 2
    err = capsys.readouterr().err
    assert "adapter 'spark'" in err, err
    # (A plain address only needs lower(): the first input it rewrites wrongly is one the regexes clean.)
    assert "clean_email('  jane@example.com \\t\\n') gave '1234567', expected 'jane@example.com'" in err, err
    assert "Nothing was read or sent" in err
    assert sandbox.stats()["requests_total"] == 0
    assert main(["check", *wrong.cli_args()]) >= 1  # check reports it too (its HubSpot probes send no data)
    out = capsys.readouterr().out
    assert "cleanup" in out and "1234567" in out, out


def test_tables_of_an_earlier_release_gain_the_columns_added_since(ex: SparkExample) -> None:
    """Spark has no `add column if not exists`: a column added after a table shipped is added where the catalog
    shows it missing, before the views that read it are replaced; twice is a no-op."""
    from dbt_hubspot_sync.doors.runner import ensure_log_tables
    from dbt_hubspot_sync.tables.run_log import RUN_COLUMNS

    def sql_type(column: str) -> str:
        if column.endswith("_at"):
            return "timestamp"
        counters = ("rows_", "list_", "requests", "retries", "rate_limited")
        return "bigint" if column.startswith(counters) else "string"

    later = ("import_ids", "list_removed")
    old = [c for c in RUN_COLUMNS if c not in later]
    ex.query("create schema if not exists {log}")
    ex.query(
        "create table {log}.hubspot_sync_run_events ("
        + ", ".join(f"{c} {sql_type(c)}" for c in [*old, "event_at"])
        + ")"
    )
    with open_session(ex.project_dir, ex.project_dir, "spark", ex.vars_yaml) as session:
        for _ in range(2):
            ensure_log_tables(session.warehouse, [ex.log_schema or ""])
    columns = {r[0] for r in ex.query("describe {log}.hubspot_sync_run_events")}
    assert set(later) <= columns
    assert set(later) <= {r[0] for r in ex.query("describe {log}.hubspot_sync_runs")}
