"""The main job, end to end: example project built by real dbt, `dbt-hubspot-sync sync` against the sandbox,
on DuckDB and on a real PostgreSQL server. Asserts on HubSpot's state (the sandbox) and on the warehouse log."""

from __future__ import annotations

import unicodedata
from collections import Counter
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from dbt_hubspot_sync.cli import main

from .conftest import Example, create_list, make_example

SYNCED = ["amperity_id", "firstname", "lastname", "lifetime_value", "is_vip", "last_order_date"]


def expected_value(value: object) -> str | None:
    """What HubSpot should hold for a model value (written out independently of the product's converter)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, date):
        return str(int(datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp() * 1000))
    return str(value)


@pytest.fixture(params=["duckdb", "postgres"])
def example(request: pytest.FixtureRequest, tmp_path, monkeypatch) -> Example:
    ex = make_example(request.param, tmp_path, monkeypatch)
    ex.dbt_ok("run")
    return ex


def test_sync_updates_only_existing_contacts_and_logs_every_other_row(example: Example, hubspot_env, capsys):
    sandbox = hubspot_env
    before = {c["id"]: c for c in sandbox.contacts()}

    code = main(["sync", "--select", "hubspot_customers", *example.cli_args()])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "hubspot_customers" in out and "completed" in out

    stats = sandbox.stats()
    assert stats["contacts_created"] == 0
    assert not any("upsert" in k or "create" in k for k in stats["requests"])
    after = {c["id"]: c for c in sandbox.contacts()}
    assert after.keys() == before.keys()  # nothing created, nothing deleted

    model = {
        row[0]: row
        for row in example.query(
            'select "Amperity ID", "Email", "firstname", "lastname", "Lifetime Value", "Is VIP", "Last Order Date"'
            " from {schema}.hubspot_contacts"
        )
    }
    runs = example.query(
        "select run_id, status, trigger, rows_read, rows_invalid, rows_duplicate, rows_unchanged, rows_updated,"
        " rows_not_found, rows_failed, requests from {schema}.hubspot_sync_runs"
        " where exposure_name = 'hubspot_customers'"
    )
    assert len(runs) == 1
    run_id, status, trigger, read, invalid, dup, unchanged, updated, not_found, failed, requests = runs[0]
    assert (status, trigger) == ("completed", "cli")
    assert read == len(model) == invalid + dup + unchanged + updated + not_found + failed
    assert failed == 0 and invalid > 0 and dup > 0 and not_found > 0

    # Every contact that changed holds the model's values, normalised as HubSpot stores them.
    changed = [c for cid, c in after.items() if c["properties"] != before[cid]["properties"]]
    assert len(changed) == updated
    for contact in changed:
        props = contact["properties"]
        row = model[props["amperity_id"]]
        email_raw = row[1]
        # The contact matched by (cleaned) email; NFKC folds the full-width @ and odd spaces of the raw value.
        assert props["email"].lower() in unicodedata.normalize("NFKC", email_raw).lower()
        for name, value in zip(SYNCED, [row[0], *row[2:]]):
            want = expected_value(value)
            if want is not None:
                assert props.get(name) == want, (name, value, props)

    # Every other row: exactly one record-log row, with the right outcome.
    log = example.query(
        f"select email_raw, outcome, reason_code from {{schema}}.hubspot_sync_record_log where run_id = '{run_id}'"
    )
    outcomes = Counter(o for _, o, _ in log)
    assert outcomes == Counter({"invalid": invalid, "duplicate": dup, "not_found": not_found})
    assert {r for _, o, r in log if o == "not_found"} == {"OBJECT_NOT_FOUND"}
    assert {r for _, o, r in log if o == "duplicate"} == {"DUPLICATE_EMAIL"}
    assert {r for _, o, r in log if o == "invalid"} <= {
        "NULL_EMAIL",
        "INVALID_SYNTAX",
        "QUOTED_LOCAL_PART",
        "UNKNOWN_TLD",
    }
    updated_ids = {c["properties"]["amperity_id"] for c in changed}
    logged_raw = Counter(raw for raw, _, _ in log)
    all_raw = Counter(row[1] for aid, row in model.items() if aid not in updated_ids)
    # Same multiset of raw emails: no row is both updated and logged, none is lost. (NULL raw stays NULL.)
    assert logged_raw == all_raw

    # Requests: ceil(candidates/100) reads + ceil(updated/100) updates, nothing else.
    assert requests <= -(-(updated + not_found) // 100) + -(-updated // 100) + 2


def test_dry_run_writes_nothing_and_a_second_sync_converges(example: Example, hubspot_env, capsys):
    sandbox = hubspot_env
    args = ["sync", "--select", "hubspot_customers", *example.cli_args()]
    before = _contact_values(sandbox)

    assert main([*args, "--dry-run"]) == 0
    assert sandbox.stats()["contacts_updated"] == 0
    assert _update_calls(sandbox) == 0  # a dry run only reads
    assert _contact_values(sandbox) == before
    dry = example.query(
        "select rows_updated, error from {schema}.hubspot_sync_runs where error like 'dry run%'"
    )
    assert len(dry) == 1 and dry[0][0] > 0  # would-update rows
    details = example.query("select distinct detail like 'dry run%' from {schema}.hubspot_sync_record_log")
    assert details == [(True,)]

    assert main(args) == 0
    state = _contact_values(sandbox)
    assert sandbox.stats()["contacts_updated"] == dry[0][0]  # the dry run's prediction held
    assert main([*args, "--full-refresh"]) == 0
    assert _contact_values(sandbox) == state  # same end state
    assert sandbox.stats()["contacts_created"] == 0
    capsys.readouterr()


def _update_calls(sandbox) -> int:
    return sum(sandbox.stats()["requests"].get("POST /crm/v3/objects/contacts/batch/update", {}).values())


def _contact_values(sandbox) -> dict[str, dict[str, str]]:
    """Contacts' properties minus HubSpot's own bookkeeping (lastmodifieddate moves on every update)."""
    return {
        c["id"]: {k: v for k, v in c["properties"].items() if k != "lastmodifieddate"}
        for c in sandbox.contacts()
    }


def test_updated_contacts_join_a_static_list_and_dynamic_lists_are_refused(
    example: Example, hubspot_env, capsys
):
    sandbox = hubspot_env
    manual = create_list(sandbox, "MANUAL")
    args = ["sync", "--select", "hubspot_customers", *example.cli_args()]
    assert main([*args, "--vars", f"{{hubspot_sync: {{list_id: '{manual}'}}}}"]) == 0
    ((updated, added, missing),) = example.query(
        "select rows_updated, list_added, list_missing from {schema}.hubspot_sync_runs"
    )
    assert added == updated > 0 and missing == 0
    assert len(sandbox.list_members(manual)) == updated

    dynamic = create_list(sandbox, "DYNAMIC")
    assert main([*args, "--vars", f"{{hubspot_sync: {{list_id: '{dynamic}'}}}}"]) == 2
    err = capsys.readouterr().err
    assert "hubspot_customers" in err and "list_id" in err and "DYNAMIC" in err
    assert len(example.query("select run_id from {schema}.hubspot_sync_runs")) == 1  # nothing read or sent


def test_state_skips_unchanged_rows_and_full_refresh_resends(example: Example, hubspot_env, capsys):
    sandbox = hubspot_env
    args = ["sync", "--select", "hubspot_customers", *example.cli_args()]
    assert main(args) == 0
    (first_updated,) = example.query("select rows_updated from {schema}.hubspot_sync_runs")[0]
    reads_before, updates_before = _calls(sandbox, "read"), _calls(sandbox, "update")

    # Nothing changed: every previously updated row is `unchanged`, with no lookup and no update.
    assert main(args) == 0
    second = example.query(
        "select rows_unchanged, rows_updated, rows_read, rows_invalid + rows_duplicate + rows_unchanged"
        " + rows_updated + rows_not_found + rows_failed from {schema}.hubspot_sync_runs order by started_at desc"
    )[0]
    assert second[0] == first_updated and second[1] == 0 and second[2] == second[3]
    assert _calls(sandbox, "update") == updates_before
    assert _calls(sandbox, "read") - reads_before <= 2  # only the not-found emails are looked up again

    # --full-refresh ignores the state: everything is resent.
    assert main([*args, "--full-refresh"]) == 0
    (refreshed,) = example.query(
        "select rows_updated from {schema}.hubspot_sync_runs order by started_at desc limit 1"
    )[0]
    assert refreshed == first_updated
    assert _calls(sandbox, "update") > updates_before
    capsys.readouterr()


def _calls(sandbox, kind: str) -> int:
    key = f"POST /crm/v3/objects/contacts/batch/{kind}"
    return sum(sandbox.stats()["requests"].get(key, {}).values())


def test_check_reports_unknown_properties_without_sending_data(example: Example, hubspot_env, capsys):
    base = ["check", "--select", "hubspot_customers", *example.cli_args()]
    assert main(base) == 0
    assert "properties  ok" in capsys.readouterr().out

    bad = "{hubspot_sync: {properties: {'Amperity ID': no_such_property}}}"
    assert main([*base, "--vars", bad]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "no_such_property" in out and "PROPERTY_DOESNT_EXIST" in out
    # check proves scopes with empty batches: no contact data goes out, nothing changes.
    batches = [r for r in hubspot_env.requests_log() if "/batch/" in r["path"]]
    assert batches and all(r["inputs"] == 0 for r in batches)
    assert hubspot_env.stats()["contacts_updated"] == 0


def test_a_cached_id_hubspot_no_longer_knows_falls_back_to_the_lookup(
    tmp_path, monkeypatch, hubspot_env, capsys
):
    sandbox = hubspot_env
    example = make_example("duckdb", tmp_path, monkeypatch)
    example.dbt_ok("run")
    args = ["sync", "--select", "hubspot_customers", *example.cli_args()]
    assert main(args) == 0
    state = dict(example.query("select email_clean, record_id from {schema}.hubspot_sync_state"))
    (deleted_email, deleted_id), (merged_email, merged_id) = sorted(state.items())[:2]
    # The primary is a contact the model does not feed, so the merged row is its only source.
    primary_id = min(c["id"] for c in sandbox.contacts() if c["id"] not in state.values())
    sandbox.delete_contact(deleted_id)
    sandbox.merge_contacts(merged_id, primary_id)

    # Every row changes, so every known contact is sent by its cached id; two of those ids are gone.
    conn = example.connect()
    conn.execute(f"update {example.schema}.customers set first_name = coalesce(first_name, '') || ' II'")
    conn.close()
    assert main(args) == 0
    run = example.query(
        "select rows_read, rows_updated, rows_not_found, rows_failed, rows_invalid + rows_duplicate"
        " + rows_unchanged + rows_updated + rows_not_found + rows_failed"
        " from {schema}.hubspot_sync_runs order by started_at desc limit 1"
    )[0]
    assert run[0] == run[4] and run[3] == 0
    assert run[1] == len(state) - 1  # the merged-away contact's row updated the primary, the deleted one not
    not_found = example.query(
        "select email_clean, reason_code from {schema}.hubspot_sync_record_log where outcome = 'not_found'"
        " and run_id = (select run_id from {schema}.hubspot_sync_runs order by started_at desc limit 1)"
    )
    assert (deleted_email, "OBJECT_NOT_FOUND") in not_found
    after = dict(example.query("select email_clean, record_id from {schema}.hubspot_sync_state"))
    assert deleted_email not in after  # looked up again next run
    assert after[merged_email] == primary_id
    contacts = {c["id"]: c["properties"] for c in sandbox.contacts()}
    assert contacts[primary_id]["firstname"].endswith(" II")

    # Converged: nothing changed since, so no update is sent.
    updates_before = _calls(sandbox, "update")
    assert main(args) == 0
    assert _calls(sandbox, "update") == updates_before
    capsys.readouterr()
