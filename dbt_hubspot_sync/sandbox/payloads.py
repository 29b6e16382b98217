"""Request-body parsing: JSON into typed inputs, or a HubSpot-shaped 400 (never an exception that 500s).

HubSpot deserialises with Jackson: scalars are coerced to strings (numbers, booleans), objects or arrays where
a string is expected fail the whole request with "Invalid input JSON ...: Cannot deserialize ...".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dbt_hubspot_sync.sandbox.bodies import ErrorAnswer, bad_json


@dataclass
class WriteInput:
    """One input of batch/update, batch/upsert, batch/create or a single PATCH."""

    id: str | None
    properties: dict[str, str]
    id_property: str | None = None
    trace_id: str | None = None


@dataclass
class ReadRequest:
    ids: list[str]
    properties: list[str] = field(default_factory=list)
    id_property: str | None = None
    with_history: list[str] = field(default_factory=list)


def parse_json(raw: bytes) -> Any:
    if not raw.strip():
        raise bad_json("Invalid input JSON on line 1, column 1: No content to map due to end-of-input")
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise bad_json(f"Invalid input JSON on line 1, column 1: Invalid UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise bad_json(f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise bad_json("Invalid input JSON on line 1, column 1: nesting too deep") from None


def _cannot(what: str, found: Any) -> ErrorAnswer:
    kind = {dict: "Object", list: "Array", str: "String", bool: "Boolean", type(None): "null"}.get(
        type(found), "Number"
    )
    return bad_json(
        f"Invalid input JSON on line 1, column 1: Cannot deserialize value of type `{what}` from {kind} value"
    )


def _string(value: Any, what: str) -> str:
    """Jackson's String coercion: scalars become their text, containers and null do not."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    raise _cannot(what, value)


def _opt_string(obj: dict[str, Any], key: str, what: str) -> str | None:
    value = obj.get(key)
    return None if value is None else _string(value, what)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _cannot(what, value)
    return value


def _array(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _cannot(what, value)
    return value


def _properties(value: Any, required: bool) -> dict[str, str]:
    if value is None:
        if required:
            raise bad_json(
                "Invalid input JSON on line 1, column 1: Missing required creator property 'properties'"
            )
        return {}
    props = _object(value, "java.util.Map<java.lang.String, java.lang.String>")
    return {str(k): _string(v, "java.lang.String") for k, v in props.items()}


def _inputs(body: Any, what: str) -> list[Any]:
    obj = _object(body, what)
    if "inputs" not in obj or obj["inputs"] is None:
        raise bad_json("Invalid input JSON on line 1, column 1: Missing required creator property 'inputs'")
    return _array(obj["inputs"], f"java.util.List<{what}>")


def parse_write_inputs(body: Any, *, need_id: bool) -> list[WriteInput]:
    """batch/update and batch/upsert (`need_id`), batch/create (no id)."""
    out = []
    for item in _inputs(body, "SimplePublicObjectBatchInput"):
        obj = _object(item, "SimplePublicObjectBatchInput")
        rid = _opt_string(obj, "id", "java.lang.String")
        if need_id and rid is None:
            raise bad_json("Invalid input JSON on line 1, column 1: Missing required creator property 'id'")
        out.append(
            WriteInput(
                id=rid,
                properties=_properties(obj.get("properties"), required=need_id),
                id_property=_opt_string(obj, "idProperty", "java.lang.String"),
                trace_id=_opt_string(obj, "objectWriteTraceId", "java.lang.String"),
            )
        )
    return out


def parse_single_write(body: Any) -> dict[str, str]:
    obj = _object(body, "SimplePublicObjectInput")
    return _properties(obj.get("properties"), required=True)


def parse_read(body: Any) -> ReadRequest:
    obj = _object(body, "BatchReadInputSimplePublicObjectId")
    inputs = _inputs(obj, "SimplePublicObjectId")
    try:  # fast path for well-formed bodies; anything odd goes through the checked path
        ids = [i["id"] for i in inputs]
        if not all(type(i) is str for i in ids):
            raise TypeError
    except (TypeError, KeyError):
        ids = [_string(_object(i, "SimplePublicObjectId").get("id"), "java.lang.String") for i in inputs]
    props = [_string(p, "java.lang.String") for p in _array(obj.get("properties") or [], "java.util.List")]
    hist = [
        _string(p, "java.lang.String")
        for p in _array(obj.get("propertiesWithHistory") or [], "java.util.List")
    ]
    return ReadRequest(ids, props, _opt_string(obj, "idProperty", "java.lang.String"), hist)


def parse_id_array(body: Any) -> list[str]:
    """memberships/add: a bare JSON array of record-id strings."""
    return [_string(v, "java.lang.String") for v in _array(body, "java.util.List<java.lang.String>")]


def parse_list_create(body: Any) -> tuple[str, str, str]:
    obj = _object(body, "ListCreateRequest")
    for key in ("name", "objectTypeId", "processingType"):
        if obj.get(key) is None:
            raise bad_json(
                f"Invalid input JSON on line 1, column 1: Missing required creator property '{key}'"
            )
    return (
        _string(obj["name"], "java.lang.String"),
        _string(obj["objectTypeId"], "java.lang.String"),
        _string(obj["processingType"], "java.lang.String"),
    )


def parse_membership_change(body: Any) -> tuple[list[str], list[str]]:
    """memberships/add-and-remove: `{"recordIdsToAdd": [...], "recordIdsToRemove": [...]}` (both required)."""
    obj = _object(body, "MembershipChangeRequest")
    out = []
    for key in ("recordIdsToAdd", "recordIdsToRemove"):
        if obj.get(key) is None:
            raise bad_json(
                f"Invalid input JSON on line 1, column 1: Missing required creator property '{key}'"
            )
        out.append(
            [_string(v, "java.lang.String") for v in _array(obj[key], "java.util.List<java.lang.String>")]
        )
    return out[0], out[1]


# Jackson-like coercions for other request parsers (search, extra endpoints).
text = _string
obj = _object
arr = _array
