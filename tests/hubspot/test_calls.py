"""The HubSpot calls (`hubspot.client`) against a scripted HubSpot on loopback: parsing by id, 400 isolation,
lists and properties, concurrency."""

from __future__ import annotations

import math
import re
import time
from typing import Any

import pytest

from dbt_hubspot_sync.hubspot import (
    BATCH_SIZE,
    HubSpotError,
    PropertyError,
)

from .helpers import (
    READ,
    UPDATE,
    Reply,
    Req,
    bad_email,
    batch_body,
    client_for,
    contact,
    not_found,
    option_error,
    rows,
    updater,
)


# ---------------------------------------------------------------------------------------------------------
# Parsing by id
# ---------------------------------------------------------------------------------------------------------
def test_read_ids_by_email_by_id_case_insensitive_and_chunked(fake) -> None:
    known = {f"user{i}@example.com": str(1000 + i) for i in range(0, 250, 2)}  # every other one exists

    def handle(req: Req) -> Reply:
        assert (req.method, req.path) == ("POST", READ)
        assert req.body["idProperty"] == "email" and "email" in req.body["properties"]
        assert len(req.body["inputs"]) <= BATCH_SIZE
        asked = [i["id"] for i in req.body["inputs"]]
        hits = [a for a in asked if a.lower() in known]
        misses = [a for a in asked if a.lower() not in known]
        # Results reversed and with HubSpot's own (upper) case for the email.
        results = [contact(known[a.lower()], email=a.upper()) for a in reversed(hits)]
        return Reply(207, batch_body(results, [not_found(misses)] if misses else []))

    srv = fake(handle)
    emails = [f"User{i}@Example.COM" for i in range(250)] + ["user0@example.com"]  # a case-duplicate
    with client_for(srv) as client:
        found = client.read_ids_by_email(emails)
        assert found == known
        assert srv.count(READ) == 3  # 250 unique emails / 100
        assert client.stats.requests == 3


def test_update_parses_207_by_id_not_position(fake) -> None:
    srv = fake(updater(known=lambda rid: int(rid) % 3 != 0))
    with client_for(srv) as client:
        out = client.update(rows(10))
    assert out.updated == {str(i) for i in range(1, 11) if i % 3}
    assert out.not_found == {"3", "6", "9"}
    assert out.failed == {}
    sent = srv.requests[0].body["inputs"][0]
    assert sent["id"] == "1" and sent["properties"] == {"firstname": "F1"} and "idProperty" not in sent


def test_update_207_per_input_errors_by_trace_id(fake) -> None:
    def handle(req: Req) -> Reply:
        inputs = req.body["inputs"]
        err = {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": "Property values were not valid: "
            '[{"isValid":false,"message":"Email address x@y.con is '
            'invalid","error":"INVALID_EMAIL","name":"email"}]',
            "context": {"objectWriteTraceId": [inputs[1]["objectWriteTraceId"]]},
        }
        results = [contact(i["id"]) for i in inputs if i["id"] != inputs[1]["id"]]
        return Reply(207, batch_body(results, [err]))

    srv = fake(handle)
    with client_for(srv) as client:
        out = client.update(rows(3))
    assert out.updated == {"1", "3"}
    assert out.failed["2"].code == "INVALID_EMAIL" and out.failed["2"].http_status == 207
    assert out.failed["2"].detail == "Email address x@y.con is invalid"


def test_update_207_per_input_property_error_stops(fake) -> None:
    def handle(req: Req) -> Reply:
        inputs = req.body["inputs"]
        err = {
            "status": "error",
            "category": "VALIDATION_ERROR",
            "message": "Property values were not valid: "
            '[{"isValid":false,"message":"Property \\"shoe\\" does not exist",'
            '"error":"PROPERTY_DOESNT_EXIST","name":"shoe"}]',
            "context": {"objectWriteTraceId": [i["objectWriteTraceId"] for i in inputs]},
        }
        return Reply(207, batch_body([], [err]))

    srv = fake(handle)
    with client_for(srv) as client:
        with pytest.raises(PropertyError) as info:
            client.update(rows(3, shoe="9"))
    assert (info.value.code, info.value.property_name) == ("PROPERTY_DOESNT_EXIST", "shoe")
    assert info.value.outcome_so_far is not None
    assert set(info.value.outcome_so_far.failed) == {"1", "2", "3"}


