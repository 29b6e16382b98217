"""Malformed input never 500s: HubSpot-shaped 4xx bodies for bad JSON, wrong types, huge bodies, bad HTTP."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import requests

from .helpers import READ, UPDATE


def raw_post(api: requests.Session, path: str, data: bytes) -> requests.Response:
    return api.post(api.base + path, data=data, headers={"Content-Type": "application/json"})  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b'{"inputs": [}',
        b"\xff\xfe not utf-8",
        b"[" * 100_000,
        b"null",
        b"[]",
        b'"inputs"',
        b'{"inputs": {"id": "1"}}',
        b'{"inputs": [[{"id": "1", "properties": {}}]]}',
        b'{"inputs": ["1"]}',
        b'{"inputs": [{"id": {"x": 1}, "properties": {}}]}',
        b'{"inputs": [{"id": "1", "properties": []}]}',
        b'{"inputs": [{"id": "1", "properties": "firstname=x"}]}',
        b'{"inputs": [{"id": "1", "properties": {"firstname": {"a": 1}}}]}',
        b'{"inputs": [{"id": "1", "properties": {"firstname": ["a"]}}]}',
        b'{"inputs": [{"id": "1", "properties": {"firstname": null}}]}',
        b'{"inputs": [{"properties": {"firstname": "x"}}]}',
        b'{"inputs": [{"id": "1"}]}',
        b'{"input": []}',
    ],
)
def test_bad_update_bodies_are_400(api: requests.Session, sandbox: Any, data: bytes) -> None:
    r = raw_post(api, UPDATE, data)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status"] == "error" and body["correlationId"] and body["message"]
    assert {c["id"]: c for c in sandbox.contacts()}["1"]["properties"]["firstname"] == "Ada"


def test_bad_json_message_names_line_and_column(api: requests.Session) -> None:
    r = raw_post(api, READ, b'{\n  "inputs": [,]\n}')
    assert r.status_code == 400
    assert r.json()["message"].startswith("Invalid input JSON on line 2, column 14:")


@pytest.mark.parametrize(
    "data",
    [b'{"inputs": [{"id": ["x"]}]}', b'{"inputs": [{"id": "1"}], "properties": "email"}', b'{"inputs": 5}'],
)
def test_bad_read_bodies_are_400(api: requests.Session, data: bytes) -> None:
    assert raw_post(api, READ, data).status_code == 400


def test_scalars_are_coerced_to_strings(api: requests.Session, sandbox: Any) -> None:
    body = {"inputs": [{"id": 1, "properties": {"firstname": 42, "lastname": True, "company": 1.5}}]}
    r = api.post(api.base + UPDATE, json=body)  # type: ignore[attr-defined]
    assert r.status_code == 200
    props = {c["id"]: c for c in sandbox.contacts()}["1"]["properties"]
    assert (props["firstname"], props["lastname"], props["company"]) == ("42", "true", "1.5")


def test_lists_and_memberships_bad_bodies(api: requests.Session) -> None:
    base = api.base + "/crm/v3/lists"  # type: ignore[attr-defined]
    assert api.post(base, json={"objectTypeId": "0-1", "processingType": "MANUAL"}).status_code == 400
    assert api.post(base, json=["x"]).status_code == 400
    list_id = api.post(base, json={"name": "L", "objectTypeId": "0-1", "processingType": "MANUAL"}).json()[
        "list"
    ]["listId"]
    for bad in ({"ids": ["1"]}, [["1"]], "1"):
        assert api.put(f"{base}/{list_id}/memberships/add", json=bad).status_code == 400
    r = api.put(f"{base}/{list_id}/memberships/add", json=[1, "2"])  # numbers coerced like strings
    assert r.status_code == 200 and r.json()["recordsIdsAdded"] == ["1", "2"]


def _raw_exchange(port: int, request: bytes, read_timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        s.sendall(request)
        chunks = []
        while True:
            try:
                data = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def _status_and_body(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def test_huge_body_refused_without_reading_it(sandbox: Any) -> None:
    # Only the headers are sent: the sandbox must answer 413 (and close) without waiting for 11 MB.
    head = (
        f"POST {UPDATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sandbox-token\r\n"
        f"Content-Type: application/json\r\nContent-Length: {11 * 1024 * 1024}\r\n\r\n"
    ).encode()
    status, body = _status_and_body(_raw_exchange(sandbox.port, head))
    assert status == 413 and body["status"] == "error" and body["category"] == "VALIDATION_ERROR"


def test_huge_body_via_requests(sandbox: Any) -> None:
    data = b'{"inputs": [' + b" " * (10 * 1024 * 1024 + 10) + b"]}"
    try:
        r = requests.post(sandbox.url + UPDATE, data=data, headers={"Authorization": "Bearer sandbox-token"})
    except requests.ConnectionError:
        return  # the server may close before the client finished sending: also a refusal, not a 500
    assert r.status_code == 413


@pytest.mark.parametrize(
    "request_bytes,status",
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"POST /crm/v3/lists HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST /crm/v3/lists HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"GET /crm/v3/lists/1 HTTP/1.1\r\nBroken header line\r\n\r\n", 400),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    ],
)
def test_broken_http_gets_json_4xx(sandbox: Any, request_bytes: bytes, status: int) -> None:
    got, body = _status_and_body(_raw_exchange(sandbox.port, request_bytes))
    assert got == status and body["status"] == "error" and "correlationId" in body


def test_http10_and_pipelined_keepalive(sandbox: Any) -> None:
    one = b"GET /crm/v3/objects/contacts/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sandbox-token\r\n\r\n"
    last = one.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    raw = _raw_exchange(sandbox.port, one + one + last)
    assert raw.count(b"HTTP/1.1 200 OK") == 3
    raw = _raw_exchange(sandbox.port, b"GET /__sandbox__/stats HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200") and b"Connection: close" in raw
