"""The sandbox's imports API, as HubSpot documents it: start (multipart), asynchronous processing with counters,
update-only imports, per-row errors with paging, cancel, the list, in v3 and the date versions; every response
validated against HubSpot's imports specs."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dbt_hubspot_sync.sandbox.imports import imports_of

from .imports_helpers import (
    BASES,
    ImportSpecChecker,
    csv_of,
    fast,
    import_request,
    session,
    start,
    wait_state,
)


@pytest.fixture(scope="module")
def checker() -> ImportSpecChecker:
    return ImportSpecChecker()


@pytest.fixture
def api(sandbox: Any, checker: ImportSpecChecker) -> Any:
    fast(sandbox)
    return session(sandbox, checker)


@pytest.mark.parametrize("base", BASES)
def test_update_only_import_updates_known_contacts_and_never_creates(
    sandbox: Any, api: Any, base: str
) -> None:
    before = len(sandbox.contacts())
    rows = [("ada@example.com", "Ada2"), ("nobody@example.com", "Nemo"), ("bob@example.com", "Bobby")]
    resp = start(api, csv_of(rows), base=base)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["state"] in ("STARTED", "PROCESSING", "DONE")
    assert body["metadata"]["counters"]["TOTAL_ROWS"] == 3
    done = wait_state(api, body["id"], ("DONE",), base=base)
    assert done["state"] == "DONE"
    counters = done["metadata"]["counters"]
    assert counters["UPDATED_OBJECTS"] == 2 and counters["CREATED_OBJECTS"] == 0
    by_email = {c["properties"]["email"].lower(): c["properties"] for c in sandbox.contacts()}
    assert by_email["ada@example.com"]["firstname"] == "Ada2"
    assert by_email["bob@example.com"]["firstname"] == "Bobby"
    assert "nobody@example.com" not in by_email and len(sandbox.contacts()) == before
    assert sandbox.stats()["contacts_created"] == 0
    errors = api.get(
        f"{api.base}{base}/{body['id']}/errors?includeErrorMessage=true&includeRowData=true"
    ).json()
    [err] = errors["results"]
    assert err["errorType"] == "UPDATE_ONLY_IMPORT"
    assert err["sourceData"]["lineNumber"] == 3  # the header is line 1
    assert err["sourceData"]["rowData"] == ["nobody@example.com", "Nemo"]
    assert "nobody@example.com" in err["errorMessage"]


def test_upsert_creates_and_create_only_refuses_existing(sandbox: Any, api: Any) -> None:
    # HubSpot's default operation is UPSERT: the sandbox does it too (the product never asks for it).
    up = start(api, csv_of([("new@example.com", "New")]), import_request(operation=None)).json()
    assert wait_state(api, up["id"], ("DONE",))["metadata"]["counters"]["CREATED_OBJECTS"] == 1
    assert sandbox.stats()["contacts_created"] == 1
    create = start(api, csv_of([("ada@example.com", "X")]), import_request(operation="CREATE")).json()
    wait_state(api, create["id"], ("DONE",))
    [err] = api.get(f"{api.base}/crm/v3/imports/{create['id']}/errors").json()["results"]
    assert err["errorType"] == "CREATE_ONLY_IMPORT" and "errorMessage" not in err
    assert err["sourceData"]["rowData"] == []  # without includeRowData


def test_row_errors_are_paged_with_their_types(sandbox: Any, api: Any) -> None:
    cols = ("email", "firstname", "lifecyclestage")
    rows = [
        ("ada@example.com", "A", "bogus"),  # INVALID_ENUMERATION_OPTION
        ("bad@example.con", "B", ""),  # INVALID_EMAIL (unknown TLD)
        ("carol@example.org", "C"),  # INCORRECT_NUMBER_OF_COLUMNS
        ("zed@example.com", "Z", ""),  # UPDATE_ONLY_IMPORT
        ("bob@example.com", "Bob", "customer"),  # fine
    ]
    body = start(api, csv_of(rows, cols), import_request(columns=cols)).json()
    wait_state(api, body["id"], ("DONE",))
    seen: list[dict[str, Any]] = []
    url = (
        f"{api.base}/crm/v3/imports/{body['id']}/errors?limit=3&includeErrorMessage=true&includeRowData=true"
    )
    page = api.get(url).json()
    seen += page["results"]
    assert len(page["results"]) == 3 and page["paging"]["next"]["after"]
    page = api.get(url + f"&after={page['paging']['next']['after']}").json()
    seen += page["results"]
    assert "paging" not in page
    types = {e["sourceData"]["rowData"][0]: e["errorType"] for e in seen}
    assert types == {
        "ada@example.com": "INVALID_ENUMERATION_OPTION",
        "bad@example.con": "INVALID_EMAIL",
        "carol@example.org": "INCORRECT_NUMBER_OF_COLUMNS",
        "zed@example.com": "UPDATE_ONLY_IMPORT",
    }
    by_email = {c["properties"]["email"].lower(): c["properties"] for c in sandbox.contacts()}
    assert by_email["ada@example.com"]["firstname"] == "Ada"  # a row with an error changes nothing
    assert by_email["bob@example.com"]["lifecyclestage"] == "customer"


def test_blank_cells_never_clear_and_lifecycle_never_moves_back(sandbox: Any, api: Any) -> None:
    cols = ("email", "firstname", "lifecyclestage")
    sandbox_contacts = {c["properties"]["email"]: c for c in sandbox.contacts()}
    assert sandbox_contacts["Bob@Example.com"]["properties"]["lifecyclestage"] == "lead"
    rows = [("ada@example.com", "", "lead"), ("bob@example.com", "Bobby", "subscriber")]
    body = start(api, csv_of(rows, cols), import_request(columns=cols)).json()
    wait_state(api, body["id"], ("DONE",))
    by_email = {c["properties"]["email"].lower(): c["properties"] for c in sandbox.contacts()}
    assert by_email["ada@example.com"]["firstname"] == "Ada"  # blank: kept
    assert by_email["ada@example.com"]["lifecyclestage"] == "lead"  # forward: moved
    assert by_email["bob@example.com"]["lifecyclestage"] == "lead"  # backwards: not moved
    assert by_email["bob@example.com"]["firstname"] == "Bobby"


def test_processing_is_asynchronous_at_the_configured_rate(sandbox: Any, api: Any) -> None:
    imports_of(sandbox).cfg.rows_per_second = 200
    rows = [(f"p{i}@example.com", "x") for i in range(100)]
    body = start(api, csv_of(rows)).json()
    assert body["state"] == "STARTED"
    mid = wait_state(api, body["id"], ("PROCESSING",))
    assert mid["state"] == "PROCESSING" and "UPDATED_OBJECTS" not in mid["metadata"]["counters"]
    done = wait_state(api, body["id"], ("DONE",))
    took = _seconds(done["updatedAt"]) - _seconds(done["createdAt"])
    assert 0.3 <= took <= 3.0, took  # 100 rows at 200 rows/s


def test_at_most_three_process_at_once_two_of_them_large(sandbox: Any, api: Any) -> None:
    imports_of(sandbox).cfg.rows_per_second = 2000
    large = csv_of([(f"l{i}@example.com", "x") for i in range(10_001)])
    small = csv_of([(f"s{i}@example.com", "x") for i in range(5_000)])
    ids = [start(api, large).json()["id"] for _ in range(3)] + [
        start(api, small).json()["id"] for _ in range(2)
    ]
    wait_state(api, ids[0], ("PROCESSING",))
    time.sleep(0.1)
    states = [api.get(f"{api.base}/crm/v3/imports/{i}").json()["state"] for i in ids]
    # Two large ones process, the third waits; the first small one takes the third slot, the second waits.
    assert states == ["PROCESSING", "PROCESSING", "DEFERRED", "PROCESSING", "DEFERRED"], states
    for i in ids:
        api.post(f"{api.base}/crm/v3/imports/{i}/cancel")
    assert imports_of(sandbox).wait_idle(5)


def test_cancel_an_active_import_and_refuse_a_finished_one(sandbox: Any, api: Any) -> None:
    imports_of(sandbox).cfg.rows_per_second = 50
    body = start(api, csv_of([(f"c{i}@example.com", "x") for i in range(200)])).json()
    wait_state(api, body["id"], ("PROCESSING",))
    resp = api.post(f"{api.base}/crm/v3/imports/{body['id']}/cancel")
    assert resp.status_code == 200 and resp.json()["status"] == "COMPLETE"
    assert api.get(f"{api.base}/crm/v3/imports/{body['id']}").json()["state"] == "CANCELED"
    again = api.post(f"{api.base}/crm/v3/imports/{body['id']}/cancel")
    assert again.status_code == 400 and "CANCELED" in again.json()["message"]
    assert api.get(f"{api.base}/crm/v3/imports/999").status_code == 404


def test_a_file_hubspot_cannot_process_ends_failed(sandbox: Any, api: Any) -> None:
    imports_of(sandbox).cfg.fail_next = 1
    body = start(api, csv_of([("ada@example.com", "Nope")])).json()
    assert wait_state(api, body["id"], ("FAILED",))["state"] == "FAILED"
    [err] = api.get(f"{api.base}/crm/v3/imports/{body['id']}/errors?includeErrorMessage=true").json()[
        "results"
    ]
    assert err["sourceData"]["lineNumber"] == 0 and err["errorMessage"]
    assert {c["properties"]["email"]: c["properties"] for c in sandbox.contacts()}["ada@example.com"][
        "firstname"
    ] == "Ada"


def test_list_pages_newest_first(sandbox: Any, api: Any) -> None:
    ids = [start(api, csv_of([("ada@example.com", str(i))])).json()["id"] for i in range(3)]
    page = api.get(f"{api.base}/crm/v3/imports?limit=2").json()
    assert [r["id"] for r in page["results"]] == ids[::-1][:2]
    rest = api.get(f"{api.base}/crm/v3/imports?limit=2&after={page['paging']['next']['after']}").json()
    assert [r["id"] for r in rest["results"]] == [ids[0]] and "paging" not in rest


def test_malformed_requests_are_400s(sandbox: Any, api: Any) -> None:
    content = csv_of([("ada@example.com", "x")])
    assert api.post(api.base + "/crm/v3/imports", data=b"{}").status_code == 400
    assert start(api, content, import_request(file_name="other.csv")).status_code == 400  # name mismatch
    three = import_request(columns=("email", "firstname", "lastname"))
    assert "columns" in start(api, content, three).json()["message"]
    no_id = import_request(columns=("firstname", "lastname"))
    assert start(api, csv_of([("a", "b")], ("firstname", "lastname")), no_id).status_code == 400
    bad_op = import_request(operation="MERGE")
    assert start(api, content, bad_op).status_code == 400


def test_import_needs_the_crm_import_scope(sandbox: Any, checker: ImportSpecChecker) -> None:
    sandbox.add_token("no-import", {"crm.objects.contacts.read", "crm.objects.contacts.write"})
    limited = session(sandbox, checker, token="no-import")
    resp = start(limited, csv_of([("ada@example.com", "x")]))
    assert resp.status_code == 403 and resp.json()["category"] == "MISSING_SCOPES"
    assert "crm.import" in str(resp.json())


def test_an_import_list_is_added_to_another_list(sandbox: Any, api: Any) -> None:
    target = api.post(
        api.base + "/crm/v3/lists", json={"name": "T", "objectTypeId": "0-1", "processingType": "MANUAL"}
    )
    target_id = target.json()["list"]["listId"]
    rows = [("ada@example.com", "A"), ("nobody@example.com", "N")]
    body = start(api, csv_of(rows), import_request(make_list=True)).json()
    done = wait_state(api, body["id"], ("DONE",))
    [made] = done["metadata"]["objectLists"]
    resp = api.put(f"{api.base}/crm/v3/lists/{target_id}/memberships/add-from/{made['listId']}")
    assert resp.status_code == 204
    assert sandbox.list_members(target_id) == ["1"]  # the contact the import updated, not the unknown email


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
