"""`Sandbox`: the HubSpot sandbox as a library object, a `SandboxApp` served from a daemon thread, with the
admin operations as methods (contacts, stats, request log, reset, deleting and merging contacts).

The rest lives beside it: `app.py` (SandboxConfig, request processing), `routes.py` (route table, Reply),
`endpoints.py` (the HubSpot endpoint handlers), `admin.py` (/__sandbox__/ endpoints), `stats.py` (request
log and counts), `transport.py` (the HTTP server), `store.py` and `lists.py` (the data).
"""

from __future__ import annotations

import threading
from typing import Any

from dbt_hubspot_sync.sandbox.app import SandboxApp, SandboxConfig
from dbt_hubspot_sync.sandbox.transport import SandboxServer

__all__ = ["Sandbox", "SandboxApp", "SandboxConfig"]


class Sandbox:
    """A HubSpot-compatible API on 127.0.0.1, served from a daemon thread."""

    def __init__(self, cfg: SandboxConfig | None = None) -> None:
        self.cfg = cfg or SandboxConfig()
        self.app = SandboxApp(self.cfg)
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Sandbox:
        if self._server is None:
            self._server = SandboxServer(self.cfg.port, self.app)
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
        return self.app.stats.entries()

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

    def create_contact(self, properties: dict[str, str], createdate: str | None = None) -> dict[str, Any]:
        """As if created in HubSpot (a form, the UI): createdate now, or `createdate` (ISO 8601 or epoch ms)."""
        return self.app.store.create_contact(properties, createdate)

    def change_email(self, rid: str, email: str, keep_old: bool = True) -> dict[str, Any]:
        """The contact's primary email becomes `email`; with `keep_old` the old one stays an additional email."""
        return self.app.store.change_email(rid, email, keep_old)

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
