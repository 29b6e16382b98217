"""The sandbox's other HubSpot endpoints over real HTTP (properties, lists), its auth, rate-limit headers and
routing, its admin endpoints, and the spec checker itself; every response is validated against the official
specs."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest
import requests

from .helpers import READ, UPDATE, by_id, post, read_emails, session_for


# -- properties ------------------------------------------------------------------------------------------
def test_properties_defaults_and_csv_columns(api: requests.Session) -> None:
    r = api.get(api.base + "/crm/v3/properties/contacts")  # type: ignore[attr-defined]
    assert r.status_code == 200
    props = {p["name"]: p for p in r.json()["results"]}
    for name in ("email", "firstname", "lastname", "phone", "company", "lifecyclestage"):
        assert props[name]["modificationMetadata"]["readOnlyValue"] is False
    for name in ("hs_object_id", "createdate", "lastmodifieddate"):
        assert props[name]["modificationMetadata"]["readOnlyValue"] is True
    options = [o["value"] for o in props["lifecyclestage"]["options"]]
    assert options == [
        "subscriber",
        "lead",
        "marketingqualifiedlead",
        "salesqualifiedlead",
        "opportunity",
        "customer",
        "evangelist",
        "other",
    ]
    assert props["lifecyclestage"]["type"] == "enumeration"
    assert props["amperity_id"]["type"] == "string" and props["amperity_id"]["hubspotDefined"] is False


# -- lists -----------------------------------------------------------------------------------------------
def test_lists_create_get_and_add_members(api: requests.Session, sandbox: Any) -> None:
    base = api.base + "/crm/v3/lists"  # type: ignore[attr-defined]
    r = api.post(base, json={"name": "Newsletter", "objectTypeId": "0-1", "processingType": "MANUAL"})
    assert r.status_code == 200
    lst = r.json()["list"]
    assert lst["processingType"] == "MANUAL" and lst["objectTypeId"] == "0-1"
    list_id = lst["listId"]
    r = api.put(f"{base}/{list_id}/memberships/add", json=["1", "2", "999"])
    assert r.status_code == 200
    assert r.json() == {"recordsIdsAdded": ["1", "2"], "recordIdsMissing": ["999"], "recordIdsRemoved": []}
    r = api.put(f"{base}/{list_id}/memberships/add", json=["2", "3"])
    # An existing member is ignored: neither added nor missing (the spec: missing = does not exist).
    assert r.json()["recordsIdsAdded"] == ["3"] and r.json()["recordIdsMissing"] == []
    r = api.get(f"{base}/{list_id}")
    assert r.status_code == 200 and r.json()["list"]["size"] == 3
    assert sandbox.list_members(list_id) == ["1", "2", "3"]
    assert requests.get(f"{sandbox.url}/__sandbox__/lists/{list_id}/members").json()["results"] == [
        "1",
        "2",
        "3",
    ]
    r = api.post(base, json={"name": "Newsletter", "objectTypeId": "0-1", "processingType": "MANUAL"})
    assert r.status_code == 400  # names are unique


def test_lists_dynamic_refuses_members_and_unknown_list_404(api: requests.Session) -> None:
    base = api.base + "/crm/v3/lists"  # type: ignore[attr-defined]
    r = api.post(base, json={"name": "Dyn", "objectTypeId": "0-1", "processingType": "DYNAMIC"})
    list_id = r.json()["list"]["listId"]
    r = api.put(f"{base}/{list_id}/memberships/add", json=["1"])
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    assert api.get(f"{base}/999").status_code == 404
    assert api.put(f"{base}/999/memberships/add", json=["1"]).status_code == 404
    r = api.post(base, json={"name": "X", "objectTypeId": "0-1", "processingType": "WEEKLY"})
    assert r.status_code == 400


# -- auth, headers, routing ------------------------------------------------------------------------------
def test_missing_or_unknown_token_401(sandbox: Any, spec_checker: Any) -> None:
    for token in (None, "wrong-token"):
        s = session_for(sandbox, token=token, checker=spec_checker)
        r = read_emails(s, ["ada@example.com"])
        assert r.status_code == 401
        assert r.json()["category"] == "INVALID_AUTHENTICATION"
        assert r.json()["message"].startswith("Authentication credentials not found.")
        assert "X-HubSpot-RateLimit-Max" not in r.headers


def test_missing_scope_403(sandbox: Any, spec_checker: Any) -> None:
    sandbox.add_token("read-only", scopes={"crm.objects.contacts.read"})
    s = session_for(sandbox, token="read-only", checker=spec_checker)
    assert read_emails(s, ["ada@example.com"]).status_code == 200
    r = post(s, UPDATE, {"inputs": [{"id": "1", "properties": {"firstname": "x"}}]})
    assert r.status_code == 403
    body = r.json()
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.contacts.write"]
    assert body["links"]["scopes"] == "https://developers.hubspot.com/scopes"
    r = s.put(sandbox.url + "/crm/v3/lists/1/memberships/add", json=["1"])
    assert r.status_code == 403
    assert sorted(r.json()["errors"][0]["context"]["requiredGranularScopes"]) == [
        "crm.lists.read",
        "crm.lists.write",
    ]


def test_rate_limit_headers_on_every_api_response(api: requests.Session) -> None:
    r1 = read_emails(api, ["ada@example.com"])
    r2 = post(api, UPDATE, {"inputs": "nope"})
    for r in (r1, r2):
        assert r.headers["X-HubSpot-RateLimit-Max"] == "100"
        assert r.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert int(r.headers["X-HubSpot-RateLimit-Daily"]) > 0
        assert "X-HubSpot-RateLimit-Daily-Remaining" in r.headers
        assert r.headers["Content-Type"].startswith("application/json")
    assert (
        int(r2.headers["X-HubSpot-RateLimit-Remaining"])
        == int(r1.headers["X-HubSpot-RateLimit-Remaining"]) - 1
    )
    assert r2.headers["X-HubSpot-Correlation-Id"] == r2.json()["correlationId"]


def test_unknown_path_404_and_wrong_method_405(api: requests.Session) -> None:
    r = api.get(api.base + "/crm/v3/nope")  # type: ignore[attr-defined]
    assert r.status_code == 404 and r.json()["status"] == "error"
    r = post(api, "/crm/v3/objects/contacts/batch/frobnicate", {})
    assert r.status_code == 404
    r = api.get(api.base + READ)  # type: ignore[attr-defined]
    assert r.status_code == 405 and "POST" in r.headers["Allow"]
    r = api.delete(api.base + "/crm/v3/properties/contacts")  # type: ignore[attr-defined]
    assert r.status_code == 405


# -- admin -----------------------------------------------------------------------------------------------
def test_admin_stats_contacts_requests_and_reset(api: requests.Session, sandbox: Any) -> None:
    read_emails(api, ["ada@example.com", "nobody@example.com"])
    post(api, UPDATE, {"inputs": [{"id": "1", "properties": {"firstname": "Z"}}]})
    post(api, UPDATE, {"inputs": [{"id": "1", "properties": {"nope": "Z"}}]})
    stats = requests.get(sandbox.url + "/__sandbox__/stats").json()
    assert stats == sandbox.stats()
    assert stats["requests"]["POST /crm/v3/objects/contacts/batch/read"] == {"207": 1}
    assert stats["requests"]["POST /crm/v3/objects/contacts/batch/update"] == {"200": 1, "400": 1}
    assert stats["contacts_updated"] == 1 and stats["requests_total"] == 3 and stats["rate_limited"] == 0
    contacts = requests.get(sandbox.url + "/__sandbox__/contacts").json()["results"]
    assert [c["id"] for c in contacts] == ["1", "2", "3", "1001"]
    log = requests.get(sandbox.url + "/__sandbox__/requests").json()["results"]
    assert [(e["method"], e["status"], e["inputs"]) for e in log] == [
        ("POST", 207, 2),
        ("POST", 200, 1),
        ("POST", 400, 1),
    ]
    assert "sandbox-token" not in json.dumps(log)
    assert requests.post(sandbox.url + "/__sandbox__/reset").status_code == 200
    assert sandbox.stats()["requests_total"] == 0
    assert by_id(sandbox.contacts())["1"]["properties"]["firstname"] == "Ada"
    assert requests.get(sandbox.url + "/__sandbox__/nothing").status_code == 404


def test_every_endpoint_was_spec_checked(spec_checker: Any) -> None:
    # Runs after this module's endpoint tests: the hook validated responses of each kind (a 207, 400s, a list's
    # PUT, a 404), whether or not test_http_contacts.py ran first.
    seen = {(m, s) for m, _, s, _spec in spec_checker.checked}
    assert ("POST", 207) in seen and ("POST", 400) in seen and ("PUT", 200) in seen and ("GET", 404) in seen


def test_spec_checker_rejects_non_conforming_bodies(spec_checker: Any, sandbox: Any) -> None:
    """The contract check can fail: bodies missing spec-required fields are refused."""

    def fake(method: str, path: str, status: int, body: Any) -> requests.Response:
        resp = requests.Response()
        resp.status_code = status
        resp._content = json.dumps(body).encode()
        resp.request = requests.Request(method, sandbox.url + path, json={}).prepare()
        return resp

    with pytest.raises(Exception, match="startedAt|required"):
        spec_checker(fake("POST", READ, 200, {"status": "COMPLETE", "results": [], "completedAt": "x"}))
    with pytest.raises(Exception, match="category|required"):
        no_category = {"status": "error", "message": "m", "correlationId": str(uuid4())}
        spec_checker(fake("POST", UPDATE, 400, no_category))
    item = {"status": "error", "category": "OBJECT_NOT_FOUND", "message": "m", "context": {"ids": ["1"]}}
    ok = {"status": "COMPLETE", "results": [], "startedAt": "2025-01-01T00:00:00.000Z"}
    # A StandardError as real HubSpot sends it (no errors/links) does not satisfy the over-specified spec.
    with pytest.raises(Exception, match="required"):
        spec_checker(fake("POST", READ, 207, {**ok, "completedAt": ok["startedAt"], "errors": [item]}))
