"""HubSpotClient against real HTTP on loopback: a scripted fake server, then the embedded sandbox."""

from __future__ import annotations

import json
import logging
import math
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dbt_hubspot_sync.hubspot_client import (
    BATCH_SIZE,
    AuthError,
    DailyLimitError,
    HubSpotClient,
    HubSpotError,
    MissingTokenError,
    PropertyError,
    RetriesExhaustedError,
)
from dbt_hubspot_sync.rate_limit import RateLimiter

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


@pytest.fixture
def fake():
    servers: list[FakeHubSpot] = []

    def start(handler: Handler) -> FakeHubSpot:
        srv = FakeHubSpot(handler)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.close()


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
def bad_email(addresses: set[str]) -> Callable[[dict[str, Any]], dict[str, str] | None]:
    def bad(inp: dict[str, Any]) -> dict[str, str] | None:
        email = inp["properties"].get("email")
        if email in addresses:
            return {"isValid": False, "message": f"Email address {email} is invalid",
                    "error": "INVALID_EMAIL",
                    "name": "email"}  # fmt: skip
        return None

    return bad


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
# Retries, timeouts, resets, 423
# ---------------------------------------------------------------------------------------------------------
def flaky(failures: list[Reply | str], then: Handler) -> Handler:
    script = list(failures)
    lock = threading.Lock()

    def handle(req: Req) -> Reply | str:
        with lock:
            step = script.pop(0) if script else None
        return step if step is not None else then(req)

    return handle


def test_retries_503_and_connection_reset_then_succeeds(fake) -> None:
    srv = fake(flaky([Reply(503, {"status": "error", "message": "unavailable"}), RESET], updater()))
    with client_for(srv) as client:
        out = client.update(rows(3))
        assert out.updated == {"1", "2", "3"}
        assert client.stats.retries == 2 and client.stats.requests == 3


def test_timeout_is_retried(fake) -> None:
    srv = fake(flaky([Reply(200, batch_body([], []), delay=1.0)], updater()))
    with client_for(srv, timeout=0.2) as client:
        out = client.update(rows(2))
        assert out.updated == {"1", "2"} and client.stats.retries == 1


def test_423_waits_at_least_the_locked_delay(fake) -> None:
    srv = fake(flaky([Reply(423, {"status": "error", "message": "locked"})], updater()))
    with client_for(srv, locked_delay=0.3) as client:
        start = time.monotonic()
        out = client.update(rows(1))
        assert time.monotonic() - start >= 0.3
    assert out.updated == {"1"}


def test_exhausted_retries_fail_that_chunk_and_the_run_goes_on(fake) -> None:
    def handle(req: Req) -> Reply:
        if any(i["id"] == "150" for i in req.body["inputs"]):
            return Reply(502, {"status": "error", "message": "bad gateway"})
        return updater()(req)

    srv = fake(handle)
    with client_for(srv, max_retries=2) as client:
        out = client.update(rows(200))
    assert out.updated == {str(i) for i in range(1, 101)}
    assert set(out.failed) == {str(i) for i in range(101, 201)}
    assert {(f.code, f.http_status) for f in out.failed.values()} == {("HTTP_5XX", 502)}
    assert srv.count(UPDATE) == 1 + 3


def test_retry_budget_caps_retries_per_run(fake) -> None:
    """Every request failing: 1 + 2 retries each until the run's budget (3 + 10% of requests) is spent, then
    each request gives up on its first failure, naming the budget; every record is failed, none lost."""
    srv = fake(lambda req: Reply(503, {"status": "error", "message": "unavailable"}))
    with client_for(srv, max_retries=2, retry_budget=3, retry_budget_ratio=0.1, concurrency=1) as client:
        out = client.update(rows(1000))
        s = client.stats.snapshot()
    assert len(out.failed) == 1000 and not out.updated
    assert s.retries <= 3 + 0.1 * s.requests
    assert s.requests < 10 * 3  # without the budget: 10 chunks x 3 attempts
    assert any("retry budget is spent" in f.detail for f in out.failed.values())


def test_backoff_is_exponential_with_jitter_and_capped(fake) -> None:
    srv = fake(updater())
    with client_for(srv, backoff_base=1.0, backoff_max=8.0) as client:
        for attempt in range(6):
            delays = {client._backoff(attempt) for _ in range(50)}
            cap = min(8.0, 2.0**attempt)
            assert all(cap / 2 <= d <= cap for d in delays)
            assert len(delays) > 40  # jittered: not one fixed value


def test_exhausted_retries_on_read_raise(fake) -> None:
    srv = fake(lambda req: RESET)
    with client_for(srv, max_retries=1) as client:
        with pytest.raises(HubSpotError) as info:
            client.read_ids_by_email(["a@example.com"])
    assert isinstance(info.value, RetriesExhaustedError)
    assert info.value.code == "CONNECTION_ERROR" and info.value.call == f"POST {READ}"


