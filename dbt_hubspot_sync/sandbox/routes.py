"""The HubSpot API's route table: each path template, its method, handler and the scopes it needs; matching a
request path to a route; and `Reply`, what every request (API or admin) is answered with."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from . import endpoints
from .endpoints import Ctx
from .store import Store

Handler = Callable[[Store, Ctx], tuple[int, Any]]

_READ = [["crm.objects.contacts.read"]]
_WRITE = [["crm.objects.contacts.write"]]
_PROPS = [["crm.objects.contacts.read"], ["crm.schemas.contacts.read"], ["crm.objects.contacts.write"]]
_LIST_WRITE = [["crm.lists.write"]]
_LIST_READ = [["crm.lists.read"]]
_LIST_MEMBERS = [["crm.lists.read", "crm.lists.write"]]


@dataclass
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    scopes: list[list[str]]  # alternatives: a token with every scope of one of them may call the route


def _route(method: str, template: str, handler: Handler, scopes: list[list[str]]) -> Route:
    regex = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return Route(method, template, re.compile(f"^{regex}$"), handler, scopes)


ROUTES = [
    _route("POST", "/crm/v3/objects/contacts/batch/read", endpoints.batch_read, _READ),
    _route("POST", "/crm/v3/objects/contacts/batch/update", endpoints.batch_update, _WRITE),
    _route("POST", "/crm/v3/objects/contacts/batch/upsert", endpoints.batch_upsert, _WRITE),
    _route("POST", "/crm/v3/objects/contacts/batch/create", endpoints.batch_create, _WRITE),
    _route("GET", "/crm/v3/objects/contacts/{contactId}", endpoints.get_contact, _READ),
    _route("PATCH", "/crm/v3/objects/contacts/{contactId}", endpoints.patch_contact, _WRITE),
    _route("GET", "/crm/v3/properties/{objectType}", endpoints.get_properties, _PROPS),
    _route("POST", "/crm/v3/lists", endpoints.create_list, _LIST_WRITE),
    _route("GET", "/crm/v3/lists/{listId}", endpoints.get_list, _LIST_READ),
    _route("PUT", "/crm/v3/lists/{listId}/memberships/add", endpoints.add_members, _LIST_MEMBERS),
]
# Exact-path lookups first: most traffic is the fixed batch paths.
_EXACT = {(r.method, r.template): r for r in ROUTES if "{" not in r.template}
_PATTERNED = [r for r in ROUTES if "{" in r.template]


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
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


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # close the socket without answering
    close: bool = False  # answer, then close the connection
