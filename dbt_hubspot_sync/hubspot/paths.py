"""Where every HubSpot call goes, per API version: the one table the client takes its paths from.

HubSpot replaced its numerically versioned paths (`/crm/v3/...`) with date versions (`/crm/objects/2026-03/...`,
`/crm/lists/2026-09/...`): each date version is supported for 18 months, and v1-v3 are unsupported from
September 2027 (docs/hubspot_api.md §9). `OPERATIONS` holds, for each call the product makes or will make, its
method and its path template in every version, spelled exactly as HubSpot's OpenAPI specs spell them
(tests/hubspot/test_paths.py holds each one to its spec file). `Paths(version)` fills the templates in:

    Paths("2026-09").batch_update()          -> "/crm/objects/2026-09/contacts/batch/update"
    Paths("v3").memberships_add("123")        -> "/crm/v3/lists/123/memberships/add"

The version comes from `api_version` in the exposure config (vars or exposure), else the `HUBSPOT_API_VERSION`
environment variable, else `DEFAULT_VERSION` (`resolve_version`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args
from urllib.parse import quote

from dbt_hubspot_sync.errors import SettingError

__all__ = [
    "ApiVersion",
    "VERSIONS",
    "DEFAULT_VERSION",
    "VERSION_ENV",
    "OPERATIONS",
    "SPEC_FILES",
    "Operation",
    "Paths",
    "resolve_version",
]

ApiVersion = Literal["v3", "2026-03", "2026-09"]
VERSIONS: Final[tuple[str, ...]] = get_args(ApiVersion)
# v3: what the product has always called and what the evidence (captured responses) is about; supported until
# September 2027. 2026-03 has v3's schemas; 2026-09 also enforces a portal's own write-validation rules
# (docs/hubspot_api.md §9). Set api_version (or HUBSPOT_API_VERSION) to move.
DEFAULT_VERSION: Final[ApiVersion] = "v3"
VERSION_ENV: Final = "HUBSPOT_API_VERSION"

# The spec file of each API family and version, as HubSpot's public spec collection names them.
# 2026-09 contacts are in the generic objects spec (`/crm/objects/2026-09/{objectType}/...`).
SPEC_FILES: Final[dict[str, dict[str, str]]] = {
    "contacts": {
        "v3": "contacts_v3.json",
        "2026-03": "contacts_2026-03.json",
        "2026-09": "objects_2026-09.json",
    },
    "lists": {"v3": "lists_v3.json", "2026-03": "lists_2026-03.json", "2026-09": "lists_2026-09.json"},
    "properties": {
        "v3": "properties_v3.json",
        "2026-03": "properties_2026-03.json",
        "2026-09": "properties_2026-09.json",
    },
    "imports": {
        "v3": "imports_v3.json",
        "2026-03": "imports_2026-03.json",
        "2026-09": "imports_2026-09.json",
    },
}


@dataclass(frozen=True)
class Operation:
    """One call: its method, its API family (which spec file has it) and its path template per version."""

    method: str
    family: str
    templates: Mapping[str, str]


def _family(v3_prefix: str, dated_prefix: str, suffix: str) -> dict[str, str]:
    """v3's path and the date versions' (`<version>` in `dated_prefix` is where the date goes)."""
    out = {"v3": v3_prefix + suffix}
    for version in VERSIONS[1:]:
        out[version] = dated_prefix.replace("<version>", version) + suffix
    return out


def _contacts(suffix: str) -> dict[str, str]:
    # 2026-09 has only the generic objects spec: its {objectType} is filled with "contacts".
    out = _family("/crm/v3/objects/contacts", "/crm/objects/<version>/contacts", suffix)
    out["2026-09"] = "/crm/objects/2026-09/{objectType}" + suffix
    return out


def _lists(suffix: str) -> dict[str, str]:
    return _family("/crm/v3/lists", "/crm/lists/<version>", suffix)


def _imports(suffix: str) -> dict[str, str]:
    return _family("/crm/v3/imports", "/crm/imports/<version>", suffix)


OPERATIONS: Final[dict[str, Operation]] = {
    "batch_read": Operation("POST", "contacts", _contacts("/batch/read")),
    "batch_update": Operation("POST", "contacts", _contacts("/batch/update")),
    "search": Operation("POST", "contacts", _contacts("/search")),
    "properties": Operation(
        "GET",
        "properties",
        _family("/crm/v3/properties", "/crm/properties/<version>", "/{objectType}"),
    ),
    "get_list": Operation("GET", "lists", _lists("/{listId}")),
    "memberships": Operation("GET", "lists", _lists("/{listId}/memberships")),
    "memberships_add": Operation("PUT", "lists", _lists("/{listId}/memberships/add")),
    "memberships_remove": Operation("PUT", "lists", _lists("/{listId}/memberships/remove")),
    "memberships_add_and_remove": Operation("PUT", "lists", _lists("/{listId}/memberships/add-and-remove")),
    "memberships_add_from": Operation(
        "PUT", "lists", _lists("/{listId}/memberships/add-from/{sourceListId}")
    ),
    "import_start": Operation("POST", "imports", _imports("")),
    "import_list": Operation("GET", "imports", _imports("")),
    "import_get": Operation("GET", "imports", _imports("/{importId}")),
    "import_errors": Operation("GET", "imports", _imports("/{importId}/errors")),
    "import_cancel": Operation("POST", "imports", _imports("/{importId}/cancel")),
}


def _seg(value: str) -> str:
    return quote(str(value), safe="")


@dataclass(frozen=True)
class Paths:
    """The paths of one API version, filled in (path parameters percent-encoded)."""

    version: ApiVersion = DEFAULT_VERSION

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ValueError(
                f"unknown HubSpot API version {self.version!r}; expected one of {', '.join(VERSIONS)}"
            )

    def template(self, operation: str) -> str:
        return OPERATIONS[operation].templates[self.version]

    def path(self, operation: str, **params: str) -> str:
        params.setdefault("objectType", "contacts")
        return self.template(operation).format(**{k: _seg(v) for k, v in params.items()})

    def call(self, operation: str, **params: str) -> str:
        """'METHOD path', as the client names a call in its messages."""
        return f"{OPERATIONS[operation].method} {self.path(operation, **params)}"

    # -- the calls, by name --------------------------------------------------------------------------------------
    def batch_read(self) -> str:
        return self.path("batch_read")

    def batch_update(self) -> str:
        return self.path("batch_update")

    def search(self) -> str:
        return self.path("search")

    def properties(self, object_type: str = "contacts") -> str:
        return self.path("properties", objectType=object_type)

    def get_list(self, list_id: str) -> str:
        return self.path("get_list", listId=list_id)

    def memberships(self, list_id: str) -> str:
        return self.path("memberships", listId=list_id)

    def memberships_add(self, list_id: str) -> str:
        return self.path("memberships_add", listId=list_id)

    def memberships_remove(self, list_id: str) -> str:
        return self.path("memberships_remove", listId=list_id)

    def memberships_add_and_remove(self, list_id: str) -> str:
        return self.path("memberships_add_and_remove", listId=list_id)

    def memberships_add_from(self, list_id: str, source_list_id: str) -> str:
        return self.path("memberships_add_from", listId=list_id, sourceListId=source_list_id)

    def imports(self) -> str:
        """POST: start an import; GET: the account's imports."""
        return self.path("import_start")

    def import_get(self, import_id: str) -> str:
        return self.path("import_get", importId=import_id)

    def import_errors(self, import_id: str) -> str:
        return self.path("import_errors", importId=import_id)

    def import_cancel(self, import_id: str) -> str:
        return self.path("import_cancel", importId=import_id)


def resolve_version(configured: str | None = None, env: Mapping[str, str] | None = None) -> ApiVersion:
    """The API version to call: `configured` (the exposure's `api_version`, vars or exposure) wins; else
    HUBSPOT_API_VERSION; else DEFAULT_VERSION. ValueError names a value that is not a version."""
    env = os.environ if env is None else env
    raw = configured if configured not in (None, "") else (env.get(VERSION_ENV) or "").strip() or None
    if raw is None:
        return DEFAULT_VERSION
    if raw not in VERSIONS:
        source = "api_version" if configured not in (None, "") else VERSION_ENV
        raise SettingError(f"{source} must be one of {', '.join(VERSIONS)} (got {raw!r})")
    return raw  # type: ignore[return-value]
