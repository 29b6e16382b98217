"""Helpers the sandbox tests share (plain constants, classes and functions; the fixtures are conftest.py's):
the seed contacts, the official-spec response checker, an HTTP session on a sandbox, the official
`hubspot-api-client` pointed at one, and request shortcuts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from dbt_hubspot_sync.sandbox import Sandbox

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
SPEC_DIR = SHARED / "hubspot-openapi"
# Path prefix -> the official spec of that API family and version (longest prefixes first).
SPEC_FILES = {
    "/crm/v3/objects/contacts": "contacts_v3.json",
    "/crm/v3/lists": "lists_v3.json",
    "/crm/v3/properties": "properties_v3.json",
    "/crm/objects/2026-03/contacts": "contacts_2026-03.json",
    "/crm/lists/2026-03": "lists_2026-03.json",
    "/crm/properties/2026-03": "properties_2026-03.json",
    "/crm/objects/2026-09/": "objects_2026-09.json",
    "/crm/lists/2026-09": "lists_2026-09.json",
    "/crm/properties/2026-09": "properties_2026-09.json",
}
# The versioned base of each family, for tests that run one scenario on every version.
BASES = {
    "v3": {
        "contacts": "/crm/v3/objects/contacts",
        "lists": "/crm/v3/lists",
        "properties": "/crm/v3/properties",
    },
    "2026-03": {
        "contacts": "/crm/objects/2026-03/contacts",
        "lists": "/crm/lists/2026-03",
        "properties": "/crm/properties/2026-03",
    },
    "2026-09": {
        "contacts": "/crm/objects/2026-09/contacts",
        "lists": "/crm/lists/2026-09",
        "properties": "/crm/properties/2026-09",
    },
}
TOKEN = "sandbox-token"

CONTACTS = [
    {"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace", "amperity_id": "A-1"},
    {"email": "Bob@Example.com", "firstname": "Bob", "lifecyclestage": "lead"},
    {"email": "carol@example.org", "firstname": "Carol"},
    {"email": "dan@example.net", "hs_object_id": "1001"},
]

READ = "/crm/v3/objects/contacts/batch/read"
UPDATE = "/crm/v3/objects/contacts/batch/update"
UPSERT = "/crm/v3/objects/contacts/batch/upsert"
CREATE = "/crm/v3/objects/contacts/batch/create"


class SpecChecker:
    """Validates a sandbox response against the operation HubSpot's spec of its version declares for it (v3,
    2026-03 and 2026-09 contacts, lists and properties specs).

    Paths without an operation in the specs (unknown paths, wrong methods) are checked against the spec's
    standard `Error` schema, which every HubSpot error body follows. `checked` records (method, path, status,
    spec file) of each response checked."""

    def __init__(self) -> None:
        from openapi_core import OpenAPI
        from openapi_schema_validator import OAS30Validator

        self.apis = {}
        docs = {}
        for prefix, name in SPEC_FILES.items():
            doc = json.loads((SPEC_DIR / name).read_text(encoding="utf-8"))
            docs[prefix] = doc
            self.apis[prefix] = OpenAPI.from_dict(doc)
        components = docs["/crm/v3/objects/contacts"]["components"]
        self.error_validator = OAS30Validator(
            {"$ref": "#/components/schemas/Error", "components": components}
        )
        self.checked: list[tuple[str, str, int, str | None]] = []

    def __call__(self, resp: requests.Response) -> None:
        from openapi_core.templating.paths.exceptions import PathError
        from openapi_core.testing import MockRequest, MockResponse

        req = resp.request
        split = urlsplit(req.url)
        path = split.path
        if path.startswith("/__sandbox__/"):
            return  # admin endpoints are the sandbox's own
        prefix = next((p for p in SPEC_FILES if path.startswith(p)), None)
        self.checked.append((req.method or "", path, resp.status_code, SPEC_FILES.get(prefix or "")))
        if prefix is None or resp.status_code >= 400:
            # Every error in these specs is the `default` response: the `Error` schema under media type
            # `*/*`, which openapi-core does not parse as JSON; so the body is checked against `Error` here.
            body = resp.json()
            self.error_validator.validate(body)
            uuid.UUID(body["correlationId"])
            return
        body = req.body if isinstance(req.body, bytes) else (req.body or "").encode()
        mock_req = MockRequest(
            "https://api.hubapi.com",
            req.method or "GET",
            path,
            args={k: v[0] for k, v in parse_qs(split.query).items()},
            data=body,
        )
        mock_resp = MockResponse(resp.content, status_code=resp.status_code, content_type="application/json")
        try:
            self.apis[prefix].validate_response(mock_req, mock_resp)
        except PathError:  # no such operation in HubSpot's spec: the body must still be a standard Error
            assert resp.status_code >= 400, (req.method, path, resp.status_code)
            self.error_validator.validate(resp.json())


def session_for(
    sb: Sandbox, token: str | None = TOKEN, checker: SpecChecker | None = None
) -> requests.Session:
    s = requests.Session()
    if token is not None:
        s.headers["Authorization"] = f"Bearer {token}"
    if checker is not None:
        s.hooks["response"].append(lambda r, *a, **k: checker(r))
    s.base = sb.url  # type: ignore[attr-defined]
    return s


def hubspot_client(sb: Sandbox, token: str = TOKEN, **kwargs: Any) -> Any:
    from hubspot import HubSpot

    # `host` lands on every generated API's Configuration (discovery_base copies config keys onto it).
    return HubSpot(access_token=token, host=sb.url, **kwargs)


def post(api: requests.Session, path: str, body: Any) -> requests.Response:
    return api.post(api.base + path, json=body)  # type: ignore[attr-defined]


def read_emails(
    api: requests.Session, emails: list[str], props: list[str] | None = None
) -> requests.Response:
    body = {
        "idProperty": "email",
        "properties": props or ["email", "firstname"],
        "propertiesWithHistory": [],
        "inputs": [{"id": e} for e in emails],
    }
    return post(api, READ, body)


def by_id(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in results}
