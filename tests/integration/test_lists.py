"""Static lists through the DuckDB post-hook (a plain `dbt run`): the updated contacts join a MANUAL list in
chunks of at most 100 record ids, the run row counts them; a DYNAMIC list is refused before anything is sent.
(The CLI path has the same checks in test_example_sync.py.)"""

from __future__ import annotations

from dbt_hubspot_sync.doors.cli import main

from .helpers import UPDATE, assert_invariant, create_list, make_example

MEMBERSHIPS = "PUT /crm/v3/lists/{listId}/memberships/add"


def test_post_hook_adds_updated_contacts_to_a_manual_list_in_chunks(
    tmp_path, monkeypatch, hubspot_env, capsys
):
    sandbox = hubspot_env
    duck = make_example("duckdb", tmp_path, monkeypatch)
    manual = create_list(sandbox, "MANUAL")
    duck.dbt_ok("run", "--vars", f"{{hubspot_sync: {{list_id: '{manual}'}}}}")
    [(status, updated, added, missing)] = duck.query(
        "select status, rows_updated, list_added, list_missing from {schema}.hubspot_sync_runs"
    )
    assert status == "completed" and updated > 100  # enough for more than one membership call
    assert (added, missing) == (updated, 0)
    updated_ids = {c["id"] for c in sandbox.contacts() if c["properties"].get("amperity_id")}
    assert set(sandbox.list_members(manual)) == updated_ids and len(updated_ids) == updated
    calls = [r for r in sandbox.requests_log() if f"{r['method']} {r['template']}" == MEMBERSHIPS]
    assert len(calls) == -(-updated // 100) and all(0 < r["inputs"] <= 100 for r in calls)
    assert sum(r["inputs"] for r in calls) == updated
    assert_invariant(duck)

    # `runs` shows the list counts once a list is synced.
    capsys.readouterr()  # dbt's own output
    assert main(["runs", *duck.cli_args()]) == 0
    header, _, row = capsys.readouterr().out.splitlines()[:3]
    # "started_at (UTC)" and the timestamp are both two words: the cells line up.
    counts = dict(zip(header.split(), row.split()))
    assert (counts["list_added"], counts["list_missing"]) == (str(updated), "0")


def test_post_hook_refuses_a_dynamic_list_before_sending(tmp_path, monkeypatch, hubspot_env):
    sandbox = hubspot_env
    duck = make_example("duckdb", tmp_path, monkeypatch)
    dynamic = create_list(sandbox, "DYNAMIC")
    # on_push_error: warn (default): the refusal is a warning and the DAG goes on.
    result = duck.dbt_ok("run", "--vars", f"{{hubspot_sync: {{list_id: '{dynamic}'}}}}")
    models = [r for r in result.result if r.node.resource_type == "model"]
    assert models and all(str(r.status) == "success" for r in models)
    assert UPDATE not in sandbox.stats()["requests"]
    assert sandbox.list_members(dynamic) == []