# ---------------------------------------------------------------------------------------------------------
# 429s
# ---------------------------------------------------------------------------------------------------------
def rate_limited(policy: str, headers: dict[str, str] | None = None) -> Reply:
    message = {"DAILY": "You have reached your daily limit."}.get(
        policy, "You have reached your ten_secondly_rolling limit."
    )
    body = {"status": "error", "message": message, "errorType": "RATE_LIMIT", "policyName": policy,
            "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24"}  # fmt: skip
    return Reply(429, body, headers or {})


def test_429_ten_secondly_waits_out_the_interval_then_succeeds(fake) -> None:
    headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": "300", "X-HubSpot-RateLimit-Max": "100",
               "X-HubSpot-RateLimit-Remaining": "0"}  # fmt: skip
    srv = fake(flaky([rate_limited("TEN_SECONDLY_ROLLING", headers)], updater()))
    with client_for(srv, max_retries=0) as client:  # a 429 does not use the retry budget
        start = time.monotonic()
        out = client.update(rows(2))
        assert time.monotonic() - start >= 0.3
        assert out.updated == {"1", "2"}
        assert (client.stats.rate_limited, client.stats.retries, client.stats.requests) == (1, 0, 2)


def test_429_honours_retry_after(fake) -> None:
    srv = fake(flaky([rate_limited("TEN_SECONDLY_ROLLING", {"Retry-After": "1"})], updater()))
    with client_for(srv) as client:
        start = time.monotonic()
        client.update(rows(1))
        assert time.monotonic() - start >= 1.0


def test_429_daily_raises_daily_limit_error_keeping_what_was_done(fake) -> None:
    calls = {"n": 0}

    def handle(req: Req) -> Reply:
        calls["n"] += 1
        return updater()(req) if calls["n"] == 1 else rate_limited("DAILY")

    srv = fake(handle)
    with client_for(srv, concurrency=1) as client:
        with pytest.raises(DailyLimitError) as info:
            client.update(rows(300))
    assert info.value.status == 429 and info.value.code == "DAILY"
    assert info.value.outcome_so_far is not None
    assert info.value.outcome_so_far.updated == {str(i) for i in range(1, 101)}
    assert srv.count(UPDATE) == 2  # stopped at once: no retries of a DAILY 429


# ---------------------------------------------------------------------------------------------------------
# Auth, secrets, URLs, lists, properties
# ---------------------------------------------------------------------------------------------------------
def test_403_missing_scopes_are_listed(fake) -> None:
    body = {
        "status": "error",
        "message": "This app hasn't been granted all required scopes to make this call.",
        "errors": [{"message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": ["crm.objects.contacts.write"]}}],
        "category": "MISSING_SCOPES",
    }  # fmt: skip
    srv = fake(lambda req: Reply(403, body))
    with client_for(srv) as client:
        with pytest.raises(AuthError) as info:
            client.update(rows(1))
    assert info.value.missing_scopes == ["crm.objects.contacts.write"]
    assert info.value.status == 403 and "crm.objects.contacts.write" in str(info.value)


def test_token_never_in_errors_or_logs(fake, caplog) -> None:
    echo = {"status": "error", "message": f"Authentication credentials not found: Bearer {TOKEN}",
            "category": "INVALID_AUTHENTICATION"}  # fmt: skip
    replies = [Reply(401, echo), Reply(503, {"message": TOKEN}), RESET, Reply(404, {"message": TOKEN})]
    srv = fake(flaky(replies, lambda req: Reply(500, {"message": TOKEN})))
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    with client_for(srv, max_retries=2) as client:
        for call in (
            lambda: client.update(rows(1)),
            lambda: client.get_properties(),
            lambda: client.get_list("9"),
        ):
            try:
                call()
            except HubSpotError as exc:
                errors.append(exc)
        assert TOKEN not in repr(client)
    assert len(errors) == 3
    assert srv.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"  # it was really sent
    for exc in errors:
        for text in (str(exc), repr(exc), repr(exc.args), repr(vars(exc))):
            assert TOKEN not in text
    assert caplog.records and all(TOKEN not in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError) as info:  # a token pasted into the URL is not echoed either
        HubSpotClient(TOKEN, f"http://{TOKEN}.example.com")
    assert TOKEN.lower() not in str(info.value).lower() and "https" in str(info.value)


@pytest.mark.parametrize(
    "url,ok",
    [
        ("https://api.hubapi.com", True),
        ("http://127.0.0.1:8765", True),
        ("http://localhost:8765/", True),
        ("http://[::1]:8765", True),
        ("http://api.hubapi.com", False),
        ("http://10.0.0.5:8765", False),
        ("ftp://127.0.0.1", False),
        ("api.hubapi.com", False),
    ],
)
def test_https_is_required_except_loopback(url: str, ok: bool) -> None:
    if ok:
        HubSpotClient(TOKEN, url, limiter=RateLimiter()).close()
    else:
        with pytest.raises(ValueError, match="https"):
            HubSpotClient(TOKEN, url, limiter=RateLimiter())


