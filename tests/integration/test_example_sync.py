"""The main job, end to end: example project built by real dbt, `dbt-hubspot-sync sync` against the sandbox,
on DuckDB and on a real PostgreSQL server. Asserts on HubSpot's state (the sandbox) and on the warehouse log."""

from __future__ import annotations

import unicodedata
from collections import Counter
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from dbt_hubspot_sync.doors.cli import main

from .helpers import (
    Example,
    assert_invariant,
    calls,
    contact_values,
    create_list,
    dbt_without_push,
    make_example,
)

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
    dbt_without_push(ex, "run")  # every push in these tests is the CLI's
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
    assert failed == 0 and updated > 0 and invalid > 0 and dup > 0 and not_found > 0
    assert_invariant(example)

    # Every contact that changed holds the model's values, normalised as HubSpot stores them.
    changed = [c for cid, c in after.items() if c["properties"] != before[cid]["properties"]]
    assert len(changed) == updated
    for contact in changed:
        props = contact["properties"]
        row = model[props["amperity_id"]]  # every updated contact got its row's (never NULL) Amperity ID
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
    before = contact_values(sandbox)

    assert main([*args, "--dry-run"]) == 0
    assert sandbox.stats()["contacts_updated"] == 0
    assert calls(sandbox, "batch/update") == 0  # a dry run only reads
    assert contact_values(sandbox) == before
    dry = example.query(
        "select rows_updated, error from {schema}.hubspot_sync_runs where error like 'dry run%'"
    )
    assert len(dry) == 1 and dry[0][0] > 0  # would-update rows
    details = example.query("select distinct detail like 'dry run%' from {schema}.hubspot_sync_record_log")
    assert details == [(True,)]

    assert main(args) == 0
    state = contact_values(sandbox)
    assert sandbox.stats()["contacts_updated"] == dry[0][0]  # the dry run's prediction held
    assert main([*args, "--full-refresh"]) == 0
    assert contact_values(sandbox) == state  # same end state
    assert sandbox.stats()["contacts_created"] == 0
    assert len(assert_invariant(example)) == 3
    capsys.readouterr()


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
    assert_invariant(example)


def edit_in_hubspot(sandbox, record_id: str, **properties: str) -> None:
    """Someone (a user, another app) changes a contact in HubSpot: HubSpot's own PATCH of one record."""
    import requests

    r = requests.patch(
        f"{sandbox.url}/crm/v3/objects/contacts/{record_id}",
        headers={"Authorization": f"Bearer {sandbox.app.cfg.token}"},
        json={"properties": properties},
        timeout=5,
    )
    r.raise_for_status()


def test_state_skips_unchanged_rows_and_full_refresh_resends(example: Example, hubspot_env, capsys):
    sandbox = hubspot_env
    args = ["sync", "--select", "hubspot_customers", *example.cli_args()]
    assert main(args) == 0
    [(first_updated, first_unchanged)] = example.query(
        "select rows_updated, rows_unchanged from {schema}.hubspot_sync_runs"
    )
    assert first_updated > 0
    synced = contact_values(sandbox)
    reads_before, updates_before = calls(sandbox, "batch/read"), calls(sandbox, "batch/update")

    # Nothing changed: every previously updated row is `unchanged`, with no lookup and no update.
    assert main(args) == 0
    second = example.query(
        "select rows_unchanged, rows_updated, rows_read, rows_invalid + rows_duplicate + rows_unchanged"
        " + rows_updated + rows_not_found + rows_failed from {schema}.hubspot_sync_runs order by started_at desc"
    )[0]
    assert second[0] == first_unchanged + first_updated and second[1] == 0 and second[2] == second[3]
    assert calls(sandbox, "batch/update") == updates_before
    assert calls(sandbox, "batch/read") - reads_before <= 2  # only the not-found emails are looked up again

    # Someone edits a synced contact in HubSpot. The state still says its values were sent: a plain sync
    # trusts it and sends nothing; --full-refresh ignores the state, looks every row up again and finds (and
    # resends) the one contact whose values differ from the model's.
    [(record_id,)] = example.query(
        "select record_id from {schema}.hubspot_sync_state where record_id is not null"
        " order by email_clean limit 1"
    )
    record_id = str(record_id)
    assert synced[record_id].get("lastname"), synced[record_id]
    edit_in_hubspot(sandbox, record_id, lastname="Edited in HubSpot")
    assert main(args) == 0
    assert calls(sandbox, "batch/update") == updates_before
    assert contact_values(sandbox)[record_id]["lastname"] == "Edited in HubSpot"

    reads_before = calls(sandbox, "batch/read")
    assert main([*args, "--full-refresh"]) == 0
    [(refreshed, unchanged, not_found)] = example.query(
        "select rows_updated, rows_unchanged, rows_not_found from {schema}.hubspot_sync_runs"
        " order by started_at desc limit 1"
    )
    assert refreshed == 1 and unchanged == first_unchanged + first_updated - 1  # the rest: already in HubSpot
    assert calls(sandbox, "batch/update") == updates_before + 1
    assert calls(sandbox, "batch/read") - reads_before >= -(
        -(first_updated + not_found) // 100
    )  # all looked up
    assert contact_values(sandbox) == synced  # HubSpot holds the model's values again
    assert len(assert_invariant(example)) == 4
    capsys.readouterr()


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
    assert example.query("select count(*) from {schema}.hubspot_sync_runs") == [(0,)]  # check runs no sync


def test_a_cached_id_hubspot_no_longer_knows_falls_back_to_the_lookup(
    tmp_path, monkeypatch, hubspot_env, capsys
):
    sandbox = hubspot_env
    example = make_example("duckdb", tmp_path, monkeypatch)
    dbt_without_push(example, "run")  # (with the token set, the post-hook would push first)
    args = ["sync", "--select", "hubspot_customers", *example.cli_args()]
    assert main(args) == 0
    state = dict(
        example.query(
            "select email_clean, record_id from {schema}.hubspot_sync_state where record_id is not null"
        )
    )
    assert len(state) >= 2
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
    after = {
        email: (record_id, digest)
        for email, record_id, digest in example.query(
            "select email_clean, record_id, properties_hash from {schema}.hubspot_sync_state"
        )
    }
    # The gone id is forgotten: the email is remembered as a miss (README, steady state), not as the dead id.
    assert after.get(deleted_email, (None, "not_found")) == (None, "not_found")
    assert after[merged_email][0] == primary_id
    contacts = {c["id"]: c["properties"] for c in sandbox.contacts()}
    assert contacts[primary_id]["firstname"].endswith(" II")

    # Converged: nothing changed since, so no update is sent.
    updates_before = calls(sandbox, "batch/update")
    assert main(args) == 0
    assert calls(sandbox, "batch/update") == updates_before
    assert len(assert_invariant(example)) == 3
    capsys.readouterr()
