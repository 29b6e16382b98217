"""The HubSpot endpoint handlers, per family: contact objects (batch read/update/upsert/create, one record),
contact properties, lists. Each takes the store and the request's `Ctx` and returns (status, body); a
`ErrorAnswer` it raises is the answer. Auth, limits, faults and routing happen before (`app.py`)."""

from __future__ import annotations

import json
from typing import Any

from dbt_hubspot_sync.sandbox import bodies, payloads, search
from dbt_hubspot_sync.sandbox.bodies import ErrorAnswer, error
from dbt_hubspot_sync.sandbox.store import Store


class Ctx:
    """One API request as the endpoint handlers see it; n_inputs is reported back for the request log."""

    __slots__ = ("params", "query", "raw", "n_inputs", "version", "headers")

    def __init__(self, raw: bytes = b"", version: str = "v3") -> None:
        self.params: dict[str, str] = {}
        self.query: dict[str, list[str]] = {}
        self.raw = raw
        self.n_inputs: int | None = None
        self.version = version  # the API version of the route ("v3", "2026-03", "2026-09")
        self.headers: Any = {}  # the request's headers (lowercase names; `.get` is case-insensitive)

    @property
    def enforce_rules(self) -> bool:
        """2026-09 enforces the portal's own write-validation rules (conditionally required properties)."""
        return self.version == "2026-09"


# -- contact objects ------------------------------------------------------------------------------------
def batch_read(store: Store, ctx: Ctx) -> tuple[int, Any]:
    req = payloads.parse_read(payloads.parse_json(ctx.raw))
    ctx.n_inputs = len(req.ids)
    started = bodies.now_iso()
    results, missing = store.batch_read(req)
    status, body = _batch_reply([], missing, started, ok_status=200, version=ctx.version)
    # Splice the pre-encoded results into the encoded envelope (results is its first list).
    head, _, tail = json.dumps(body, separators=(",", ":")).encode().partition(b'"results":[]')
    return status, b"".join((head, b'"results":[', b",".join(results), b"]", tail))


def batch_update(store: Store, ctx: Ctx) -> tuple[int, Any]:
    inputs = payloads.parse_write_inputs(payloads.parse_json(ctx.raw), need_id=True)
    ctx.n_inputs = len(inputs)
    started = bodies.now_iso()
    results, missing = store.batch_update(inputs, enforce_rules=ctx.enforce_rules)
    return _batch_reply(results, missing, started, ok_status=200, version=ctx.version)


def batch_upsert(store: Store, ctx: Ctx) -> tuple[int, Any]:
    inputs = payloads.parse_write_inputs(payloads.parse_json(ctx.raw), need_id=True)
    ctx.n_inputs = len(inputs)
    started = bodies.now_iso()
    results, missing = store.batch_upsert(inputs, enforce_rules=ctx.enforce_rules)
    return _batch_reply(results, missing, started, ok_status=200, version=ctx.version)


def batch_create(store: Store, ctx: Ctx) -> tuple[int, Any]:
    inputs = payloads.parse_write_inputs(payloads.parse_json(ctx.raw), need_id=False)
    ctx.n_inputs = len(inputs)
    started = bodies.now_iso()
    results = store.batch_create(inputs, enforce_rules=ctx.enforce_rules)
    return _batch_reply(results, [], started, ok_status=201, version=ctx.version)


def get_contact(store: Store, ctx: Ctx) -> tuple[int, Any]:
    wanted = [p for v in ctx.query.get("properties", []) for p in v.split(",") if p]
    id_property = (ctx.query.get("idProperty") or [None])[0]
    return 200, store.get_one(ctx.params["contactId"], id_property, wanted)


def patch_contact(store: Store, ctx: Ctx) -> tuple[int, Any]:
    props = payloads.parse_single_write(payloads.parse_json(ctx.raw))
    ctx.n_inputs = 1
    id_property = (ctx.query.get("idProperty") or [None])[0]
    return 200, store.patch_one(ctx.params["contactId"], id_property, props, enforce_rules=ctx.enforce_rules)


def _batch_reply(
    results: list[dict[str, Any]], missing: list[str], started: str, ok_status: int, version: str = "v3"
) -> tuple[int, dict[str, Any]]:
    """200 (201 for create), or 207 with the grouped misses. 2026-09 declares no 207 for batch calls: its 200
    schema carries `errors`/`numErrors`, so a partial success is a 200 with errors there [INF from the spec]."""
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if missing:
        # One grouped OBJECT_NOT_FOUND error lists every miss (also when nothing was found).
        body["numErrors"] = 1
        grouped = bodies.standard_error("OBJECT_NOT_FOUND", bodies.NOT_FOUND_MESSAGE, {"ids": missing})
        body["errors"] = [grouped]
    body["startedAt"] = started
    body["completedAt"] = bodies.now_iso()
    return (207 if missing and version != "2026-09" else ok_status), body


# -- properties -----------------------------------------------------------------------------------------
def get_properties(store: Store, ctx: Ctx) -> tuple[int, Any]:
    if ctx.params["objectType"] not in ("contacts", "contact", "0-1"):
        raise ErrorAnswer(
            400,
            error("VALIDATION_ERROR", f"Unable to infer object type from: {ctx.params['objectType']}"),
        )
    return 200, {"results": store.property_list()}


# -- lists ----------------------------------------------------------------------------------------------
def create_list(store: Store, ctx: Ctx) -> tuple[int, Any]:
    name, object_type_id, processing_type = payloads.parse_list_create(payloads.parse_json(ctx.raw))
    return 200, {"list": store.create_list(name, object_type_id, processing_type)}


def get_list(store: Store, ctx: Ctx) -> tuple[int, Any]:
    return 200, {"list": store.get_list(ctx.params["listId"])}


def add_members(store: Store, ctx: Ctx) -> tuple[int, Any]:
    ids = payloads.parse_id_array(payloads.parse_json(ctx.raw))
    ctx.n_inputs = len(ids)
    return 200, store.add_members(ctx.params["listId"], ids)


def search_contacts(store: Store, ctx: Ctx) -> tuple[int, Any]:
    """POST .../contacts/search (search.py parses the request and runs it over the store's index)."""
    req = search.parse(payloads.parse_json(ctx.raw))
    ctx.n_inputs = req.limit
    return 200, store.search(req)