def test_update_ids_missing_from_a_200_are_failed_not_lost(fake) -> None:
    srv = fake(lambda req: Reply(200, batch_body([contact("1")], [])))
    with client_for(srv) as client:
        out = client.update(rows(2))
    assert out.updated == {"1"} and out.failed["2"].code == "NOT_IN_RESPONSE"


# ---------------------------------------------------------------------------------------------------------
# Whole-batch 400 recovery
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("offenders", [1, 2])
def test_400_naming_invalid_emails_fails_them_and_resends_the_rest(fake, offenders: int) -> None:
    batch = [(str(i), {"email": f"p{i}@example.com"}) for i in range(1, 101)]
    bad_addresses = {"p7@example.con", "p50@example.con"} if offenders == 2 else {"p7@example.con"}
    for i, (rid, props) in enumerate(batch):
        if props["email"].replace(".com", ".con") in bad_addresses:
            batch[i] = (rid, {"email": props["email"].replace(".com", ".con")})
    srv = fake(updater(bad_email(bad_addresses)))
    with client_for(srv) as client:
        out = client.update(batch)
    failed_ids = {"7", "50"} if offenders == 2 else {"7"}
    assert set(out.failed) == failed_ids
    assert all(f.code == "INVALID_EMAIL" and f.http_status == 400 for f in out.failed.values())
    assert out.updated == {str(i) for i in range(1, 101)} - failed_ids
    assert srv.count(UPDATE) == 2  # the batch, then the rest


def test_400_duplicate_ids_named_in_context(fake) -> None:
    def handle(req: Req) -> Reply:
        ids = [i["id"] for i in req.body["inputs"]]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            return Reply(
                400,
                {
                    "status": "error",
                    "message": f"Duplicate IDs found in batch input: [{', '.join(dupes)}]. "
                    "IDs must be unique",
                    "correlationId": "d1ace858-83f2-4266-b681-ad412ecb165d",
                    "context": {"ids": dupes},
                    "category": "VALIDATION_ERROR",
                },
            )
        return Reply(200, batch_body([contact(i) for i in ids], []))

    srv = fake(handle)
    with client_for(srv) as client:
        out = client.update(rows(5) + [("3", {"firstname": "again"})])
    assert set(out.failed) == {"3"} and out.failed["3"].code == "DUPLICATE_ID"
    assert out.updated == {"1", "2", "4", "5"}
    assert srv.count(UPDATE) == 2


@pytest.mark.parametrize("bad_rows", [[], [37], [5, 88]])
def test_400_naming_no_record_is_bisected_within_bound(fake, bad_rows: list[int]) -> None:
    batch = [(str(i), {"lifecyclestage": "bogus" if i in bad_rows else "lead"}) for i in range(1, 101)]
    srv = fake(updater(option_error(hint_value=False)))
    with client_for(srv) as client:
        out = client.update(batch)
    assert set(out.failed) == {str(i) for i in bad_rows}
    assert all(f.code == "INVALID_OPTION" and f.http_status == 400 for f in out.failed.values())
    assert out.updated == {str(i) for i in range(1, 101)} - set(out.failed)
    bound = 1 + len(bad_rows) * 2 * math.ceil(math.log2(100))  # ~2·log2(batch) extra requests per bad record
    assert srv.count(UPDATE) <= bound
    if not bad_rows:
        assert srv.count(UPDATE) == 1


