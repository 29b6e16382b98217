"""The sandbox serves every API version it claims (v3, 2026-03, 2026-09), each route an operation of that
version's official spec and each answer validated against it; it can serve only some (a retired version's paths
are unknown paths); and 2026-09 enforces the portal's conditionally required properties."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests

from dbt_hubspot_sync.hubspot.paths import SPEC_FILES as FAMILY_SPECS
from dbt_hubspot_sync.sandbox.cli import main as sandbox_main
from dbt_hubspot_sync.sandbox.routes import VERSIONS, Router

from .helpers import BASES, SPEC_DIR, session_for

RULE = {"company": ("lifecyclestage", "customer")}


def _normal(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", template)


def test_every_route_is_an_operation_of_its_versions_spec() -> None:
    if not SPEC_DIR.is_dir():
        pytest.skip(
            f"HubSpot OpenAPI specs not found at {SPEC_DIR} (the shared folder beside the repository)"
        )
    specs: dict[str, dict[str, Any]] = {}
    routes = Router(VERSIONS).routes
    assert {r.version for r in routes} == set(VERSIONS)
    for route in routes:
        name = FAMILY_SPECS[route.family][route.version]
        spec = specs.setdefault(name, json.loads((SPEC_DIR / name).read_text(encoding="utf-8")))
        operations = {_normal(p): ops for p, ops in spec["paths"].items()}
        assert _normal(route.template) in operations, f"{route.method} {route.template} is not in {name}"
        assert route.method.lower() in operations[_normal(route.template)], f"{route.method} {route.template}"


@pytest.mark.parametrize("version", VERSIONS)
def test_one_sync_scenario_on_each_version_validates_against_its_spec(
    version: str, sandbox_factory: Any, spec_checker: Any
) -> None:
    sb = sandbox_factory()
    api = session_for(sb, checker=spec_checker)
    contacts, lists, props = (sb.url + BASES[version][k] for k in ("contacts", "lists", "properties"))
    before = len(spec_checker.checked)

    r = api.get(props + "/contacts")
    assert r.status_code == 200 and "hs_additional_emails" in {p["name"] for p in r.json()["results"]}
    read = {
        "idProperty": "email",
        "properties": ["email"],
        "propertiesWithHistory": [],
        "inputs": [{"id": "ada@example.com"}, {"id": "nobody@example.com"}],
    }
    r = api.post(contacts + "/batch/read", json=read)
    # 2026-09's spec has no 207 for batch calls: a partial answer is a 200 carrying the grouped error.
    assert r.status_code == (200 if version == "2026-09" else 207)
    assert r.json()["errors"][0]["context"]["ids"] == ["nobody@example.com"]
    assert [x["id"] for x in r.json()["results"]] == ["1"]
    update = {
        "inputs": [{"id": "1", "properties": {"firstname": "Augusta"}}, {"id": "999", "properties": {}}]
    }
    r = api.post(contacts + "/batch/update", json=update)
    assert r.status_code == (200 if version == "2026-09" else 207) and r.json()["numErrors"] == 1
    r = api.post(lists, json={"name": f"L {version}", "objectTypeId": "0-1", "processingType": "MANUAL"})
    list_id = r.json()["list"]["listId"]
    assert api.put(f"{lists}/{list_id}/memberships/add", json=["1", "2"]).status_code == 200
    assert api.put(f"{lists}/{list_id}/memberships/remove", json=["2"]).json()["recordIdsRemoved"] == ["2"]
    r = api.put(
        f"{lists}/{list_id}/memberships/add-and-remove",
        json={"recordIdsToAdd": ["3"], "recordIdsToRemove": []},
    )
    assert r.json()["recordsIdsAdded"] == ["3"]
    r = api.get(f"{lists}/{list_id}/memberships", params={"limit": 1})
    assert [m["recordId"] for m in r.json()["results"]] == ["1"] and r.json()["paging"]["next"][
        "after"
    ] == "1"
    r = api.post(contacts + "/search", json={"filterGroups": [], "properties": ["email"], "limit": 2})
    assert r.status_code == 200 and r.json()["total"] == 4
    assert api.get(f"{lists}/{list_id}").json()["list"]["size"] == 2

    files = {spec for _, _, _, spec in spec_checker.checked[before:]}
    assert files == {FAMILY_SPECS[f][version] for f in ("contacts", "lists", "properties")}
    # Counted under the version's own template (2026-09's generic objects path).
    template = {"2026-09": "/crm/objects/2026-09/{objectType}"}.get(version, BASES[version]["contacts"])
    assert sb.stats()["requests"][f"POST {template}/batch/read"] == {
        "200" if version == "2026-09" else "207": 1
    }


def test_the_checker_refuses_a_207_on_2026_09_which_declares_none(spec_checker: Any, sandbox: Any) -> None:
    body = {"status": "COMPLETE", "results": [], "startedAt": "2025-01-01T00:00:00.000Z"}
    body["completedAt"] = body["startedAt"]
    for path, ok in (
        ("/crm/objects/2026-03/contacts/batch/read", True),
        ("/crm/objects/2026-09/contacts/batch/read", False),
    ):
        resp = requests.Response()
        resp.status_code, resp._content = 207, json.dumps(body).encode()
        resp.request = requests.Request("POST", sandbox.url + path, json={}).prepare()
        if ok:
            spec_checker(resp)
        else:
            with pytest.raises(Exception):  # noqa: B017 - any validation failure: only the default (Error) applies
                spec_checker(resp)


def test_a_sandbox_serving_only_2026_03_answers_other_versions_as_unknown_paths(
    sandbox_factory: Any, spec_checker: Any
) -> None:
    sb = sandbox_factory(versions=("2026-03",))
    api = session_for(sb, checker=spec_checker)
    read = {
        "idProperty": "email",
        "properties": ["email"],
        "propertiesWithHistory": [],
        "inputs": [{"id": "ada@example.com"}],
    }
    assert api.post(sb.url + "/crm/objects/2026-03/contacts/batch/read", json=read).status_code == 200
    for retired in ("/crm/v3/objects/contacts/batch/read", "/crm/objects/2026-09/contacts/batch/read"):
        r = api.post(sb.url + retired, json=read)
        # As HubSpot answers a path it does not have: 404 with the standard Error body (spec-checked).
        assert r.status_code == 404, retired
        assert r.json()["category"] == "OBJECT_NOT_FOUND" and retired in r.json()["message"]
    assert api.get(sb.url + "/crm/v3/lists/1").status_code == 404
    stats = sb.stats()["requests"]
    assert stats["POST (unmatched)"] == {"404": 2} and stats["GET (unmatched)"] == {"404": 1}
    assert stats["POST /crm/objects/2026-03/contacts/batch/read"] == {"200": 1}


def test_unknown_versions_are_refused(sandbox_factory: Any) -> None:
    with pytest.raises(ValueError, match="2025-01"):
        sandbox_factory(versions=("2025-01",))


def test_cli_serves_only_the_versions_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        sandbox_main(["--versions", "v3,v4"])
    assert exc.value.code == 2 and "--versions" in capsys.readouterr().err
    from dbt_hubspot_sync.sandbox.cli import build_parser

    assert build_parser().parse_args([]).versions == ",".join(VERSIONS)


def test_2026_09_objects_paths_take_contacts_by_name_or_type_id_only(
    sandbox_factory: Any, spec_checker: Any
) -> None:
    sb = sandbox_factory()
    api = session_for(sb, checker=spec_checker)
    body = {"properties": ["email"], "propertiesWithHistory": [], "inputs": [{"id": "1"}]}
    assert api.post(sb.url + "/crm/objects/2026-09/0-1/batch/read", json=body).status_code == 200
    r = api.post(sb.url + "/crm/objects/2026-09/companies/batch/read", json=body)
    assert r.status_code == 400 and "companies" in r.json()["message"]


@pytest.mark.parametrize("version", VERSIONS)
def test_conditionally_required_properties_are_enforced_on_2026_09_only(
    version: str, sandbox_factory: Any, spec_checker: Any
) -> None:
    sb = sandbox_factory(required_when=RULE)
    api = session_for(sb, checker=spec_checker)
    contacts = sb.url + BASES[version]["contacts"]
    batch = {
        "inputs": [
            {"id": "1", "properties": {"lifecyclestage": "customer"}},  # no company: breaks the rule
            {"id": "2", "properties": {"lifecyclestage": "customer", "company": "Acme"}},
            {"id": "3", "properties": {"firstname": "C"}},
        ]
    }
    r = api.post(contacts + "/batch/update", json=batch)
    if version != "2026-09":
        assert r.status_code == 200
        return
    # HubSpot's example body: VALIDATION_ERROR naming the property (and the rule's basis), not the input.
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    (detail,) = r.json()["errors"]
    assert detail["code"] == "MISSING_CONDITIONAL_REQUIRED_PROPERTY"
    assert detail["context"] == {"propertyName": ["company"]} and "[lifecyclestage]" in detail["message"]
    assert sb.stats()["contacts_updated"] == 0  # the whole batch failed
    # A company already stored satisfies the rule; so does one sent with the trigger.
    assert api.post(contacts + "/batch/update", json={"inputs": batch["inputs"][1:]}).status_code == 200
    api.patch(contacts + "/1", json={"properties": {"company": "Known Co"}})
    assert api.post(contacts + "/batch/update", json={"inputs": batch["inputs"][:1]}).status_code == 200
    r = api.patch(contacts + "/3", json={"properties": {"lifecyclestage": "customer"}})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "MISSING_CONDITIONAL_REQUIRED_PROPERTY"
