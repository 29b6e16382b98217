"""The sandbox's contact object endpoints over real HTTP (batch read/update/upsert/create, one record, result
order, concurrent writes); every response is validated against the official specs."""

from __future__ import annotations

import json
import threading
from typing import Any

import requests

from .helpers import CREATE, READ, UPDATE, UPSERT, by_id, post, read_emails, session_for


# -- batch/read ------------------------------------------------------------------------------------------
def test_batch_read_by_email_all_found_case_insensitive(api: requests.Session) -> None:
    r = read_emails(api, ["ADA@example.com", "bob@example.com"])
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "COMPLETE" and "errors" not in body
    got = by_id(body["results"])
    assert set(got) == {"1", "2"}
    assert got["1"]["properties"]["firstname"] == "Ada"
    assert got["1"]["properties"]["hs_object_id"] == "1"
    assert got["2"]["properties"]["email"] == "Bob@Example.com"
    assert (
        "lastname" not in got["1"]["properties"]
    )  # only what was asked (plus hs_object_id/lastmodifieddate)
    assert got["1"]["archived"] is False and got["1"]["createdAt"].endswith("Z")


def test_batch_read_207_groups_misses_in_one_error(api: requests.Session) -> None:
    r = read_emails(api, ["ada@example.com", "nobody@example.com", "ghost@example.com"])
    assert r.status_code == 207
    body = r.json()
    assert [x["id"] for x in body["results"]] == ["1"]
    assert body["numErrors"] == 1 and len(body["errors"]) == 1
    err = body["errors"][0]
    assert err["category"] == "OBJECT_NOT_FOUND" and err["status"] == "error"
    assert err["context"]["ids"] == ["nobody@example.com", "ghost@example.com"]


def test_batch_read_none_found_is_still_207(api: requests.Session) -> None:
    r = read_emails(api, ["nobody@example.com"])
    assert r.status_code == 207
    assert r.json()["results"] == []
    assert r.json()["errors"][0]["context"]["ids"] == ["nobody@example.com"]


def test_batch_read_by_record_id_and_explicit_id(api: requests.Session) -> None:
    r = post(api, READ, {"properties": ["email"], "propertiesWithHistory": [], "inputs": [{"id": "1001"}]})
    assert r.status_code == 200
    assert r.json()["results"][0]["properties"]["email"] == "dan@example.net"


def test_batch_read_over_100_inputs_is_400(api: requests.Session) -> None:
    r = read_emails(api, [f"u{i}@example.com" for i in range(101)])
    assert r.status_code == 400
    assert r.json()["category"] == "VALIDATION_ERROR"
    assert r.json()["message"].startswith("The maximum number of inputs supported in a batch request is 100")


def test_batch_read_history_limit_is_50(api: requests.Session) -> None:
    body = {
        "properties": [],
        "propertiesWithHistory": ["firstname"],
        "inputs": [{"id": str(i)} for i in range(51)],
    }
    r = post(api, READ, body)
    assert r.status_code == 400 and "property histories is 50" in r.json()["message"]


# -- batch/update ----------------------------------------------------------------------------------------
def test_batch_update_writes_and_returns_results_out_of_input_order(
    api: requests.Session, sandbox: Any
) -> None:
    before = {c["id"]: c for c in sandbox.contacts()}
    inputs = [{"id": "1", "properties": {"firstname": "Ada2", "lastname": ""}}]
    inputs += [{"id": "2", "properties": {"lifecyclestage": "customer"}}, {"id": "3", "properties": {}}]
    inputs += [{"id": "1001", "properties": {"phone": "+1 555"}, "objectWriteTraceId": "t-4"}]
    r = post(api, UPDATE, {"inputs": inputs})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["id"] for x in results] != ["1", "2", "3", "1001"]
    got = by_id(results)
    assert set(got) == {"1", "2", "3", "1001"}
    assert got["1"]["properties"]["firstname"] == "Ada2"
    assert "lastname" not in got["1"]["properties"]
    assert got["1001"]["objectWriteTraceId"] == "t-4"
    after = {c["id"]: c for c in sandbox.contacts()}
    assert after["1"]["properties"]["firstname"] == "Ada2"
    assert "lastname" not in after["1"]["properties"]  # "" clears
    assert after["2"]["properties"]["lifecyclestage"] == "customer"
    assert after["1"]["updatedAt"] >= before["1"]["updatedAt"]
    assert after["1"]["properties"]["lastmodifieddate"] == after["1"]["updatedAt"]
    assert sandbox.stats()["contacts_updated"] == 4