def test_400_invalid_option_quoting_the_value_is_resolved_without_bisecting(fake) -> None:
    batch = [(str(i), {"lifecyclestage": "Veza" if i in (3, 60) else "lead"}) for i in range(1, 101)]
    srv = fake(updater(option_error(hint_value=True)))
    with client_for(srv) as client:
        out = client.update(batch)
    assert set(out.failed) == {"3", "60"} and out.failed["3"].code == "INVALID_OPTION"
    assert srv.count(UPDATE) == 2


def test_property_doesnt_exist_raises_property_error_with_outcome_so_far(fake) -> None:
    def bad(inp: dict[str, Any]) -> dict[str, str] | None:
        if "favourite_food" in inp["properties"]:
            return {"isValid": False, "message": 'Property "favourite_food" does not exist',
                    "error": "PROPERTY_DOESNT_EXIST", "name": "favourite_food"}  # fmt: skip
        return None

    srv = fake(updater(bad))
    batch = rows(100) + rows(100, start=101, favourite_food="pie") + rows(50, start=201)
    with client_for(srv, concurrency=1) as client:
        with pytest.raises(PropertyError) as info:
            client.update(batch)
    err = info.value
    assert (err.code, err.property_name, err.status) == ("PROPERTY_DOESNT_EXIST", "favourite_food", 400)
    assert err.call == f"POST {UPDATE}" and "favourite_food" in str(err)
    assert err.outcome_so_far is not None
    assert err.outcome_so_far.updated == {str(i) for i in range(1, 101)}  # chunk 1 done, the rest unsent
    assert srv.count(UPDATE) == 2


# ---------------------------------------------------------------------------------------------------------
# Lists, properties, concurrency
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("added_key", ["recordsIdsAdded", "recordIdsAdded"])
def test_add_to_list_accepts_both_spellings(fake, added_key: str) -> None:
    def handle(req: Req) -> Reply:
        assert req.method == "PUT" and req.path == "/crm/v3/lists/42/memberships/add"
        assert isinstance(req.body, list)
        ids = req.body
        return Reply(200, {added_key: [i for i in ids if i != "2" and i != "3"], "recordIdsMissing": ["3"],
                           "recordIdsRemoved": []})  # fmt: skip

    srv = fake(handle)
    with client_for(srv) as client:
        out = client.add_to_list("42", ["1", "2", "3", "4", "1"])
    assert (out.added, out.missing, out.already) == ({"1", "4"}, {"3"}, {"2"})


def test_get_list_and_properties(fake) -> None:
    def handle(req: Req) -> Reply:
        if req.path == "/crm/v3/lists/7":
            return Reply(200, {"list": {"listId": "7", "processingType": "MANUAL", "size": 3}})
        if req.path == "/crm/v3/properties/contacts":
            return Reply(200, {"results": [{"name": "email", "type": "string"}]})
        return Reply(404, {"status": "error", "message": "not found", "category": "OBJECT_NOT_FOUND"})

    srv = fake(handle)
    with client_for(srv) as client:
        assert client.get_list("7")["processingType"] == "MANUAL"
        assert client.get_properties() == [{"name": "email", "type": "string"}]
        with pytest.raises(HubSpotError) as info:
            client.get_list("8")
    assert info.value.status == 404 and info.value.call == "GET /crm/v3/lists/8"


def test_update_chunks_run_concurrently(fake) -> None:
    def handle(req: Req) -> Reply:
        reply = updater()(req)
        reply.delay = 0.15
        return reply

    srv = fake(handle)
    with client_for(srv, concurrency=4) as client:
        start = time.monotonic()
        out = client.update(rows(800))
        elapsed = time.monotonic() - start
    assert len(out.updated) == 800 and srv.count(UPDATE) == 8
    assert 3 <= srv.max_in_flight <= 2 * 4  # the client's pool: two callers' worth of `concurrency`
    assert elapsed < 8 * 0.15 * 0.7  # well under sequential time


def test_never_upserts_or_creates(fake) -> None:
    srv = fake(updater())
    with client_for(srv) as client:
        client.update(rows(5))
    assert all(not re.search(r"/batch/(upsert|create)", r.path) for r in srv.requests)