def test_from_env(monkeypatch) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("HUBSPOT_BASE_URL", raising=False)
    with pytest.raises(MissingTokenError, match="HUBSPOT_ACCESS_TOKEN"):
        HubSpotClient.from_env()
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    with HubSpotClient.from_env(limiter=RateLimiter()) as client:
        assert client.base_url == "https://api.hubapi.com"
    monkeypatch.setenv("HUBSPOT_BASE_URL", "http://example.org")
    with pytest.raises(ValueError) as info:
        HubSpotClient.from_env()
    assert TOKEN not in str(info.value)


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


# ---------------------------------------------------------------------------------------------------------
# Against the embedded sandbox (HubSpot's bodies, limits and faults)
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


def test_sandbox_read_then_update_end_to_end() -> None:
    with sandbox() as sb, sb_client(sb) as client:
        emails = [f"P{i}@Example.com" for i in range(1, 351)]  # 300 exist, 50 don't; mixed case
        ids = client.read_ids_by_email(emails)
        assert len(ids) == 300 and "p301@example.com" not in ids
        assert ids["p7@example.com"] == next(
            c["id"] for c in sb.contacts() if c["properties"]["email"] == "p7@example.com"
        )
        out = client.update(
            [(rid, {"firstname": f"New {email}"}) for email, rid in ids.items()] + [("999999", {})]
        )
        assert len(out.updated) == 300 and out.not_found == {"999999"} and not out.failed
        assert by_email(sb)["p7@example.com"]["firstname"] == "New p7@example.com"
        stats = sb.stats()
        assert stats["contacts_created"] == 0 and stats["rate_limited"] == 0
        assert (
            stats["requests_total"] == client.stats.requests == 4 + 4
        )  # ceil(350/100) reads, ceil(301/100) updates
        assert not any("upsert" in k or "create" in k for k in stats["requests"])


def test_sandbox_400_isolation_keeps_every_good_row() -> None:
    with sandbox() as sb, sb_client(sb) as client:
        ids = client.read_ids_by_email([f"p{i}@example.com" for i in range(1, 101)])
        inputs = []
        for i in range(1, 101):
            props = {"lastname": f"L{i}"}
            if i == 10:
                props["email"] = "p10@example.con"  # unknown TLD: INVALID_EMAIL
            if i in (20, 77):
                props["lifecyclestage"] = "not-a-stage"  # INVALID_OPTION
            inputs.append((ids[f"p{i}@example.com"], props))
        before = client.stats.requests
        out = client.update(inputs)
        codes = {rid: f.code for rid, f in out.failed.items()}
        assert codes == {ids["p10@example.com"]: "INVALID_EMAIL", ids["p20@example.com"]: "INVALID_OPTION",
                         ids["p77@example.com"]: "INVALID_OPTION"}  # fmt: skip
        assert len(out.updated) == 97
        assert client.stats.requests - before <= 1 + 3 * 2 * math.ceil(math.log2(100))
        contacts = by_email(sb)
        assert (
            contacts["p11@example.com"]["lastname"] == "L11" and "lastname" not in contacts["p10@example.com"]
        )


@pytest.mark.parametrize(
    "prop,code", [("no_such_property", "PROPERTY_DOESNT_EXIST"), ("hs_object_id", "READ_ONLY_VALUE")]
)
def test_sandbox_property_error(prop: str, code: str) -> None:
    with sandbox() as sb, sb_client(sb, concurrency=1) as client:
        ids = sorted(client.read_ids_by_email([f"p{i}@example.com" for i in range(1, 201)]).values(), key=int)
        inputs = [(rid, {"firstname": "x"}) for rid in ids[:100]] + [(rid, {prop: "1"}) for rid in ids[100:]]
        with pytest.raises(PropertyError) as info:
            client.update(inputs)
        assert info.value.code == code and info.value.property_name == prop
        assert info.value.outcome_so_far is not None and info.value.outcome_so_far.updated == set(ids[:100])


def test_sandbox_faults_lose_no_row() -> None:
    with (
        sandbox(faults="503:0.1,502:0.05,reset:0.05,423:0.05", seed=3) as sb,
        sb_client(sb, max_retries=6) as client,
    ):
        ids = client.read_ids_by_email([f"p{i}@example.com" for i in range(1, 301)])
        out = client.update([(rid, {"company": "Acme"}) for rid in ids.values()])
        assert len(out.updated) + len(out.failed) + len(out.not_found) == 300
        assert len(out.updated) == 300  # with 6 retries nothing should be left failed at these rates
        assert client.stats.retries >= 1
        assert all(c["properties"].get("company") == "Acme" for c in sb.contacts())


