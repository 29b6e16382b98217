"""`RouteSpec`: one endpoint of the sandbox's HubSpot API, declared once for every API version (routes.py compiles
the tables). Its own module so that the modules declaring routes (routes.py, imports.py) import nothing of each
other's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dbt_hubspot_sync.sandbox.endpoints import Ctx
from dbt_hubspot_sync.sandbox.store import Store

Handler = Callable[[Store, Ctx], tuple[int, Any]]


@dataclass(frozen=True)
class RouteSpec:
    """One endpoint in every version: method, API family, the path after the family's prefix, handler, scopes.

    `kind` "search": exempt from the ten-secondly window, limited per second instead, no rate-limit headers
    (HubSpot's `x-hubspot-rate-limit-exemptions: ["ten-secondly"]` on /search)."""

    method: str
    family: str
    suffix: str
    handler: Handler
    scopes: list[list[str]]  # alternatives: a token with every scope of one of them may call the route
    kind: str = "api"
