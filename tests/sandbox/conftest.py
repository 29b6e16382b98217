"""Fixtures for the sandbox tests: a running sandbox, an HTTP session whose every response is checked against
HubSpot's official OpenAPI specs, and the official `hubspot-api-client` pointed at the sandbox."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
SPEC_DIR = SHARED / "hubspot-openapi"
SPEC_FILES = {
    "/crm/v3/objects/contacts": "contacts_v3.json",
    "/crm/v3/lists": "lists_v3.json",
    "/crm/v3/properties": "properties_v3.json",
}
TOKEN = "sandbox-token"

CONTACTS = [
    {"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace", "amperity_id": "A-1"},
    {"email": "Bob@Example.com", "firstname": "Bob", "lifecyclestage": "lead"},
    {"email": "carol@example.org", "firstname": "Carol"},
    {"email": "dan@example.net", "hs_object_id": "1001"},
]


class SpecChecker:
    """Validates a sandbox response against the operation HubSpot's spec declares for it.

    Paths without an operation in the specs (unknown paths, wrong methods) are checked against the spec's
    standard `Error` schema, which every HubSpot error body follows."""

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
        self.checked: list[tuple[str, str, int]] = []

    def __call__(self, resp: requests.Response) -> None:
        from openapi_core.templating.paths.exceptions import PathError
        from openapi_core.testing import MockRequest, MockResponse

        req = resp.request
        split = urlsplit(req.url)
        path = split.path
        if path.startswith("/__sandbox__/"):
            return  # admin endpoints are the sandbox's own
        prefix = next((p for p in SPEC_FILES if path.startswith(p)), None)
        self.checked.append((req.method or "", path, resp.status_code))
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


@pytest.fixture(scope="session")
def spec_checker() -> SpecChecker:
    if not SPEC_DIR.is_dir():
        pytest.skip(
            f"HubSpot OpenAPI specs not found at {SPEC_DIR} (the shared folder beside the repository)"
        )
    return SpecChecker()


@pytest.fixture
def sandbox_factory() -> Iterator[Any]:
    started: list[Sandbox] = []

    def make(**overrides: Any) -> Sandbox:
        cfg = SandboxConfig(**{"contacts": [dict(c) for c in CONTACTS], **overrides})
        sb = Sandbox(cfg).start()
        started.append(sb)
        return sb

    yield make
    for sb in started:
        stats = sb.stats()
        sb.stop()
        assert stats["internal_errors"] == 0, "the sandbox answered 500 for an unexpected exception"


@pytest.fixture
def sandbox(sandbox_factory: Any) -> Sandbox:
    return sandbox_factory()


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


@pytest.fixture
def api(sandbox: Sandbox, spec_checker: SpecChecker) -> requests.Session:
    """A session on the default sandbox whose every response is validated against the official specs."""
    return session_for(sandbox, checker=spec_checker)


@pytest.fixture
def hs(sandbox: Sandbox) -> Any:
    return hubspot_client(sandbox)


def hubspot_client(sb: Sandbox, token: str = TOKEN, **kwargs: Any) -> Any:
    from hubspot import HubSpot

    # `host` lands on every generated API's Configuration (discovery_base copies config keys onto it).
    return HubSpot(access_token=token, host=sb.url, **kwargs)
