"""The HubSpot API's route tables, served in every API version the sandbox claims; matching a request path to a
route; and `Reply`, what every request (API or admin) is answered with.

A route is declared once, as a `RouteSpec` of an API family (`contacts`, `lists`, `properties`, `imports`) and its
path after the family's prefix; `PREFIXES` gives each family's prefix per version, as HubSpot's specs spell them
(`/crm/v3/objects/contacts`, `/crm/objects/2026-03/contacts`, `/crm/objects/2026-09/{objectType}`, ...), and
tests/sandbox/test_versions.py holds every compiled route to its version's spec. A `Router` compiles the tables
for the versions one sandbox serves: a path of a version it does not serve is an unknown path (404), as a retired
version's would be at HubSpot.

More endpoints (e.g. imports) are one more table in `ROUTE_TABLES`: a list of `RouteSpec` (route_spec.py), as
`imports.IMPORT_ROUTES`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from dbt_hubspot_sync.sandbox import endpoints, memberships
from dbt_hubspot_sync.sandbox.imports import IMPORT_ROUTES
from dbt_hubspot_sync.sandbox.route_spec import Handler, RouteSpec

VERSIONS = ("v3", "2026-03", "2026-09")
PREFIXES: dict[str, dict[str, str]] = {
    "v3": {
        "contacts": "/crm/v3/objects/contacts",
        "lists": "/crm/v3/lists",
        "properties": "/crm/v3/properties",
        "imports": "/crm/v3/imports",
    },
    **{
        v: {
            "contacts": f"/crm/objects/{v}/contacts"
            if v == "2026-03"
            else f"/crm/objects/{v}/{{objectType}}",
            "lists": f"/crm/lists/{v}",
            "properties": f"/crm/properties/{v}",
            "imports": f"/crm/imports/{v}",
        }
        for v in ("2026-03", "2026-09")
    },
}
CONTACT_TYPES = frozenset(
    {"contacts", "contact", "0-1"}
)  # what {objectType} may name: the sandbox has contacts

_READ = [["crm.objects.contacts.read"]]
_WRITE = [["crm.objects.contacts.write"]]
_PROPS = [["crm.objects.contacts.read"], ["crm.schemas.contacts.read"], ["crm.objects.contacts.write"]]
_LIST_WRITE = [["crm.lists.write"]]
_LIST_READ = [["crm.lists.read"]]
_LIST_MEMBERS = [["crm.lists.read", "crm.lists.write"]]


CONTACT_ROUTES = [
    RouteSpec("POST", "contacts", "/batch/read", endpoints.batch_read, _READ),
    RouteSpec("POST", "contacts", "/batch/update", endpoints.batch_update, _WRITE),
    RouteSpec("POST", "contacts", "/batch/upsert", endpoints.batch_upsert, _WRITE),
    RouteSpec("POST", "contacts", "/batch/create", endpoints.batch_create, _WRITE),
    RouteSpec("POST", "contacts", "/search", endpoints.search_contacts, _READ, kind="search"),
    RouteSpec("GET", "contacts", "/{contactId}", endpoints.get_contact, _READ),
    RouteSpec("PATCH", "contacts", "/{contactId}", endpoints.patch_contact, _WRITE),
]
PROPERTY_ROUTES = [RouteSpec("GET", "properties", "/{objectType}", endpoints.get_properties, _PROPS)]
LIST_ROUTES = [
    RouteSpec("POST", "lists", "", endpoints.create_list, _LIST_WRITE),
    RouteSpec("GET", "lists", "/{listId}", endpoints.get_list, _LIST_READ),
    RouteSpec("GET", "lists", "/{listId}/memberships", memberships.page, _LIST_READ),
    RouteSpec("PUT", "lists", "/{listId}/memberships/add", endpoints.add_members, _LIST_MEMBERS),
    RouteSpec("PUT", "lists", "/{listId}/memberships/remove", memberships.remove, _LIST_MEMBERS),
    RouteSpec(
        "PUT", "lists", "/{listId}/memberships/add-and-remove", memberships.add_and_remove, _LIST_MEMBERS
    ),
]
# Every table the sandbox serves; a feature with its own endpoints appends its table here (see the docstring).
ROUTE_TABLES: list[list[RouteSpec]] = [CONTACT_ROUTES, PROPERTY_ROUTES, LIST_ROUTES, IMPORT_ROUTES]


@dataclass
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    scopes: list[list[str]]
    version: str = "v3"
    family: str = ""
    kind: str = "api"


def _compile(spec: RouteSpec, version: str) -> Route:
    template = PREFIXES[version][spec.family] + spec.suffix
    regex = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return Route(
        spec.method,
        template,
        re.compile(f"^{regex}$"),
        spec.handler,
        spec.scopes,
        version,
        spec.family,
        spec.kind,
    )


class Router:
    """The routes of the versions one sandbox serves; `match` is memoised (the hot paths are a few fixed ones)."""

    def __init__(
        self, versions: Iterable[str] = VERSIONS, tables: Iterable[list[RouteSpec]] | None = None
    ) -> None:
        self.versions = tuple(dict.fromkeys(versions))
        unknown = [v for v in self.versions if v not in PREFIXES]
        if unknown or not self.versions:
            raise ValueError(
                f"unknown API version(s) {unknown or '(none)'}; the sandbox serves {', '.join(VERSIONS)}"
            )
        self.routes = [
            _compile(s, v) for v in self.versions for table in (tables or ROUTE_TABLES) for s in table
        ]
        # Exact-path lookups first: most traffic is the fixed batch paths.
        self._exact = {(r.method, r.template): r for r in self.routes if "{" not in r.template}
        self._patterned = [r for r in self.routes if "{" in r.template]
        self._cache: dict[tuple[str, str], tuple[Route | None, dict[str, str], list[str]]] = {}

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """(route, path params, methods allowed on the path)."""
        key = (method, path)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._match(method, path)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = hit
        route, params, allowed = hit
        return route, dict(params), list(allowed)

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        route = self._exact.get((method, path))
        if route:
            return route, {}, [method]
        allowed = [r.method for r in self.routes if "{" not in r.template and r.template == path]
        found = None
        params: dict[str, str] = {}
        for r in self._patterned:
            m = r.pattern.match(path)
            if m:
                allowed.append(r.method)
                if r.method == method and found is None:
                    found, params = r, {k: unquote(v) for k, v in m.groupdict().items()}
        return found, params, allowed


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # close the socket without answering
    close: bool = False  # answer, then close the connection

