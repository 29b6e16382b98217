"""The sandbox's admin endpoints under /__sandbox__/ (no auth, no limits, no faults, not counted): stats,
contacts, the request log, lists and their members, reset; and what users do in HubSpot's UI between syncs
(delete a contact, merge one into another)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .bodies import error
from .routes import Reply

if TYPE_CHECKING:
    from .app import SandboxApp


def handle(app: SandboxApp, method: str, path: str) -> Reply:
    parts = path.rstrip("/").split("/")[2:]  # after "", "__sandbox__"
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
