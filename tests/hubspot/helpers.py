"""Shared fakes for the HubSpot client tests: a scripted HubSpot on loopback, its bodies, the embedded sandbox.

Imported by the test modules of this package (`from .helpers import ...`); the `fake` fixture that starts and
stops `FakeHubSpot` servers is in conftest.py.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dbt_hubspot_sync.hubspot import (
    BATCH_SIZE,
    HubSpotClient,
    RateLimiter,
)

TOKEN = "pat-na1-0000SECRET-TOKEN-never-shown-1234"
READ = "/crm/v3/objects/contacts/batch/read"
UPDATE = "/crm/v3/objects/contacts/batch/update"


# ---------------------------------------------------------------------------------------------------------
# A scripted HubSpot: handler(req) -> Reply | RESET
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Req:
    method: str
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


RESET = "reset"
Handler = Callable[[Req], "Reply | str"]


class FakeHubSpot:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Req] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no delayed-ACK stalls

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                req = Req(self.command, self.path, json.loads(raw) if raw else None, dict(self.headers))
                with fake.lock:
                    fake.requests.append(req)
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    reply = fake.handler(req)
                    if reply == RESET:
                        # RST instead of FIN: the client sees "connection reset by peer".
                        self.connection.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                        self.close_connection = True
                        self.connection.close()
                        return
                    assert isinstance(reply, Reply)
                    if reply.delay:
                        time.sleep(reply.delay)
                    data = json.dumps(reply.body).encode() if reply.body is not None else b""
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

            do_GET = do_POST = do_PUT = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r.path == path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def client_for(srv: FakeHubSpot, **kw: Any) -> HubSpotClient:
    kw.setdefault("limiter", RateLimiter(10_000, 1000))  # fresh per test: no state shared between tests
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("backoff_max", 0.05)
    kw.setdefault("locked_delay", 0.05)
    kw.setdefault("timeout", 5.0)
    return HubSpotClient(TOKEN, srv.url, **kw)


def contact(rid: str, **props: str) -> dict[str, Any]:
    return {
        "id": rid,
        "properties": {"hs_object_id": rid, **props},
        "createdAt": "2025-11-04T03:44:52.657Z",
        "updatedAt": "2025-11-04T12:10:35.352Z",
        "archived": False,
    }


def not_found(ids: list[str]) -> dict[str, Any]:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": "Could not get some CONTACT objects, they may be deleted or not exist. "
        "Check that ids are valid.",
        "context": {"ids": ids},
    }


def batch_body(results: list[dict[str, Any]], errors: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": "x", "completedAt": "y"}
    if errors:
        body.update(errors=errors, numErrors=len(errors))
    return body


def invalid_values(items: list[dict[str, str]]) -> Reply:
    """HubSpot's whole-batch 400 for bad property values (embedded JSON array in the message)."""
    return Reply(
        400,
        {
            "status": "error",
            "message": "Property values were not valid: " + json.dumps(items),
            "correlationId": "c8617a85-58a6-4a95-b619-e7d3594c170c",
            "category": "VALIDATION_ERROR",
        },
    )


def updater(
    bad: Callable[[dict[str, Any]], dict[str, str] | None] = lambda i: None,
    *,
    known: Callable[[str], bool] = None,
) -> Handler:
    """A batch/update endpoint: 400 (naming nothing but the property) if any input is bad, else 200/207."""

    def handle(req: Req) -> Reply:
        assert req.path == UPDATE and req.method == "POST"
        inputs = req.body["inputs"]
        assert len(inputs) <= BATCH_SIZE
        problems = [p for p in (bad(i) for i in inputs) if p]
        if problems:
            return invalid_values(problems)
        ok = [i for i in inputs if known is None or known(i["id"])]
        missing = [i["id"] for i in inputs if i not in ok]
        results = [contact(i["id"], **i["properties"]) for i in reversed(ok)]  # never in input order
        return Reply(207 if missing else 200, batch_body(results, [not_found(missing)] if missing else []))

    return handle


def rows(n: int, start: int = 1, **props: str) -> list[tuple[str, dict[str, str]]]:
    return [(str(i), {"firstname": f"F{i}", **props}) for i in range(start, start + n)]


def flaky(failures: list[Reply | str], then: Handler) -> Handler:
    script = list(failures)
    lock = threading.Lock()

    def handle(req: Req) -> Reply | str:
        with lock:
            step = script.pop(0) if script else None
        return step if step is not None else then(req)

    return handle


def bad_email(addresses: set[str]) -> Callable[[dict[str, Any]], dict[str, str] | None]:
    def bad(inp: dict[str, Any]) -> dict[str, str] | None:
        email = inp["properties"].get("email")
        if email in addresses:
            return {"isValid": False, "message": f"Email address {email} is invalid",
                    "error": "INVALID_EMAIL",
                    "name": "email"}  # fmt: skip
        return None

    return bad


def option_error(hint_value: bool) -> Callable[[dict[str, Any]], dict[str, str] | None]:
    """INVALID_OPTION for lifecyclestage values not allowed; the message quotes the value iff hint_value."""

    def bad(inp: dict[str, Any]) -> dict[str, str] | None:
        value = inp["properties"].get("lifecyclestage")
        if value is None or value in ("lead", "customer"):
            return None
        shown = value if hint_value else "(redacted)"
        return {"isValid": False, "message": f"{shown} was not one of the allowed options: [lead, customer]",
                "error": "INVALID_OPTION", "name": "lifecyclestage"}  # fmt: skip

    return bad


def rate_limited(policy: str, headers: dict[str, str] | None = None) -> Reply:
    message = {"DAILY": "You have reached your daily limit."}.get(
        policy, "You have reached your ten_secondly_rolling limit."
    )
    body = {"status": "error", "message": message, "errorType": "RATE_LIMIT", "policyName": policy,
            "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24"}  # fmt: skip
    return Reply(429, body, headers or {})


# ---------------------------------------------------------------------------------------------------------
# The embedded sandbox (HubSpot's bodies, limits and faults)
# ---------------------------------------------------------------------------------------------------------
SB_TOKEN = "sandbox-token"


def sandbox(**kw: Any):
    mod = pytest.importorskip(
        "dbt_hubspot_sync.sandbox", reason="dbt_hubspot_sync.sandbox is not importable yet"
    )
    kw.setdefault("contacts", [{"email": f"p{i}@example.com", "firstname": f"F{i}"} for i in range(1, 301)])
    return mod.Sandbox(mod.SandboxConfig(port=0, token=SB_TOKEN, **kw))


def sb_client(sb: Any, token: str = SB_TOKEN, **kw: Any) -> HubSpotClient:
    kw.setdefault("limiter", RateLimiter())  # conservative default until the sandbox's headers retune it
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("backoff_max", 0.05)
    kw.setdefault("locked_delay", 0.05)
    kw.setdefault("timeout", 5.0)
    return HubSpotClient(token, sb.url, **kw)


def by_email(sb: Any) -> dict[str, dict[str, str]]:
    return {c["properties"]["email"]: c["properties"] for c in sb.contacts()}
