"""The sandbox's HTTP plumbing: a ThreadingHTTPServer on 127.0.0.1 speaking HTTP/1.1 keep-alive, with a lean
request parser; it hands API requests to `SandboxApp.api` and admin ones to `SandboxApp.admin`, records each
API request in the stats, and writes the reply.

Stdlib only. Every response is written with one send (headers and body together, Content-Length always set)
and TCP_NODELAY, so keep-alive clients never wait on Nagle/delayed-ACK stalls.
"""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from dbt_hubspot_sync.sandbox import bodies
from dbt_hubspot_sync.sandbox.app import SandboxApp
from dbt_hubspot_sync.sandbox.bodies import ErrorAnswer, error
from dbt_hubspot_sync.sandbox.endpoints import Ctx
from dbt_hubspot_sync.sandbox.routes import Reply

MAX_BODY_BYTES = 10 * 1024 * 1024  # larger bodies are refused with 413 without being read
MAX_UPLOAD_BYTES = 520 * 1024 * 1024  # an import: HubSpot's 512 MB file limit is answered by imports.py

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
    server: SandboxServer

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
        limit = MAX_UPLOAD_BYTES if "/imports" in self.path else MAX_BODY_BYTES  # an import's file: 512 MB
        if n > limit:
            # Refuse before reading: the connection is closed since the body stays unread.
            message = f"Request body of {n} bytes exceeds the limit of {limit} bytes"
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
            reply = body if isinstance(body, Reply) else _guard(lambda: app.admin(method, path, body))
            self._send(reply)
            return
        ctx = Ctx()
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
    except ErrorAnswer as exc:
        return Reply(exc.status, exc.body)
    except Exception:
        traceback.print_exc(file=sys.stderr)
        return Reply(500, error("INTERNAL_ERROR", "internal error"))


class SandboxServer(ThreadingHTTPServer):
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
