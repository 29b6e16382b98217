"""The sandbox's CRM search (`POST .../contacts/search`): filters and their operators, groups, sorts, properties,
paging and the 10,000 cap, HubSpot's filter limits, search's own rate limit (SECONDLY, no rate headers), the
indexing lag, `hs_additional_emails`, and the admin endpoints that change contacts between runs. Every response
is validated against the official specs; the official client searches unchanged."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest

from .helpers import hubspot_client, session_for

SEARCH = "/crm/v3/objects/contacts/search"
PEOPLE = [
    {"email": "ada@example.com", "firstname": "Ada", "lifecyclestage": "lead", "score": "5",
     "createdate": "2026-01-01T00:00:00.000Z"},
    {"email": "bob@example.com", "firstname": "Bob", "lifecyclestage": "customer", "score": "10",
     "createdate": "2026-01-02T00:00:00.000Z"},
    {"email": "carol@example.org", "firstname": "Carol Ann", "score": "7", "createdate": "2026-01-03T00:00:00.000Z"},
    {"email": "dan@example.net", "firstname": "Dan", "lifecyclestage": "customer",
     "createdate": "2026-01-04T00:00:00.000Z"},
]  # fmt: skip
JAN2 = "1767312000000"  # 2026-01-02T00:00:00Z in epoch ms


@pytest.fixture
def people(sandbox_factory: Any) -> Any:
    # Search's own limit (5/s) is tested on its own; here it would only slow the tests down.
    return sandbox_factory(
        contacts=[dict(p) for p in PEOPLE], number_properties=("score",), search_per_second=1000
    )


@pytest.fixture
def search(people: Any, spec_checker: Any) -> Any:
    api = session_for(people, checker=spec_checker)

    def run(*groups: list[dict[str, Any]], **body: Any) -> requests.Response:
        payload = {"filterGroups": [{"filters": g} for g in groups], **body}
        return api.post(people.url + SEARCH, json=payload)

    return run


def ids(resp: requests.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [r["id"] for r in resp.json()["results"]]


def f(name: str, op: str, value: Any = None, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"propertyName": name, "operator": op, **kw}
    if value is not None:
        out["value"] = value
    return out


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (f("lifecyclestage", "EQ", "customer"), ["2", "4"]),
        (f("email", "EQ", "ADA@example.com"), ["1"]),  # strings compare case-insensitively
        (f("lifecyclestage", "NEQ", "customer"), ["1", "3"]),
        (f("score", "GT", "5"), ["2", "3"]),  # a number property compares as numbers (10 > 5)
        (f("score", "GTE", "7"), ["2", "3"]),
        (f("score", "LT", "7"), ["1"]),
        (f("score", "LTE", "7"), ["1", "3"]),
        (f("score", "BETWEEN", "6", highValue="10"), ["2", "3"]),
        (f("createdate", "GTE", JAN2), ["2", "3", "4"]),  # datetimes by epoch ms
        (f("createdate", "LT", "2026-01-02T00:00:00Z"), ["1"]),  # or ISO 8601
        (f("lifecyclestage", "IN", values=["lead", "customer"]), ["1", "2", "4"]),
        (f("lifecyclestage", "NOT_IN", values=["lead"]), ["2", "3", "4"]),
        (f("lifecyclestage", "HAS_PROPERTY"), ["1", "2", "4"]),
        (f("lifecyclestage", "NOT_HAS_PROPERTY"), ["3"]),
        (f("firstname", "CONTAINS_TOKEN", "ann"), ["3"]),
        (f("email", "CONTAINS_TOKEN", "*@example.com"), ["1", "2"]),
        (f("firstname", "NOT_CONTAINS_TOKEN", "ann"), ["1", "2", "4"]),
    ],
)
def test_each_operator(search: Any, flt: dict[str, Any], expected: list[str]) -> None:
    assert ids(search([flt])) == expected


def test_groups_are_ored_and_filters_anded(search: Any) -> None:
    customers_scoring = [f("lifecyclestage", "EQ", "customer"), f("score", "HAS_PROPERTY")]
    assert ids(search(customers_scoring)) == ["2"]
    assert ids(search(customers_scoring, [f("firstname", "EQ", "Ada")])) == ["1", "2"]
    assert ids(search()) == ["1", "2", "3", "4"]  # no filter: everything, in record id order


def test_sorts_properties_and_defaults(search: Any) -> None:
    r = search(sorts=[{"propertyName": "score", "direction": "DESCENDING"}], properties=["score"])
    assert ids(r) == ["2", "3", "1", "4"]  # without the property: last
    assert set(r.json()["results"][0]["properties"]) == {"score", "hs_object_id", "lastmodifieddate"}
    assert ids(search(sorts=["-createdate"])) == ["4", "3", "2", "1"]  # the spec's string form
    assert ids(search(sorts=["firstname"])) == ["1", "2", "3", "4"]
    default = search().json()["results"][0]["properties"]
    # HubSpot's default properties for a contacts search.
    assert set(default) == {"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate"}
    assert default["createdate"] == "2026-01-01T00:00:00.000Z"


def test_limit_and_after_page_through(search: Any) -> None:
    first = search(limit=3)
    assert ids(first) == ["1", "2", "3"] and first.json()["total"] == 4
    after = first.json()["paging"]["next"]["after"]
    last = search(limit=3, after=after)
    assert ids(last) == ["4"] and "paging" not in last.json()
    assert len(ids(search(limit=0))) == 0 and search(limit=0).json()["total"] == 4


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 201},
        {"limit": -1},
        {"after": "not-a-cursor"},
        {"filterGroups": [{"filters": [f("email", "LIKE", "x")]}]},
        {"filterGroups": [{"filters": [f("no_such_property", "EQ", "x")]}]},
        {"filterGroups": [{"filters": [f("email", "HAS_PROPERTY")]}] * 6},  # 6 groups (5 allowed)
        {"filterGroups": [{"filters": [f("email", "HAS_PROPERTY")] * 7}]},  # 7 filters in a group (6)
        {"filterGroups": [{"filters": [f("email", "HAS_PROPERTY")] * 5}] * 4},  # 20 filters (18 in all)
    ],
)
def test_requests_past_hubspots_limits_are_400(people: Any, spec_checker: Any, body: dict[str, Any]) -> None:
    r = session_for(people, checker=spec_checker).post(people.url + SEARCH, json=body)
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"


def test_filter_limits_at_their_edges_pass(search: Any) -> None:
    assert search(*([[f("email", "HAS_PROPERTY")] * 3] * 5)).status_code == 200  # 5 groups, 15 filters
    assert search(*([[f("email", "HAS_PROPERTY")] * 6] * 3)).status_code == 200  # 6 a group, 18 in all


def test_results_stop_at_10000_while_total_counts_all(sandbox_factory: Any, spec_checker: Any) -> None:
    many = [{"email": f"p{i}@example.com"} for i in range(10_050)]
    sb = sandbox_factory(contacts=many, search_per_second=1000)
    api = session_for(sb, checker=spec_checker)
    url = sb.url + SEARCH
    r = api.post(url, json={"limit": 200, "after": "9900", "properties": ["email"]})
    assert r.status_code == 200 and r.json()["total"] == 10_050
    assert len(r.json()["results"]) == 100  # the 10,000th result is the last one listed
    # The cursor still points past it, and following it is HubSpot's 400.
    after = r.json()["paging"]["next"]["after"]
    assert after == "10000"
    r = api.post(url, json={"limit": 10, "after": after})
    assert r.status_code == 400 and "10000" in r.json()["message"]
    small = api.post(
        url,
        json={
            "limit": 200,
            "after": "9000",
            "filterGroups": [{"filters": [f("email", "EQ", "p1@example.com")]}],
        },
    )
    assert small.json()["total"] == 1 and "paging" not in small.json()


def test_search_has_its_own_secondly_limit_and_no_rate_headers(
    sandbox_factory: Any, spec_checker: Any
) -> None:
    sb = sandbox_factory(rate_max=3)
    api = session_for(sb, checker=spec_checker)
    answers = [api.post(sb.url + SEARCH, json={}) for _ in range(6)]
    assert [a.status_code for a in answers[:5]] == [200] * 5
    refused = answers[5]
    assert refused.status_code == 429
    body = refused.json()
    assert body["policyName"] == "SECONDLY" and body["message"] == "You have reached your secondly limit."
    assert body["errorType"] == "RATE_LIMIT" and body["groupName"]
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for a in answers for h in a.headers)
    # Searches are outside the ten-secondly window: three more requests of the window still go through.
    reads = [api.get(sb.url + "/crm/v3/properties/contacts") for _ in range(3)]
    assert [r.status_code for r in reads] == [200] * 3 and reads[0].headers["X-HubSpot-RateLimit-Max"] == "3"
    time.sleep(1.05)
    assert api.post(sb.url + SEARCH, json={}).status_code == 200  # the second has passed


def test_results_lag_writes_by_the_indexing_lag(sandbox_factory: Any, spec_checker: Any) -> None:
    sb = sandbox_factory(search_lag_ms=400, search_per_second=1000)
    api = session_for(sb, checker=spec_checker)

    def named(first: str) -> list[str]:
        return ids(
            api.post(sb.url + SEARCH, json={"filterGroups": [{"filters": [f("firstname", "EQ", first)]}]})
        )

    api.patch(sb.url + "/crm/v3/objects/contacts/1", json={"properties": {"firstname": "Augusta"}})
    created = sb.create_contact({"email": "new@example.com", "firstname": "Newt"})
    sb.delete_contact("3")
    assert (
        named("Augusta") == [] and named("Ada") == ["1"] and named("Newt") == [] and named("Carol") == ["3"]
    )
    time.sleep(0.5)
    assert named("Augusta") == ["1"] and named("Ada") == [] and named("Newt") == [created["id"]]
    assert named("Carol") == []


def test_admin_creates_contacts_with_createdate_now_or_given(sandbox: Any) -> None:
    before = time.time()
    r = requests.post(
        sandbox.url + "/__sandbox__/contacts", json={"properties": {"email": "eve@example.com"}}
    )
    assert r.status_code == 201
    made = r.json()
    stamp = (
        time.mktime(time.strptime(made["properties"]["createdate"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    )
    assert before - 2 <= stamp <= time.time() + 1 and made["id"] == "1002"  # above every existing id
    given = sandbox.create_contact({"email": "old@example.com"}, createdate="1767225600000")
    assert given["properties"]["createdate"] == "2026-01-01T00:00:00.000Z"
    r = requests.post(
        sandbox.url + "/__sandbox__/contacts", json={"properties": {"email": "EVE@example.com"}}
    )
    assert r.status_code == 409  # an email another contact has
    assert sandbox.stats()["contacts_created"] == 2


def test_changed_email_keeps_the_old_one_as_an_additional_email(
    sandbox_factory: Any, spec_checker: Any
) -> None:
    sandbox = sandbox_factory(search_per_second=1000)
    api = session_for(sandbox, checker=spec_checker)
    r = requests.post(sandbox.url + "/__sandbox__/contacts/1/email", json={"email": "ada@lovelace.org"})
    assert r.status_code == 200 and r.json()["properties"]["hs_additional_emails"] == "ada@example.com"

    def by_email(email: str) -> list[str]:
        flt = {
            "filterGroups": [{"filters": [f("email", "EQ", email)]}],
            "properties": ["email", "hs_additional_emails"],
        }
        return ids(api.post(sandbox.url + SEARCH, json=flt))

    # email EQ finds a contact by an additional email too; batch/read by the old email still finds it.
    assert by_email("ada@lovelace.org") == ["1"] and by_email("ada@example.com") == ["1"]
    read = {
        "idProperty": "email",
        "properties": ["email"],
        "propertiesWithHistory": [],
        "inputs": [{"id": "ada@example.com"}],
    }
    r = api.post(sandbox.url + "/crm/v3/objects/contacts/batch/read", json=read)
    assert r.status_code == 200 and r.json()["results"][0]["properties"]["email"] == "ada@lovelace.org"
    sandbox.change_email("2", "bob@new.example", keep_old=False)
    assert by_email("Bob@Example.com") == [] and by_email("bob@new.example") == ["2"]
    sandbox.merge_contacts("3", "1")  # a merge keeps the merged contact's email on the primary
    extras = {c["id"]: c["properties"].get("hs_additional_emails") for c in sandbox.contacts()}
    assert extras["1"] == "ada@example.com;carol@example.org" and by_email("carol@example.org") == ["1"]
    r = requests.post(sandbox.url + "/__sandbox__/contacts/77/email", json={"email": "x@example.com"})
    assert r.status_code == 404
    r = requests.post(sandbox.url + "/__sandbox__/contacts/2/email", json={"email": "dan@example.net"})
    assert r.status_code == 409


def test_hs_additional_emails_is_read_only_for_api_writes(api: Any) -> None:
    body = {"inputs": [{"id": "1", "properties": {"hs_additional_emails": "x@example.com"}}]}
    r = api.post(api.base + "/crm/v3/objects/contacts/batch/update", json=body)
    assert r.status_code == 400 and "READ_ONLY_VALUE" in r.text


def test_the_official_client_searches_unchanged(people: Any) -> None:
    hs = hubspot_client(people)
    request = PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(filters=[Filter(property_name="lifecyclestage", operator="EQ", value="customer")])
        ],
        sorts=["-createdate"],
        properties=["email", "lifecyclestage"],
        limit=1,
    )
    page = hs.crm.contacts.search_api.do_search(public_object_search_request=request)
    assert page.total == 2 and [r.id for r in page.results] == ["4"]
    assert page.results[0].properties["lifecyclestage"] == "customer"
    request.after = page.paging.next.after
    page = hs.crm.contacts.search_api.do_search(public_object_search_request=request)
    assert [r.id for r in page.results] == ["2"] and page.paging is None
