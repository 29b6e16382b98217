"""The official `hubspot-api-client` works against the sandbox unchanged (it deserialises every response into
its generated models, which enforce the spec's required fields)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ForbiddenException, NotFoundException, UnauthorizedException
from hubspot.crm.lists import ListCreateRequest

from .helpers import hubspot_client


def read_input(emails: list[str]) -> BatchReadInputSimplePublicObjectId:
    return BatchReadInputSimplePublicObjectId(
        id_property="email",
        properties=["email", "firstname"],
        properties_with_history=[],
        inputs=[SimplePublicObjectId(id=e) for e in emails],
    )


def test_client_batch_read_parses_207(hs: Any) -> None:
    resp = hs.crm.contacts.batch_api.read(
        batch_read_input_simple_public_object_id=read_input(["ada@example.com", "nobody@example.com"])
    )
    assert [r.id for r in resp.results] == ["1"]
    assert resp.results[0].properties["firstname"] == "Ada"
    assert resp.num_errors == 1
    assert resp.errors[0].category == "OBJECT_NOT_FOUND"
    assert resp.errors[0].context["ids"] == ["nobody@example.com"]


def test_client_batch_update_and_400(hs: Any, sandbox: Any) -> None:
    api = hs.crm.contacts.batch_api
    inputs = [
        SimplePublicObjectBatchInput(id="2", properties={"firstname": "Robert"}),
        SimplePublicObjectBatchInput(id="1", properties={"lifecyclestage": "lead"}),
    ]
    resp = api.update(
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(inputs=inputs)
    )
    assert resp.status == "COMPLETE"
    assert {r.id: r.properties for r in resp.results}["2"]["firstname"] == "Robert"
    bad = [SimplePublicObjectBatchInput(id="1", properties={"email": "x@test.con"})]
    with pytest.raises(ApiException) as exc:
        api.update(
            batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(inputs=bad)
        )
    assert exc.value.status == 400
    body = json.loads(exc.value.body)
    assert body["errors"][0]["code"] == "INVALID_EMAIL"
    assert {c["id"]: c for c in sandbox.contacts()}["1"]["properties"]["lifecyclestage"] == "lead"


def test_client_upsert_create_and_single_record(hs: Any) -> None:
    batch = hs.crm.contacts.batch_api
    upsert = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[SimplePublicObjectBatchInputUpsert(id="zed@example.com", id_property="email", properties={})]
    )
    resp = batch.upsert(batch_input_simple_public_object_batch_input_upsert=upsert)
    assert resp.results[0].new is True
    create = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[SimplePublicObjectInputForCreate(properties={"email": "yan@example.com"}, associations=[])]
    )
    created = batch.create(batch_input_simple_public_object_batch_input_for_create=create)
    new_id = created.results[0].id
    basic = hs.crm.contacts.basic_api
    got = basic.get_by_id("yan@example.com", id_property="email", properties=["email"])
    assert got.id == new_id
    updated = basic.update(
        new_id, simple_public_object_input=SimplePublicObjectInput(properties={"firstname": "Y"})
    )
    assert updated.properties["firstname"] == "Y"
    with pytest.raises(NotFoundException):
        basic.get_by_id("987654")


def test_client_properties(hs: Any) -> None:
    props = {p.name: p for p in hs.crm.properties.core_api.get_all("contacts").results}
    assert props["hs_object_id"].modification_metadata.read_only_value is True
    assert "customer" in [o.value for o in props["lifecyclestage"].options]
    assert props["amperity_id"].type == "string"


def test_client_lists(hs: Any) -> None:
    lists = hs.crm.lists
    created = lists.lists_api.create(
        list_create_request=ListCreateRequest(
            name="Audience", object_type_id="0-1", processing_type="SNAPSHOT"
        )
    )
    list_id = created.list.list_id
    result = lists.memberships_api.add(list_id, request_body=["1", "3", "404"])
    assert result.records_ids_added == ["1", "3"]
    assert result.record_ids_missing == ["404"]
    assert lists.lists_api.get_by_id(list_id).list.size == 2


def test_client_401_and_403(sandbox: Any) -> None:
    with pytest.raises(UnauthorizedException) as exc:
        hubspot_client(sandbox, token="nope").crm.contacts.batch_api.read(
            batch_read_input_simple_public_object_id=read_input(["ada@example.com"])
        )
    assert json.loads(exc.value.body)["category"] == "INVALID_AUTHENTICATION"
    sandbox.add_token("lists-only", scopes={"crm.lists.read"})
    with pytest.raises(ForbiddenException) as exc:
        hubspot_client(sandbox, token="lists-only").crm.contacts.batch_api.read(
            batch_read_input_simple_public_object_id=read_input(["ada@example.com"])
        )
    body = json.loads(exc.value.body)
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.contacts.read"]


def test_client_sees_429_when_window_fills(sandbox_factory: Any) -> None:
    sb = sandbox_factory(rate_max=3, rate_window_ms=60_000)
    api = hubspot_client(sb).crm.contacts.batch_api
    for _ in range(3):
        api.read(batch_read_input_simple_public_object_id=read_input(["ada@example.com"]))
    with pytest.raises(ApiException) as exc:
        api.read(batch_read_input_simple_public_object_id=read_input(["ada@example.com"]))
    assert exc.value.status == 429
    assert json.loads(exc.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"
    assert exc.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert sb.stats()["rate_limited"] == 1


def test_client_seeded_faults(sandbox_factory: Any) -> None:
    sb = sandbox_factory(faults="503:1.0", rate_max=1000)
    with pytest.raises(ApiException) as exc:
        hubspot_client(sb).crm.contacts.batch_api.read(
            batch_read_input_simple_public_object_id=read_input(["ada@example.com"])
        )
    assert exc.value.status == 503
    sb = sandbox_factory(faults="reset:1.0", rate_max=1000)
    # No retries: the reset surfaces as urllib3's connection error.
    client = hubspot_client(sb, retry=urllib3.Retry(total=0, raise_on_status=False))
    with pytest.raises(urllib3.exceptions.HTTPError):
        client.crm.contacts.batch_api.read(
            batch_read_input_simple_public_object_id=read_input(["ada@example.com"])
        )
    assert sb.stats()["faults"] == {"reset": 1}
    assert sb.contacts()[0]["properties"]["firstname"] == "Ada"
