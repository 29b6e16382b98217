"""Request processing, independent of the socket layer: `SandboxConfig`, and `SandboxApp`, which takes one
HubSpot API request through routing (the API versions served), auth, the rate limits (search's own), latency
and faults, scopes and its endpoint handler (`endpoints.py`, `search.py`, `memberships.py`), and serves the admin
endpoints (`admin.py`)."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dbt_hubspot_sync.sandbox import admin, bodies
from dbt_hubspot_sync.sandbox.bodies import ErrorAnswer, error
from dbt_hubspot_sync.sandbox.endpoints import Ctx
from dbt_hubspot_sync.sandbox.faults import FaultInjector, fault_body
from dbt_hubspot_sync.sandbox.ratelimit import RateLimiter
from dbt_hubspot_sync.sandbox.routes import CONTACT_TYPES, VERSIONS, Reply, Route, Router
from dbt_hubspot_sync.sandbox.stats import Stats
from dbt_hubspot_sync.sandbox.store import Store, load_contacts_csv

ALL_SCOPES = None  # marker: the main token has every scope


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
    # The API versions served (v3, 2026-03, 2026-09); a path of another version is an unknown path (404), as a
    # retired version's is at HubSpot: `versions=("2026-03",)` proves a sync never calls a v3 path.
    versions: tuple[str, ...] = VERSIONS
    # The portal's own write-validation rules, enforced on 2026-09 writes only (HubSpot's "CRM API write validation
    # enforcement"): {required property: (controlling property, value)}, e.g. {"company": ("lifecyclestage",
    # "customer")}: a write setting lifecyclestage to customer on a contact left without a company is a 400
    # VALIDATION_ERROR MISSING_CONDITIONAL_REQUIRED_PROPERTY naming company (the whole batch).
    required_when: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # Search: requests per second per token (HubSpot: 5), and how long writes take to show in search results.
    search_per_second: int = 5
    search_lag_ms: int = 0


class SandboxApp:
    """Request processing, independent of the socket layer."""

    def __init__(self, cfg: SandboxConfig) -> None:
        rows: list[dict[str, Any]] = []
        if cfg.contacts_csv:
            rows.extend(load_contacts_csv(cfg.contacts_csv))
        if cfg.contacts:
            rows.extend(cfg.contacts)
        self.cfg = cfg
        self.store = Store(
            rows,
            order_seed=cfg.seed,
            number_properties=cfg.number_properties,
            required_when=cfg.required_when,
            search_lag_ms=cfg.search_lag_ms,
        )
        self.router = Router(cfg.versions)
        self.limiter = RateLimiter(cfg.rate_max, cfg.rate_window_ms, cfg.daily_max, cfg.search_per_second)
        self.faults = FaultInjector(cfg.faults, cfg.seed)
        self.stats = Stats()
        self.tokens: dict[str, set[str] | None] = {cfg.token: ALL_SCOPES}

    # -- admin -----------------------------------------------------------------------------------------
    def stats_body(self) -> dict[str, Any]:
        return self.stats.body(self.store.updated, self.store.created)

    def admin(self, method: str, path: str, raw: bytes = b"") -> Reply:
        return admin.handle(self, method, path, raw)

    # -- HubSpot API -----------------------------------------------------------------------------------
    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """(route, path params, methods allowed on the path), among the versions served."""
        return self.router.match(method, path)

    def api(self, method: str, target: str, headers: Any, ctx: Ctx) -> tuple[Reply, str, str | None]:
        """(reply, path template for stats, fault kind)."""
        split = urlsplit(target)
        path = split.path.rstrip("/") or "/"  # the official client POSTs to /crm/v3/lists/
        route, params, allowed = self.match(method, path)
        template = route.template if route else (path if allowed else "(unmatched)")
        token = _bearer(headers.get("Authorization"))
        if token is None or token not in self.tokens:
            return Reply(401, error("INVALID_AUTHENTICATION", bodies.AUTH_MESSAGE)), template, None
        search = route is not None and route.kind == "search"
        decision = self.limiter.admit_search(token) if search else self.limiter.admit(token)
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
        ctx.version, ctx.headers = route.version, headers
        try:
            if route.family == "contacts" and params.get("objectType", "contacts") not in CONTACT_TYPES:
                raise ErrorAnswer(
                    400,
                    error("VALIDATION_ERROR", f"Unable to infer object type from: {params['objectType']}"),
                )
            status, body = route.handler(self.store, ctx)
        except ErrorAnswer as exc:
            status, body = exc.status, exc.body
        except Exception:  # a bug: answer like HubSpot would, and record it so tests catch it
            traceback.print_exc(file=sys.stderr)
            status, body = 500, error("INTERNAL_ERROR", "internal error")
        return Reply(status, body, rl), template, fault


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
