"""`create_log_tables`: creates the product's tables, and tables made by an earlier version gain the columns
added since (so an upgrade never breaks a sync on a missing column)."""

from __future__ import annotations

from dbt_hubspot_sync.dbt_bridge import open_session
from dbt_hubspot_sync.doors.runner import ensure_log_tables


def _columns(dbt_project, schema: str, table: str) -> set[str]:
    rows = dbt_project.query(
        "select column_name from information_schema.columns"
        f" where table_schema = '{schema}' and table_name = '{table}'"
    )
    return {r[0] for r in rows}


def test_tables_of_an_earlier_version_gain_the_new_columns(dbt_project) -> None:
    schema = f"{dbt_project.schema}_upgrade"
    dbt_project.execute(f"create schema if not exists {schema}")
    # The shape the first release created: no `runner`, no `gate_tests`, no `row_fingerprint`.
    dbt_project.execute(
        f"create table {schema}.hubspot_sync_runs (run_id varchar(100), exposure_name varchar(100),"
        " status varchar(100), finished_at timestamp)"
    )
    dbt_project.execute(
        f"create table {schema}.hubspot_sync_state (exposure_name varchar(100), email_clean varchar(100),"
        " record_id varchar(100), properties_hash varchar(100), run_id varchar(100), synced_at timestamp)"
    )
    dbt_project.execute(f"create table {schema}.hubspot_sync_pending (pending_id varchar(100))")
    with open_session(str(dbt_project.project_dir), str(dbt_project.project_dir)) as session:
        for _ in range(2):  # idempotent: the second call changes nothing and does not fail
            ensure_log_tables(session.warehouse, [schema])
    assert {"run_id", "status", "runner"} <= _columns(dbt_project, schema, "hubspot_sync_runs")
    assert {"pending_id", "gate_tests"} <= _columns(dbt_project, schema, "hubspot_sync_pending")
    assert "list_removed" in _columns(dbt_project, schema, "hubspot_sync_runs")  # list mirroring's counter
    assert "record_id" in _columns(dbt_project, schema, "hubspot_sync_list_members")  # created whole
    assert "properties_hash" in _columns(dbt_project, schema, "hubspot_sync_state")
    assert "row_fingerprint" in _columns(dbt_project, schema, "hubspot_sync_state")  # change detection's column
    assert {"record_key", "first_seen_at", "last_seen_at"} <= _columns(dbt_project, schema, "hubspot_sync_rejected")
