"""`push: import` on Apache Spark through dbt-spark (Thrift), where the log tables are append-only: the example's
audience through HubSpot's imports API (the sandbox's) with every row's outcome checked against Python's own
reading of the model, the invariant and the record log on Spark's views, the import's steps in
hubspot_sync_imports, the record ids of the contacts it updated in the state, and a re-sync that sends nothing.

The failure this guards against: the import was sent, then an UPDATE of hubspot_sync_runs (Spark: "does not
support UPDATE TABLE") failed every row `warehouse_lost`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from dbt_hubspot_sync.doors.runner import SyncOptions, run_sync
from dbt_hubspot_sync.engine import imports as engine_imports
from dbt_hubspot_sync.sandbox import Sandbox
from dbt_hubspot_sync.sandbox.imports import imports_of

from .helpers import READ, UPDATE, SparkExample, assert_invariant, calls, client_factory, expected_outcomes

IMPORTS = "POST /crm/v3/imports"


def push_import(ex: SparkExample, sb: Sandbox) -> object:
    vars_yaml = ex.vars_yaml.replace("{hubspot_sync: {", "{hubspot_sync: {push: import, ", 1)
    options = SyncOptions(
        project_dir=str(ex.project_dir),
        profiles_dir=str(ex.project_dir),
        target="spark",
        vars_yaml=vars_yaml,
        select=["hubspot_customers"],
    )
    [result] = run_sync(options, client_factory=client_factory(sb))
    return result


def test_push_import_accounts_for_every_row_and_resync_sends_nothing(
    ex: SparkExample, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBSPOT_SYNC_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setattr(engine_imports, "POLL_FIRST_S", 0.05)
    monkeypatch.setattr(engine_imports, "POLL_MAX_S", 0.2)
    imports_of(sandbox).cfg.rows_per_second = 100_000
    result = push_import(ex, sandbox)
    assert result.status == "completed", result.error
    want = expected_outcomes(ex)
    [run] = assert_invariant(ex)
    assert run["rows_read"] == 612 and run["status"] == "completed"
    assert (run["rows_updated"], run["rows_not_found"], run["rows_failed"]) == (
        len(want.updated),
        len(want.not_found),
        0,
    )
    log = ex.query(
        "select email_raw, email_clean, outcome, reason_code from {log}.hubspot_sync_record_log"
        f" where run_id = '{result.run_id}'"
    )
    assert Counter(r[0] for r in log if r[2] == "invalid") == want.invalid_raw
    assert {r[1] for r in log if r[2] == "not_found"} == want.not_found
    assert {r[3] for r in log if r[2] == "not_found"} == {"OBJECT_NOT_FOUND"}
    # One update-only import, no batch update; the updated contacts' ids read once it landed (100 a request).
    assert calls(sandbox, IMPORTS) == 1 and calls(sandbox, UPDATE) == 0
    assert calls(sandbox, READ) == -(-len(want.updated) // 100)
    assert sandbox.stats()["contacts_created"] == 0
    [job] = imports_of(sandbox).jobs.values()
    assert job.state == "DONE" and job.operation == "UPDATE"
    phases = ex.query(
        f"select phase, import_id from {{log}}.hubspot_sync_imports where run_id = '{result.run_id}'"
    )
    assert sorted(p for p, _ in phases) == ["landed", "started", "starting"]
    assert {i for p, i in phases if p != "starting"} == {str(job.id)}
    by_email = {c["properties"]["email"].lower(): c["id"] for c in sandbox.contacts()}
    state = ex.query(
        "select email_clean, record_id from {log}.hubspot_sync_state where properties_hash <> 'not_found'"
    )
    assert {e.lower() for e, _ in state} == {e.lower() for e in want.updated}
    assert all(rid == by_email[e.lower()] for e, rid in state)

    again = push_import(ex, sandbox)  # nothing changed: nothing imported, nothing looked up
    assert again.status == "completed", again.error
    assert again.counters.rows_unchanged == result.counters.rows_updated and again.counters.rows_updated == 0
    assert calls(sandbox, IMPORTS) == 1 and calls(sandbox, UPDATE) == 0
    assert len(assert_invariant(ex)) == 2
