"""The sandbox HTTP server: routing, auth, rate limits, faults and the admin endpoints.

Stdlib only: a ThreadingHTTPServer speaking HTTP/1.1 keep-alive on 127.0.0.1. Every response is written with
one send (headers and body together, Content-Length always set) and TCP_NODELAY, so keep-alive clients never
wait on Nagle/delayed-ACK stalls.
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import bodies, payloads
from .bodies import HubSpotError, error
from .faults import FaultInjector, fault_body
from .ratelimit import RateLimiter
from .store import Store, load_contacts_csv

MAX_BODY_BYTES = 10 * 1024 * 1024  # larger bodies are refused with 413 without being read
ALL_SCOPES = None  # marker: the main token has every scope

_READ = [["crm.objects.contacts.read"]]
_WRITE = [["crm.objects.contacts.write"]]
_PROPS = [["crm.objects.contacts.read"], ["crm.schemas.contacts.read"], ["crm.objects.contacts.write"]]
_LIST_WRITE = [["crm.lists.write"]]
_LIST_READ = [["crm.lists.read"]]
_LIST_MEMBERS = [["crm.lists.read", "crm.lists.write"]]


@dataclass
class SandboxConfig:
    port: int = 0
    token: str = field(default="sandbox-token", repr=False)  # never shown in reprs or logs
    contacts_csv: str | Path | None = None
    contacts: list[dict[str, str]] | None = None
    rate_max: int = 100
    rate_window_ms: int = 10000
    daily_max: int | None = None
    latency_ms: int = 0
    faults: str = ""
    seed: int = 0
    slow_ms: int = 15000
    # CSV columns that are number properties in this portal (the rest are strings): writing a non-number to one
    # is HubSpot's whole-batch 400 INVALID_INTEGER, which names the property but no input.
    number_properties: tuple[str, ...] = ()


@dataclass
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: str
    scopes: list[list[str]]


def _route(method: str, template: str, handler: str, scopes: list[list[str]]) -> _Route:
    regex = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return _Route(method, template, re.compile(f"^{regex}$"), handler, scopes)


ROUTES = [
    _route("POST", "/crm/v3/objects/contacts/batch/read", "batch_read", _READ),
    _route("POST", "/crm/v3/objects/contacts/batch/update", "batch_update", _WRITE),
    _route("POST", "/crm/v3/objects/contacts/batch/upsert", "batch_upsert", _WRITE),
    _route("POST", "/crm/v3/objects/contacts/batch/create", "batch_create", _WRITE),
    _route("GET", "/crm/v3/objects/contacts/{contactId}", "get_contact", _READ),
    _route("PATCH", "/crm/v3/objects/contacts/{contactId}", "patch_contact", _WRITE),
    _route("GET", "/crm/v3/properties/{objectType}", "get_properties", _PROPS),
    _route("POST", "/crm/v3/lists", "create_list", _LIST_WRITE),
    _route("GET", "/crm/v3/lists/{listId}", "get_list", _LIST_READ),
    _route("PUT", "/crm/v3/lists/{listId}/memberships/add", "add_members", _LIST_MEMBERS),
]
# Exact-path lookups first: most traffic is the fixed batch paths.
_EXACT = {(r.method, r.template): r for r in ROUTES if "{" not in r.template}
_PATTERNED = [r for r in ROUTES if "{" in r.template]


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # close the socket without answering
    close: bool = False  # answer, then close the connection


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: dict[str, dict[str, int]] = {}
            self.total = 0
            self.rate_limited = 0
            self.faults: dict[str, int] = {}
            self.internal_errors = 0
            self.log: deque[dict[str, Any]] = deque(maxlen=100_000)

    def record(self, entry: dict[str, Any]) -> None:
        key = f"{entry['method']} {entry['template']}"
        status = "reset" if entry["status"] is None else str(entry["status"])
        with self._lock:
            per = self.requests.setdefault(key, {})
            per[status] = per.get(status, 0) + 1
            self.total += 1
            if entry["status"] == 429:
                self.rate_limited += 1
            if entry["fault"]:
                self.faults[entry["fault"]] = self.faults.get(entry["fault"], 0) + 1
            if entry["status"] == 500 and not entry["fault"]:
                self.internal_errors += 1
            self.log.append(entry)


class _Ctx:
    """One API request as the endpoint handlers see it; n_inputs is reported back for the request log."""

    __slots__ = ("params", "query", "raw", "n_inputs")

    def __init__(self, raw: bytes = b"") -> None:
        self.params: dict[str, str] = {}
        self.query: dict[str, list[str]] = {}
        self.raw = raw
        self.n_inputs: int | None = None


class SandboxApp:
    """Request processing, independent of the socket layer."""

    def __init__(self, cfg: SandboxConfig) -> None:
        rows: list[dict[str, Any]] = []
        if cfg.contacts_csv:
            rows.extend(load_contacts_csv(cfg.contacts_csv))
        if cfg.contacts:
            rows.extend(cfg.contacts)
        self.cfg = cfg
        self.store = Store(rows, order_seed=cfg.seed, number_properties=cfg.number_properties)
        self.limiter = RateLimiter(cfg.rate_max, cfg.rate_window_ms, cfg.daily_max)
        self.faults = FaultInjector(cfg.faults, cfg.seed)
        self.stats = Stats()
        self.tokens: dict[str, set[str] | None] = {cfg.token: ALL_SCOPES}

    # -- admin -----------------------------------------------------------------------------------------
    def stats_body(self) -> dict[str, Any]:
        with self.stats._lock:
            return {
                "requests": {k: dict(v) for k, v in self.stats.requests.items()},
                "rate_limited": self.stats.rate_limited,
                "contacts_updated": self.store.updated,
                "contacts_created": self.store.created,
                "requests_total": self.stats.total,
                "faults": dict(self.stats.faults),
                "internal_errors": self.stats.internal_errors,
            }

    def admin(self, method: str, path: str) -> Reply:
        parts = path.rstrip("/").split("/")[2:]  # after "", "__sandbox__"
        if method == "GET" and parts == ["stats"]:
            return Reply(200, self.stats_body())
        if method == "GET" and parts == ["contacts"]:
            return Reply(200, {"results": self.store.snapshot()})
        if method == "GET" and parts == ["requests"]:
            with self.stats._lock:
                return Reply(200, {"results": list(self.stats.log)})
        if method == "GET" and parts == ["lists"]:
            with self.store._lock:
                views = [self.store._list_view(i) for i in self.store.lists]
            return Reply(200, {"results": views})
        if method == "GET" and len(parts) == 3 and parts[0] == "lists" and parts[2] == "members":
            return Reply(200, {"results": self.store.list_members(parts[1])})
        if method == "DELETE" and len(parts) == 2 and parts[0] == "contacts":
            try:
                self.store.delete(parts[1])
            except KeyError:
                return Reply(404, error("OBJECT_NOT_FOUND", f"No contact {parts[1]}"))
            return Reply(200, {"status": "deleted"})
        if method == "POST" and len(parts) == 4 and parts[0] == "contacts" and parts[2] == "merge-into":
            try:
                self.store.merge(parts[1], parts[3])
            except KeyError as exc:
                return Reply(404, error("OBJECT_NOT_FOUND", f"No contact {exc}"))
            return Reply(200, {"status": "merged"})
        if method == "POST" and parts == ["reset"]:
            self.store.reset()
            self.stats.reset()
            self.limiter.reset()
            return Reply(200, {"status": "reset"})
        return Reply(404, error("OBJECT_NOT_FOUND", f"No sandbox admin endpoint {method} {path}"))

    # -- HubSpot API -----------------------------------------------------------------------------------
    @staticmethod
    def match(method: str, path: str) -> tuple[_Route | None, dict[str, str], list[str]]:
        """(route, path params, methods allowed on the path)."""
        route = _EXACT.get((method, path))
        if route:
            return route, {}, [method]
        allowed = [r.method for r in ROUTES if "{" not in r.template and r.template == path]
        found = None
        params: dict[str, str] = {}
        for r in _PATTERNED:
            m = r.pattern.match(path)
            if m:
                allowed.append(r.method)
                if r.method == method and found is None:
                    found, params = r, {k: unquote(v) for k, v in m.groupdict().items()}
        return found, params, allowed

    def api(self, method: str, target: str, headers: Any, ctx: _Ctx) -> tuple[Reply, str, str | None]:
        """(reply, path template for stats, fault kind)."""
        split = urlsplit(target)
        path = split.path.rstrip("/") or "/"  # the official client POSTs to /crm/v3/lists/
        route, params, allowed = self.match(method, path)
        template = route.template if route else (path if allowed else "(unmatched)")
        token = _bearer(headers.get("Authorization"))
        if token is None or token not in self.tokens:
            return Reply(401, error("INVALID_AUTHENTICATION", bodies.AUTH_MESSAGE)), template, None
        decision = self.limiter.admit(token)
        rl = decision.headers
        if not decision.allowed:
            return Reply(429, bodies.rate_limited(decision.policy or ""), rl), template, None
        if self.cfg.latency_ms:
            time.sleep(self.cfg.latency_ms / 1000.0)
        fault = self.faults.draw()
        if fault == "reset":
            return Reply(0, None, reset=True), template, fault
        if fault == "slow":
            time.sleep(self.cfg.slow_ms / 1000.0)
        elif fault:
            status, body = fault_body(fault)
            return Reply(status, body, rl), template, fault
        if route is None:
            if allowed:
                reply = Reply(
                    405,
                    error("METHOD_NOT_ALLOWED", f"HTTP {method} is not supported by {path}"),
                    {**rl, "Allow": ", ".join(sorted(set(allowed)))},
                )
                return reply, template, fault
            reply = Reply(404, error("OBJECT_NOT_FOUND", f"Unable to find a resource at {path}"), rl)
            return reply, template, fault
        scopes = self.tokens[token]
        if scopes is not ALL_SCOPES and not any(set(alt) <= scopes for alt in route.scopes):
            required = sorted({s for alt in route.scopes for s in alt})
            return Reply(403, bodies.missing_scopes(required), rl), template, fault
        ctx.params, ctx.query = params, parse_qs(split.query)
        try:
            status, body = getattr(self, "_" + route.handler)(ctx)
        except HubSpotError as exc:
            status, body = exc.status, exc.body
        except Exception:  # a bug: answer like HubSpot would, and record it so tests catch it
            traceback.print_exc(file=sys.stderr)
            status, body = 500, error("INTERNAL_ERROR", "internal error")
        return Reply(status, body, rl), template, fault

    # -- endpoint handlers: (path params, query, raw body, ctx) -> (status, body) ------------------------
    def _batch_read(self, ctx: _Ctx) -> tuple[int, Any]:
        req = payloads.parse_read(payloads.parse_json(ctx.raw))
        ctx.n_inputs = len(req.ids)
        started = bodies.now_iso()
        results, missing = self.store.batch_read(req)
        status, body = _batch_reply([], missing, started, ok_status=200)
        # Splice the pre-encoded results into the encoded envelope (results is its first list).
        head, _, tail = json.dumps(body, separators=(",", ":")).encode().partition(b'"results":[]')
        return status, b"".join((head, b'"results":[', b",".join(results), b"]", tail))

    def _batch_update(self, ctx: _Ctx) -> tuple[int, Any]:
        inputs = payloads.parse_write_inputs(payloads.parse_json(ctx.raw), need_id=True)
        ctx.n_inputs = len(inputs)
        started = bodies.now_iso()
        results, missing = self.store.batch_update(inputs)
        return _batch_reply(results, missing, started, ok_status=200)

    def _batch_upsert(self, ctx: _Ctx) -> tuple[int, Any]:
        inputs = payloads.parse_write_inputs(payloads.parse_json(ctx.raw), need_id=True)
        ctx.n_inputs = len(inputs)
        started = bodies.now_iso()
        results, missing = self.store.batch_upsert(inputs)
        return _batch_reply(results, missing, started, ok_status=200)

    def _batch_create(self, ctx: _Ctx) -> tuple[int, Any]:
        inputs = payloads.parse_write_inputs(payloads.parse_json(ctx.raw), need_id=False)
        ctx.n_inputs = len(inputs)
        started = bodies.now_iso()
        results = self.store.batch_create(inputs)
        return _batch_reply(results, [], started, ok_status=201)

    def _get_contact(self, ctx: _Ctx) -> tuple[int, Any]:
        wanted = [p for v in ctx.query.get("properties", []) for p in v.split(",") if p]
        id_property = (ctx.query.get("idProperty") or [None])[0]
        return 200, self.store.get_one(ctx.params["contactId"], id_property, wanted)

    def _patch_contact(self, ctx: _Ctx) -> tuple[int, Any]:
        props = payloads.parse_single_write(payloads.parse_json(ctx.raw))
        ctx.n_inputs = 1
        id_property = (ctx.query.get("idProperty") or [None])[0]
        return 200, self.store.patch_one(ctx.params["contactId"], id_property, props)

    def _get_properties(self, ctx: _Ctx) -> tuple[int, Any]:
        if ctx.params["objectType"] not in ("contacts", "contact", "0-1"):
            raise HubSpotError(
                400,
                error("VALIDATION_ERROR", f"Unable to infer object type from: {ctx.params['objectType']}"),
            )
        return 200, {"results": self.store.property_list()}

    def _create_list(self, ctx: _Ctx) -> tuple[int, Any]:
        name, object_type_id, processing_type = payloads.parse_list_create(payloads.parse_json(ctx.raw))
        return 200, {"list": self.store.create_list(name, object_type_id, processing_type)}

    def _get_list(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, {"list": self.store.get_list(ctx.params["listId"])}

    def _add_members(self, ctx: _Ctx) -> tuple[int, Any]:
        ids = payloads.parse_id_array(payloads.parse_json(ctx.raw))
        ctx.n_inputs = len(ids)
        return 200, self.store.add_members(ctx.params["listId"], ids)


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _batch_reply(
    results: list[dict[str, Any]], missing: list[str], started: str, ok_status: int
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if missing:
        # One grouped OBJECT_NOT_FOUND error lists every miss (also when nothing was found).
        body["numErrors"] = 1
        grouped = bodies.standard_error("OBJECT_NOT_FOUND", bodies.NOT_FOUND_MESSAGE, {"ids": missing})
        body["errors"] = [grouped]
    body["startedAt"] = started
    body["completedAt"] = bodies.now_iso()
    return (207 if missing else ok_status), body


_MAX_LINE = 65536
_MAX_HEADERS = 100


class _Headers(dict):  # type: ignore[type-arg]
    """Request headers with lowercase names."""

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HubSpotSandbox/1"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the admin log has it
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Malformed request lines/headers: still a JSON body, and close (the stream may be out of sync).
        self.close_connection = True
        self._send(Reply(code, error("VALIDATION_ERROR", message or HTTPStatus(code).phrase), close=True))

    def handle_one_request(self) -> None:
        """A lean HTTP/1.1 request parser: the stdlib's email-based header parsing costs more than serving a
        batch/read, and the sandbox must serve over 1,000 requests/s."""
        try:
            line = self.rfile.readline(_MAX_LINE + 1)
            if not line:
                self.close_connection = True
                return
            if len(line) > _MAX_LINE:
                self.send_error(414, "Request-URI Too Long")
                return
            parts = line.decode("latin-1").split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                self.send_error(400, f"Bad request line {line[:100]!r}")
                return
            self.command, self.path, self.request_version = parts
            headers = _Headers()
            while True:
                raw = self.rfile.readline(_MAX_LINE + 1)
                if raw in (b"\r\n", b"\n", b""):
                    break
                name, sep, value = raw.decode("latin-1").partition(":")
                if len(raw) > _MAX_LINE or len(headers) >= _MAX_HEADERS or not sep:
                    self.send_error(431 if sep else 400, "Bad or too many request headers")
                    return
                headers[name.strip().lower()] = value.strip()
            self.headers = headers  # type: ignore[assignment]
            conn = headers.get("connection", "").lower()
            self.close_connection = conn == "close" or (
                self.request_version == "HTTP/1.0" and conn != "keep-alive"
            )
            if headers.get("expect", "").lower() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._dispatch()
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def _read_body(self) -> bytes | Reply:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return Reply(411, error("VALIDATION_ERROR", "A Content-Length header is required"), close=True)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            return Reply(400, error("VALIDATION_ERROR", "Invalid Content-Length header"), close=True)
        if n > MAX_BODY_BYTES:
            # Refuse before reading: the connection is closed since the body stays unread.
            message = f"Request body of {n} bytes exceeds the limit of {MAX_BODY_BYTES} bytes"
            return Reply(413, error("VALIDATION_ERROR", message), close=True)
        return self.rfile.read(n)

    def _dispatch(self) -> None:
        app = self.server.app
        t0 = time.monotonic()
        method = self.command
        target = self.path
        body = self._read_body()
        if target.startswith("/__sandbox__/") or target == "/__sandbox__":
            path = urlsplit(target).path
            reply = body if isinstance(body, Reply) else _guard(lambda: app.admin(method, path))
            self._send(reply)
            return
        ctx = _Ctx()
        fault = None
        if isinstance(body, Reply):
            reply, template = body, "(refused)"
        else:
            ctx.raw = body
            reply, template, fault = app.api(method, target, self.headers, ctx)
        # Recorded before answering: a client that reads the stats right after its response sees it counted.
        app.stats.record(
            {
                "method": method,
                "path": target,
                "template": template,
                "status": None if reply.reset else reply.status,
                "inputs": ctx.n_inputs,
                "fault": fault,
                "time": bodies.now_iso(),
                "duration_ms": round((time.monotonic() - t0) * 1000, 3),
            }
        )
        if reply.reset:
            self._reset()
        else:
            self._send(reply)

    def _reset(self) -> None:
        # SO_LINGER 0 then close: the peer gets a TCP RST instead of a response.
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _send(self, reply: Reply) -> None:
        if isinstance(reply.body, bytes):
            payload = reply.body  # pre-encoded
        else:
            payload = b"" if reply.body is None else json.dumps(reply.body, separators=(",", ":")).encode()
        try:
            phrase = HTTPStatus(reply.status).phrase
        except ValueError:
            phrase = "Multi-Status" if reply.status == 207 else ""
        lines = [
            f"HTTP/1.1 {reply.status} {phrase}",
            "Content-Type: application/json;charset=utf-8",
            f"Content-Length: {len(payload)}",
            f"Date: {self.date_time_string()}",
            f"Server: {self.server_version}",
        ]
        if isinstance(reply.body, dict) and "correlationId" in reply.body:
            lines.append(f"X-HubSpot-Correlation-Id: {reply.body['correlationId']}")
        lines.extend(f"{k}: {v}" for k, v in reply.headers.items())
        if reply.close or self.close_connection:
            self.close_connection = True
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + payload)  # one write: no Nagle/delayed-ACK stall on keep-alive
        except OSError:
            self.close_connection = True


def _guard(fn: Callable[[], Reply]) -> Reply:
    try:
        return fn()
    except HubSpotError as exc:
        return Reply(exc.status, exc.body)
    except Exception:
        traceback.print_exc(file=sys.stderr)
        return Reply(500, error("INTERNAL_ERROR", "internal error"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, port: int, app: SandboxApp) -> None:
        self.app = app
        self.open_sockets: set[socket.socket] = set()
        self._sock_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can stall; not needed here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._sock_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._sock_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self._sock_lock:
            socks = list(self.open_sockets)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Sandbox:
    """A HubSpot-compatible API on 127.0.0.1, served from a daemon thread."""

    def __init__(self, cfg: SandboxConfig | None = None) -> None:
        self.cfg = cfg or SandboxConfig()
        self.app = SandboxApp(self.cfg)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Sandbox:
        if self._server is None:
            self._server = _Server(self.cfg.port, self.app)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="hubspot-sandbox",
                daemon=True,
            )
            self._thread.start()
        return self

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_token(self, token: str, scopes: set[str] | frozenset[str] | list[str] | None = None) -> None:
        """Accept another Bearer token, with only `scopes` (None: every scope)."""
        self.app.tokens[token] = None if scopes is None else set(scopes)

    def contacts(self) -> list[dict[str, Any]]:
        return self.app.store.snapshot()

    def stats(self) -> dict[str, Any]:
        return self.app.stats_body()

    def requests_log(self) -> list[dict[str, Any]]:
        with self.app.stats._lock:
            return list(self.app.stats.log)

    def list_members(self, list_id: str) -> list[str]:
        return self.app.store.list_members(list_id)

    def reset(self) -> None:
        self.app.admin("POST", "/__sandbox__/reset")

    def delete_contact(self, rid: str) -> None:
        """As if deleted in HubSpot's UI (admin: no auth, limits or faults)."""
        self.app.store.delete(rid)

    def merge_contacts(self, merged_id: str, primary_id: str) -> None:
        """As if `merged_id` were merged into `primary_id` in HubSpot's UI."""
        self.app.store.merge(merged_id, primary_id)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_open_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._server else "stopped"
        return f"Sandbox({where})"
