"""The sandbox's admin endpoints under /__sandbox__/ (no auth, no limits, no faults, not counted): stats,
contacts, the request log, lists and their members, reset; and what users do in HubSpot between syncs (create a
contact, change its email, delete one, merge one into another)."""

from __future__ import annotations

import json
from typing import Any, Protocol

from dbt_hubspot_sync.sandbox.bodies import ErrorAnswer, error
from dbt_hubspot_sync.sandbox.ratelimit import RateLimiter
from dbt_hubspot_sync.sandbox.routes import Reply
from dbt_hubspot_sync.sandbox.stats import Stats
from dbt_hubspot_sync.sandbox.store import Store


class Sandboxed(Protocol):
    """What the admin endpoints reach of the running sandbox (app.SandboxApp): its store, counters and limiter."""

    store: Store
    stats: Stats
    limiter: RateLimiter

    def stats_body(self) -> dict[str, Any]: ...


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ErrorAnswer(400, error("VALIDATION_ERROR", "expected a JSON object"))
    return body


def handle(app: Sandboxed, method: str, path: str, raw: bytes = b"") -> Reply:
    parts = path.rstrip("/").split("/")[2:]  # after "", "__sandbox__"
    if method == "POST" and parts == ["contacts"]:
        # {"properties": {"email": ..., ...}, "createdate": optional ISO 8601 / epoch ms (default: now)}
        body = _json(raw)
        props = body.get("properties") if isinstance(body.get("properties"), dict) else {}
        return Reply(201, app.store.create_contact(props, body.get("createdate")))
    if method == "POST" and len(parts) == 3 and parts[0] == "contacts" and parts[2] == "email":
        # {"email": new primary email, "keep_old": true (the old one stays as an additional email)}
        body = _json(raw)
        try:
            contact = app.store.change_email(
                parts[1], str(body.get("email") or ""), bool(body.get("keep_old", True))
            )
        except KeyError:
            return Reply(404, error("OBJECT_NOT_FOUND", f"No contact {parts[1]}"))
        return Reply(200, contact)
    if method == "GET" and parts == ["stats"]:
        return Reply(200, app.stats_body())
    if method == "GET" and parts == ["contacts"]:
        return Reply(200, {"results": app.store.snapshot()})
    if method == "GET" and parts == ["requests"]:
        return Reply(200, {"results": app.stats.entries()})
    if method == "GET" and parts == ["lists"]:
        return Reply(200, {"results": app.store.list_views()})
    if method == "GET" and len(parts) == 3 and parts[0] == "lists" and parts[2] == "members":
        return Reply(200, {"results": app.store.list_members(parts[1])})
    if method == "DELETE" and len(parts) == 2 and parts[0] == "contacts":
        try:
            app.store.delete(parts[1])
        except KeyError:
            return Reply(404, error("OBJECT_NOT_FOUND", f"No contact {parts[1]}"))
        return Reply(200, {"status": "deleted"})
    if method == "POST" and len(parts) == 4 and parts[0] == "contacts" and parts[2] == "merge-into":
        try:
            app.store.merge(parts[1], parts[3])
        except KeyError as exc:
            return Reply(404, error("OBJECT_NOT_FOUND", f"No contact {exc}"))
        return Reply(200, {"status": "merged"})
    if method == "POST" and parts == ["reset"]:
        app.store.reset()
        app.stats.reset()
        app.limiter.reset()
        return Reply(200, {"status": "reset"})
    return Reply(404, error("OBJECT_NOT_FOUND", f"No sandbox admin endpoint {method} {path}"))