def test_batch_update_unknown_ids_207(api: requests.Session, sandbox: Any) -> None:
    r = post(
        api,
        UPDATE,
        {"inputs": [{"id": "1", "properties": {"firstname": "X"}}, {"id": "999", "properties": {}}]},
    )
    assert r.status_code == 207
    body = r.json()
    assert [x["id"] for x in body["results"]] == ["1"]
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert body["errors"][0]["context"]["ids"] == ["999"]
    assert by_id(sandbox.contacts())["1"]["properties"]["firstname"] == "X"


def test_batch_update_by_email_id_property(api: requests.Session, sandbox: Any) -> None:
    inputs = [
        {"id": "bob@example.com", "idProperty": "email", "properties": {"company": "Acme"}},
        {"id": "nobody@example.com", "idProperty": "email", "properties": {"company": "Acme"}},
    ]
    r = post(api, UPDATE, {"inputs": inputs})
    assert r.status_code == 207
    assert r.json()["errors"][0]["context"]["ids"] == ["nobody@example.com"]
    assert by_id(sandbox.contacts())["2"]["properties"]["company"] == "Acme"


def test_batch_update_over_100_inputs_is_whole_batch_400(api: requests.Session, sandbox: Any) -> None:
    inputs = [{"id": "1", "properties": {"firstname": f"n{i}"}} for i in range(101)]
    r = post(api, UPDATE, {"inputs": inputs})
    assert r.status_code == 400
    assert r.json()["message"].startswith("The maximum number of inputs supported in a batch request is 100")
    assert by_id(sandbox.contacts())["1"]["properties"]["firstname"] == "Ada"


def test_batch_update_duplicate_ids_400(api: requests.Session) -> None:
    inputs = [{"id": "1", "properties": {}}, {"id": "2", "properties": {}}, {"id": "1", "properties": {}}]
    r = post(api, UPDATE, {"inputs": inputs})
    assert r.status_code == 400
    body = r.json()
    assert body["message"] == "Duplicate IDs found in batch input: [1]. IDs must be unique"
    assert body["context"] == {"ids": ["1"]}
    assert body["category"] == "VALIDATION_ERROR"


def _embedded(message: str) -> list[dict[str, Any]]:
    prefix = "Property values were not valid: "
    assert message.startswith(prefix)
    return json.loads(message[len(prefix) :])


def test_batch_update_unknown_property_one_error_per_input_and_property(
    api: requests.Session, sandbox: Any
) -> None:
    inputs = [
        {"id": "1", "properties": {"first000name": "a", "last000name": "b", "firstname": "ok"}},
        {"id": "2", "properties": {"first000name": "c"}},
    ]
    r = post(api, UPDATE, {"inputs": inputs})
    assert r.status_code == 400
    body = r.json()
    assert body["category"] == "VALIDATION_ERROR"
    names = [e["context"]["propertyName"][0] for e in body["errors"]]
    assert names == ["first000name", "last000name", "first000name"]
    assert {e["code"] for e in body["errors"]} == {"PROPERTY_DOESNT_EXIST"}
    assert body["errors"][0]["message"] == 'Property "first000name" does not exist'
    items = _embedded(body["message"])
    assert [i["name"] for i in items] == names
    assert items[0] == {
        "isValid": False,
        "message": 'Property "first000name" does not exist',
        "error": "PROPERTY_DOESNT_EXIST",
        "name": "first000name",
    }
    assert by_id(sandbox.contacts())["1"]["properties"]["firstname"] == "Ada"  # nothing written


def test_batch_update_read_only_and_bad_option(api: requests.Session) -> None:
    inputs = [
        {"id": "1", "properties": {"hs_object_id": "7", "createdate": ""}},
        {"id": "2", "properties": {"lifecyclestage": "vip"}},
    ]
    r = post(api, UPDATE, {"inputs": inputs})
    assert r.status_code == 400
    codes = [(e["code"], e["context"]["propertyName"][0]) for e in r.json()["errors"]]
    assert codes == [
        ("READ_ONLY_VALUE", "hs_object_id"),
        ("READ_ONLY_VALUE", "createdate"),
        ("INVALID_OPTION", "lifecyclestage"),
    ]
    assert "vip was not one of the allowed options: [subscriber, lead," in r.json()["message"]


def test_batch_update_invalid_email_value(api: requests.Session, sandbox: Any) -> None:
    inputs = [
        {"id": "1", "properties": {"email": "ada@example.con"}},
        {"id": "2", "properties": {"firstname": "B"}},
    ]
    r = post(api, UPDATE, {"inputs": inputs})
    assert r.status_code == 400
    body = r.json()
    assert _embedded(body["message"]) == [
        {
            "isValid": False,
            "message": "Email address ada@example.con is invalid",
            "error": "INVALID_EMAIL",
            "name": "email",
        }
    ]
    assert body["errors"] == [
        {
            "message": "Email address ada@example.con is invalid",
            "code": "INVALID_EMAIL",
            "context": {"propertyName": ["email"]},
        }
    ]
    assert by_id(sandbox.contacts())["2"]["properties"]["firstname"] == "Bob"  # whole batch refused


