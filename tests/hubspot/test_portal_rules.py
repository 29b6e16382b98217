"""2026-09's portal write-validation rejections, isolated per record: a 400 VALIDATION_ERROR
`MISSING_CONDITIONAL_REQUIRED_PROPERTY` names the property, not the record; the records that broke the rule fail
with HubSpot's message, the rest are resent and updated, and the run goes on. Against a scripted HubSpot and the
sandbox's rules."""

from __future__ import annotations

from typing import Any

import pytest

from dbt_hubspot_sync.hubspot import PropertyError

from .helpers import Reply, Req, batch_body, by_email, client_for, contact, sandbox, sb_client

UPDATE_0926 = "/crm/objects/2026-09/contacts/batch/update"
MESSAGE = "company is required because of a conditional property rule based on [lifecyclestage]"


def rule_400(count: int = 1, message: str = MESSAGE) -> Reply:
    """HubSpot's example body (changelog "CRM API write validation enforcement"), one entry per violation."""
    detail = {"code": "MISSING_CONDITIONAL_REQUIRED_PROPERTY", "message": message,
              "context": {"propertyName": ["company"]}}  # fmt: skip
    body = {"status": "error", "category": "VALIDATION_ERROR", "message": "The property values provided are invalid",
            "correlationId": "c8617a85-58a6-4a95-b619-e7d3594c170c", "errors": [detail] * count}  # fmt: skip
    return Reply(400, body)


def portal(stored_company: set[str], message: str = MESSAGE) -> Any:
    """batch/update of a 2026-09 portal whose rule makes company required when lifecyclestage is customer."""

    def handle(req: Req) -> Reply:
        assert (req.method, req.path) == ("POST", UPDATE_0926)
        inputs = req.body["inputs"]
        bad = [
            i for i in inputs
            if i["properties"].get("lifecyclestage") == "customer"
            and not i["properties"].get("company") and i["id"] not in stored_company
        ]  # fmt: skip
        if bad:
            return rule_400(len(bad), message)
        return Reply(200, batch_body([contact(i["id"], **i["properties"]) for i in reversed(inputs)], []))

    return handle


def rows(n: int, customers: set[int], with_company: set[int]) -> list[tuple[str, dict[str, str]]]:
    out = []
    for i in range(1, n + 1):
        props = {"firstname": f"F{i}"}
        if i in customers:
            props["lifecyclestage"] = "customer"
        if i in with_company:
            props["company"] = f"Co{i}"
        out.append((str(i), props))
    return out


def test_the_breakers_fail_with_hubspots_message_and_the_rest_is_updated(fake: Any) -> None:
    customers = set(range(1, 41))  # 40 records set the trigger; 3 of them leave company empty
    with_company = customers - {7, 19, 33}
    srv = fake(portal(stored_company=set()))
    with client_for(srv, api_version="2026-09") as client:
        out = client.update(rows(100, customers, with_company))
    assert set(out.failed) == {"7", "19", "33"}
    for failure in out.failed.values():
        assert failure.code == "MISSING_CONDITIONAL_REQUIRED_PROPERTY"
        assert failure.detail == MESSAGE and failure.http_status == 400
    assert out.updated == {str(i) for i in range(1, 101)} - {"7", "19", "33"} and out.not_found == set()
    # The 97 records that cannot break the rule (no trigger, or a company sent) went through in one resend;
    # only the 3 suspects were split: 6 requests, where bisecting the batch would take about 20.
    sizes = [len(r.body["inputs"]) for r in srv.requests]
    assert sizes[:2] == [100, 97] and sorted(sizes[2:]) == [1, 1, 1, 2]


def test_a_suspect_with_a_stored_value_is_updated(fake: Any) -> None:
    srv = fake(portal(stored_company={"2"}))  # HubSpot already has a company for 2
    with client_for(srv, api_version="2026-09") as client:
        out = client.update(rows(4, {1, 2}, set()))
    assert set(out.failed) == {"1"} and out.updated == {"2", "3", "4"}


def test_without_the_rules_basis_in_the_message_the_batch_is_bisected(fake: Any) -> None:
    srv = fake(portal(stored_company=set(), message="A value for company must be provided"))
    with client_for(srv, api_version="2026-09") as client:
        out = client.update(rows(50, {10, 11, 40}, {11}))
    assert set(out.failed) == {"10", "40"} and len(out.updated) == 48
    assert all(f.code == "MISSING_CONDITIONAL_REQUIRED_PROPERTY" for f in out.failed.values())


def test_records_a_400_names_by_trace_id_fail_and_the_rest_is_resent_once(fake: Any) -> None:
    def handle(req: Req) -> Reply:
        inputs = req.body["inputs"]
        named = [i["objectWriteTraceId"] for i in inputs if i["id"] in ("3", "8")]
        if named:
            detail = {"code": "MISSING_CONDITIONAL_REQUIRED_PROPERTY", "message": "company is required",
                      "context": {"propertyName": ["company"], "objectWriteTraceId": named}}  # fmt: skip
            return Reply(400, {"status": "error", "category": "VALIDATION_ERROR", "message": "invalid",
                               "errors": [detail]})  # fmt: skip
        return Reply(200, batch_body([contact(i["id"]) for i in inputs], []))

    srv = fake(handle)
    with client_for(srv, api_version="2026-09") as client:
        out = client.update(rows(10, set(), set()))
    assert set(out.failed) == {"3", "8"} and out.failed["3"].detail == "company is required"
    assert len(out.updated) == 8 and len(srv.requests) == 2


def test_a_property_error_still_stops_the_run(fake: Any) -> None:
    body = {"status": "error", "category": "VALIDATION_ERROR", "message": "bad",
            "errors": [{"code": "PROPERTY_DOESNT_EXIST", "message": "Property \"x\" does not exist",
                        "context": {"propertyName": ["x"]}}]}  # fmt: skip
    srv = fake(lambda req: Reply(400, body))
    with client_for(srv, api_version="2026-09") as client, pytest.raises(PropertyError) as exc:
        client.update(rows(5, set(), set()))
    assert exc.value.property_name == "x" and exc.value.call == f"POST {UPDATE_0926}"


@pytest.mark.parametrize("version", ["2026-09", "2026-03"])
def test_against_the_sandboxs_rules(version: str) -> None:
    people = [{"email": f"p{i}@example.com", "firstname": f"F{i}"} for i in range(1, 251)]
    people[4]["company"] = "Stored Co"  # p5 already has one
    rule = {"company": ("lifecyclestage", "customer")}
    with sandbox(contacts=people, required_when=rule) as sb, sb_client(sb, api_version=version) as client:
        inputs = [
            (str(i), {"lifecyclestage": "customer"} if i % 25 == 5 else {"firstname": f"G{i}"})
            for i in range(1, 251)
        ]
        out = client.update(inputs)
        contacts = by_email(sb)
    breakers = {str(i) for i in range(1, 251) if i % 25 == 5} - {"5"}
    if version == "2026-03":  # earlier versions ignore the portal's rules
        assert out.failed == {} and len(out.updated) == 250
        return
    assert set(out.failed) == breakers
    assert {f.code for f in out.failed.values()} == {"MISSING_CONDITIONAL_REQUIRED_PROPERTY"}
    assert all("[lifecyclestage]" in f.detail for f in out.failed.values())
    assert out.updated == {str(i) for i in range(1, 251)} - breakers
    assert (
        contacts["p5@example.com"]["lifecyclestage"] == "customer"
        and "lifecyclestage" not in contacts["p30@example.com"]
    )
    assert contacts["p2@example.com"]["firstname"] == "G2"
