"""The sandbox's list memberships beyond add: `PUT .../memberships/remove`, `.../add-and-remove` and the paged
`GET .../memberships` (limit up to 250, `after`), as the lists specs declare them; validated against the specs
and driven by the official client."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from hubspot.crm.lists import ListCreateRequest, MembershipChangeRequest

from .helpers import hubspot_client, session_for

LISTS = "/crm/v3/lists"


def make_list(api: requests.Session, name: str = "Audience", kind: str = "MANUAL") -> str:
    r = api.post(api.base + LISTS, json={"name": name, "objectTypeId": "0-1", "processingType": kind})  # type: ignore[attr-defined]
    assert r.status_code == 200
    return r.json()["list"]["listId"]


def test_remove_takes_members_out_and_ignores_the_rest(api: requests.Session, sandbox: Any) -> None:
    list_id = make_list(api)
    base = f"{api.base}{LISTS}/{list_id}/memberships"  # type: ignore[attr-defined]
    api.put(base + "/add", json=["1", "2", "3"])
    sandbox.delete_contact("3")  # still a member; its record is gone
    r = api.put(base + "/remove", json=["2", "3", "1001", "4242"])
    assert r.status_code == 200
    # 1001 exists but is not a member: ignored; 4242 does not exist: missing; 3 was a member: removed.
    assert r.json() == {"recordsIdsAdded": [], "recordIdsMissing": ["4242"], "recordIdsRemoved": ["2", "3"]}
    assert sandbox.list_members(list_id) == ["1"]
    assert api.get(f"{api.base}{LISTS}/{list_id}").json()["list"]["size"] == 1  # type: ignore[attr-defined]


def test_add_and_remove_in_one_call(api: requests.Session, sandbox: Any) -> None:
    list_id = make_list(api)
    base = f"{api.base}{LISTS}/{list_id}/memberships"  # type: ignore[attr-defined]
    api.put(base + "/add", json=["1"])
    r = api.put(base + "/add-and-remove", json={"recordIdsToAdd": ["2", "999"], "recordIdsToRemove": ["1"]})
    assert r.status_code == 200
    assert r.json() == {"recordsIdsAdded": ["2"], "recordIdsMissing": ["999"], "recordIdsRemoved": ["1"]}
    assert sandbox.list_members(list_id) == ["2"]
    both = api.put(base + "/add-and-remove", json={"recordIdsToAdd": ["2"], "recordIdsToRemove": ["2"]})
    assert both.status_code == 400 and "[2]" in both.json()["message"]
    missing_key = api.put(base + "/add-and-remove", json={"recordIdsToAdd": ["1"]})
    assert missing_key.status_code == 400 and "recordIdsToRemove" in missing_key.json()["message"]
    assert sandbox.list_members(list_id) == ["2"]  # refused calls change nothing


def test_dynamic_lists_refuse_membership_writes(api: requests.Session) -> None:
    list_id = make_list(api, "Dynamic", "DYNAMIC")
    base = f"{api.base}{LISTS}/{list_id}/memberships"  # type: ignore[attr-defined]
    assert api.put(base + "/remove", json=["1"]).status_code == 400
    r = api.put(base + "/add-and-remove", json={"recordIdsToAdd": [], "recordIdsToRemove": ["1"]})
    assert r.status_code == 400 and "DYNAMIC" in r.json()["message"]
    assert api.put(f"{api.base}{LISTS}/77/memberships/remove", json=["1"]).status_code == 404  # type: ignore[attr-defined]


def test_members_page_by_record_id_250_at_most(sandbox_factory: Any, spec_checker: Any) -> None:
    sb = sandbox_factory(contacts=[{"email": f"m{i}@example.com"} for i in range(1, 301)])
    api = session_for(sb, checker=spec_checker)
    list_id = make_list(api)
    base = f"{sb.url}{LISTS}/{list_id}/memberships"
    ids = [str(i) for i in range(300, 0, -1)]  # added in reverse: the page is in record id order anyway
    for i in range(0, 300, 100):
        api.put(base + "/add", json=ids[i : i + 100])
    first = api.get(base, params={"limit": 250})
    assert first.status_code == 200 and first.json()["total"] == 300
    got = [m["recordId"] for m in first.json()["results"]]
    assert got == [str(i) for i in range(1, 251)] and first.json()["results"][0]["membershipTimestamp"]
    after = first.json()["paging"]["next"]["after"]
    rest = api.get(base, params={"limit": 250, "after": after})
    assert [m["recordId"] for m in rest.json()["results"]] == [str(i) for i in range(251, 301)]
    assert "paging" not in rest.json()
    assert len(api.get(base).json()["results"]) == 100  # the spec's default limit
    for bad in ("251", "0", "x"):
        r = api.get(base, params={"limit": bad})
        assert r.status_code == 400, bad
    assert api.get(f"{sb.url}{LISTS}/999/memberships").status_code == 404


@pytest.mark.parametrize("version_base", ["/crm/lists/2026-03", "/crm/lists/2026-09"])
def test_date_versioned_membership_paths(api: requests.Session, sandbox: Any, version_base: str) -> None:
    r = api.post(
        sandbox.url + version_base,
        json={"name": version_base, "objectTypeId": "0-1", "processingType": "SNAPSHOT"},
    )
    list_id = r.json()["list"]["listId"]
    base = f"{sandbox.url}{version_base}/{list_id}/memberships"
    assert api.put(base + "/add", json=["1", "2"]).json()["recordsIdsAdded"] == ["1", "2"]
    assert api.put(base + "/remove", json=["1"]).json()["recordIdsRemoved"] == ["1"]
    assert [m["recordId"] for m in api.get(base).json()["results"]] == ["2"]


def test_the_official_client_removes_adds_and_pages(sandbox: Any) -> None:
    hs = hubspot_client(sandbox)
    created = hs.crm.lists.lists_api.create(
        list_create_request=ListCreateRequest(
            name="Client list", object_type_id="0-1", processing_type="MANUAL"
        )
    )
    list_id = created.list.list_id
    hs.crm.lists.memberships_api.add(list_id, request_body=["1", "2", "1001"])
    removed = hs.crm.lists.memberships_api.remove(list_id, request_body=["2", "555"])
    assert removed.record_ids_removed == ["2"] and removed.record_ids_missing == ["555"]
    changed = hs.crm.lists.memberships_api.add_and_remove(
        list_id,
        membership_change_request=MembershipChangeRequest(
            record_ids_to_add=["3"], record_ids_to_remove=["1"]
        ),
    )
    assert changed.records_ids_added == ["3"] and changed.record_ids_removed == ["1"]
    page = hs.crm.lists.memberships_api.get_page(list_id, limit=1)
    assert [m.record_id for m in page.results] == ["3"] and page.paging.next.after == "3"
    page = hs.crm.lists.memberships_api.get_page(list_id, limit=1, after=page.paging.next.after)
    assert [m.record_id for m in page.results] == ["1001"] and page.paging is None