def test_quoted_local_part_and_unicode_tld(api: requests.Session) -> None:
    r = post(api, UPDATE, {"inputs": [{"id": "1", "properties": {"email": '"ada x"@example.com'}}]})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "INVALID_EMAIL"
    r = post(api, UPDATE, {"inputs": [{"id": "1", "properties": {"email": "ada@example.рф"}}]})
    assert r.status_code == 200


def test_updating_email_keeps_the_index(api: requests.Session) -> None:
    r = post(api, UPDATE, {"inputs": [{"id": "1", "properties": {"email": "ada.l@example.com"}}]})
    assert r.status_code == 200
    r = read_emails(api, ["ada@example.com", "ADA.L@example.com"])
    assert r.status_code == 207
    assert [x["id"] for x in r.json()["results"]] == ["1"]
    assert r.json()["errors"][0]["context"]["ids"] == ["ada@example.com"]


def test_email_taken_by_another_contact_is_409(api: requests.Session, sandbox: Any) -> None:
    r = post(api, UPDATE, {"inputs": [{"id": "1", "properties": {"email": "bob@example.com"}}]})
    assert r.status_code == 409 and r.json()["category"] == "CONFLICT"
    assert by_id(sandbox.contacts())["1"]["properties"]["email"] == "ada@example.com"


# -- upsert / create -------------------------------------------------------------------------------------
def test_batch_upsert_updates_and_creates(api: requests.Session, sandbox: Any) -> None:
    inputs = [
        {"id": "ada@example.com", "idProperty": "email", "properties": {"firstname": "A"}},
        {"id": "new@example.com", "idProperty": "email", "properties": {"firstname": "N"}},
    ]
    r = post(api, UPSERT, {"inputs": inputs})
    assert r.status_code == 200
    got = {x["properties"].get("firstname"): x for x in r.json()["results"]}
    assert got["A"]["new"] is False and got["A"]["id"] == "1"
    assert got["N"]["new"] is True and int(got["N"]["id"]) > 1001
    assert sandbox.stats()["contacts_created"] == 1
    r = read_emails(api, ["new@example.com"])
    assert r.status_code == 200


def test_batch_create_201(api: requests.Session, sandbox: Any) -> None:
    r = post(api, CREATE, {"inputs": [{"properties": {"email": "c1@example.com"}, "associations": []}]})
    assert r.status_code == 201
    assert r.json()["results"][0]["properties"]["hs_object_id"] == r.json()["results"][0]["id"]
    r = post(api, CREATE, {"inputs": [{"properties": {"email": "c1@example.com"}}]})
    assert r.status_code == 409
    assert sandbox.stats()["contacts_created"] == 1


# -- single record ---------------------------------------------------------------------------------------
def test_get_and_patch_single_contact(api: requests.Session) -> None:
    base = api.base + "/crm/v3/objects/contacts/"  # type: ignore[attr-defined]
    r = api.get(base + "1", params={"properties": "firstname,lastname"})
    assert r.status_code == 200 and r.json()["properties"]["lastname"] == "Lovelace"
    r = api.get(base + "bob%40example.com", params={"idProperty": "email"})
    assert r.status_code == 200 and r.json()["id"] == "2"
    r = api.get(base + "424242")
    assert r.status_code == 404 and r.json()["category"] == "OBJECT_NOT_FOUND"
    r = api.patch(
        base + "carol@example.org", params={"idProperty": "email"}, json={"properties": {"phone": "1"}}
    )
    assert r.status_code == 200 and r.json()["properties"]["phone"] == "1"
    r = api.patch(base + "3", json={"properties": {"nope": "1"}})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    r = api.patch(base + "999", json={"properties": {"phone": "1"}})
    assert r.status_code == 404


# -- result order, concurrency ---------------------------------------------------------------------------
def test_two_results_are_never_in_input_order(api: requests.Session) -> None:
    for _ in range(5):
        r = post(api, UPDATE, {"inputs": [{"id": "1", "properties": {}}, {"id": "2", "properties": {}}]})
        assert [x["id"] for x in r.json()["results"]] == ["2", "1"]


def test_concurrent_writes_are_consistent(sandbox_factory: Any) -> None:
    sb = sandbox_factory(rate_max=10_000)
    errors: list[int] = []

    def worker(k: int) -> None:
        s = session_for(sb)
        for j in range(15):
            body = {"inputs": [{"id": str(1 + (k + j) % 3), "properties": {"company": f"c{k}-{j}"}}]}
            r = s.post(sb.url + UPDATE, json=body)
            if r.status_code != 200:
                errors.append(r.status_code)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sb.stats()["contacts_updated"] == 60
    assert sb.stats()["requests"]["POST " + UPDATE] == {"200": 60}