def test_sandbox_paced_without_429s() -> None:
    contacts = [{"email": f"p{i}@example.com"} for i in range(1, 2001)]
    with (
        sandbox(contacts=contacts, rate_max=15, rate_window_ms=1000) as sb,
        sb_client(sb, concurrency=4) as client,
    ):
        ids = client.read_ids_by_email([c["email"] for c in contacts])
        out = client.update([(rid, {"firstname": "Z"}) for rid in ids.values()])
        assert len(out.updated) == 2000
        assert sb.stats()["rate_limited"] == 0 and client.stats.rate_limited == 0
        assert client.limiter.max_requests == 15 and client.limiter.interval_s == 1.0


def test_sandbox_429_from_another_consumer_is_waited_out() -> None:
    import requests

    with sandbox(rate_max=10, rate_window_ms=600) as sb, sb_client(sb) as client:
        for _ in range(10):  # someone else drains the window
            requests.get(
                sb.url + "/crm/v3/properties/contacts", headers={"Authorization": f"Bearer {SB_TOKEN}"}
            )
        ids = client.read_ids_by_email(["p1@example.com"])
        assert ids and client.stats.rate_limited >= 1 and client.stats.retries == 0


def test_sandbox_daily_limit_ends_cleanly() -> None:
    with sandbox(daily_max=3) as sb, sb_client(sb, concurrency=1) as client:
        ids = client.read_ids_by_email([f"p{i}@example.com" for i in range(1, 101)])  # request 1
        ids2 = client.read_ids_by_email([f"p{i}@example.com" for i in range(101, 201)])  # request 2
        inputs = [(rid, {"firstname": "D"}) for rid in [*ids.values(), *ids2.values()]]
        with pytest.raises(DailyLimitError) as info:
            client.update(inputs)
        assert info.value.outcome_so_far is not None and len(info.value.outcome_so_far.updated) == 100
        assert sb.stats()["contacts_updated"] == 100


def test_sandbox_auth_errors() -> None:
    with sandbox() as sb:
        sb.add_token("read-only-token", scopes={"crm.objects.contacts.read"})
        with sb_client(sb, token="read-only-token") as client:
            assert client.read_ids_by_email(["p1@example.com"]) == {"p1@example.com": "1"}
            with pytest.raises(AuthError) as info:
                client.update([("1", {"firstname": "x"})])
            assert info.value.status == 403 and "crm.objects.contacts.write" in info.value.missing_scopes
            assert "read-only-token" not in str(info.value)
        with sb_client(sb, token="wrong-token") as client:
            with pytest.raises(AuthError) as info:
                client.check_token()
            assert info.value.status == 401 and "wrong-token" not in str(info.value)


def test_sandbox_lists() -> None:
    import requests

    with sandbox() as sb, sb_client(sb) as client:
        made = requests.post(
            sb.url + "/crm/v3/lists",
            json={"name": "newsletter", "objectTypeId": "0-1", "processingType": "MANUAL"},
            headers={"Authorization": f"Bearer {SB_TOKEN}"},
        ).json()["list"]
        assert client.get_list(made["listId"])["processingType"] == "MANUAL"
        first = client.add_to_list(made["listId"], ["1", "2", "999999"])
        assert first.added == {"1", "2"} and first.missing == {"999999"}
        again = client.add_to_list(made["listId"], ["2", "3"])
        # An existing member is "ignored": the spec does not say under which key (if any) it is reported.
        assert again.added == {"3"} and "2" in again.already | again.missing
        assert sorted(sb.list_members(made["listId"]), key=int) == ["1", "2", "3"]
        assert any(p["name"] == "lifecyclestage" for p in client.get_properties())


@pytest.mark.parametrize("merged", [["p2"], ["p2", "p4", "p6"]])
def test_a_merged_contacts_former_email_resolves_to_the_primary(merged: list[str]) -> None:
    # HubSpot answers a former email with the primary contact, whose `email` is another one: the result is paired
    # with its input by elimination, or (several unpaired) by asking for each alone.
    with sandbox() as sb, sb_client(sb) as client:
        ids = {c["properties"]["email"]: c["id"] for c in sb.contacts()}
        for i, name in enumerate(merged):
            sb.merge_contacts(ids[f"{name}@example.com"], ids[f"p{100 + i}@example.com"])
        asked = [f"{name}@example.com" for name in merged] + ["p1@example.com", "nobody@example.com"]
        found = client.read_ids_by_email(asked)
        expected = {f"{name}@example.com": ids[f"p{100 + i}@example.com"] for i, name in enumerate(merged)}
        assert found == {**expected, "p1@example.com": ids["p1@example.com"]}
        assert client.stats.requests == (1 if len(merged) == 1 else 1 + len(merged))
