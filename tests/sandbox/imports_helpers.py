"""What the sandbox imports tests share: an import request as HubSpot's guide builds it, a session whose every
response is validated against HubSpot's imports specs (v3, 2026-03, 2026-09), and waiting for an import."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from dbt_hubspot_sync.sandbox import Sandbox
from dbt_hubspot_sync.sandbox.imports import imports_of

from .helpers import SPEC_DIR, TOKEN

IMPORT_SPECS = {
    "/crm/v3/imports": "imports_v3.json",
    "/crm/imports/2026-03": "imports_2026-03.json",
    "/crm/imports/2026-09": "imports_2026-09.json",
}
LISTS_V3 = "lists_v3.json"
BASES = list(IMPORT_SPECS)


class ImportSpecChecker:
    """Validates each response against the operation of HubSpot's imports spec for its path (errors against the
    spec's `Error` schema, which every HubSpot error body follows)."""

    def __init__(self) -> None:
        from openapi_core import OpenAPI
        from openapi_schema_validator import OAS30Validator

        if not SPEC_DIR.is_dir():
            pytest.skip(
                f"HubSpot OpenAPI specs not found at {SPEC_DIR} (the shared folder beside the repository)"
            )
        self.apis = {}
        for prefix, name in {**IMPORT_SPECS, "/crm/v3/lists": LISTS_V3}.items():
            doc = json.loads((SPEC_DIR / name).read_text(encoding="utf-8"))
            # imports_2026-09.json declares PublicImportError.createdAt, an epoch-millisecond timestamp, as int32,
            # which no time after 1970-01-25 fits (v3 and 2026-03 say int64): checked as int64.
            if name.startswith("imports_"):
                doc["components"]["schemas"]["PublicImportError"]["properties"]["createdAt"]["format"] = (
                    "int64"
                )
            self.apis[prefix] = OpenAPI.from_dict(doc)
            if prefix == "/crm/v3/imports":
                components = doc["components"]
        self.error_validator = OAS30Validator(
            {"$ref": "#/components/schemas/Error", "components": components}
        )
        self.checked: list[tuple[str, str, int]] = []

    def __call__(self, resp: requests.Response) -> None:
        from openapi_core.testing import MockRequest, MockResponse

        req = resp.request
        split = urlsplit(req.url)
        path = split.path.rstrip("/")
        self.checked.append((req.method or "", path, resp.status_code))
        if resp.status_code >= 400:
            body = resp.json()
            self.error_validator.validate(body)
            uuid.UUID(body["correlationId"])
            return
        prefix = next(p for p in self.apis if path.startswith(p))
        mock_req = MockRequest(
            "https://api.hubapi.com",
            req.method or "GET",
            path,
            args={k: v[0] for k, v in parse_qs(split.query).items()},
        )
        content = resp.content
        mock_resp = MockResponse(content, status_code=resp.status_code, content_type="application/json")
        if resp.status_code == 204:
            assert content == b"", resp.content
            return
        self.apis[prefix].validate_response(mock_req, mock_resp)


def import_request(
    file_name: str = "audience.csv",
    columns: tuple[str, ...] = ("email", "firstname"),
    *,
    operation: str | None = "UPDATE",
    name: str = "audience",
    make_list: bool = False,
) -> dict[str, Any]:
    """The importRequest of HubSpot's guide: email as the alternate id column, each other column a property."""
    mappings = [
        {
            "columnObjectTypeId": "0-1",
            "columnName": c,
            "propertyName": c,
            **({"columnType": "HUBSPOT_ALTERNATE_ID"} if c == "email" else {}),
        }
        for c in columns
    ]
    request: dict[str, Any] = {
        "name": name,
        "files": [
            {
                "fileName": file_name,
                "fileFormat": "CSV",
                "fileImportPage": {"hasHeader": True, "columnMappings": mappings},
            }
        ],
    }
    if operation is not None:
        request["importOperations"] = {"0-1": operation}
    if make_list:
        request["createContactListFromImport"] = True
    return request


def csv_of(rows: list[tuple[str, ...]], columns: tuple[str, ...] = ("email", "firstname")) -> bytes:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue().encode()


def start(
    api: requests.Session,
    content: bytes,
    request: dict[str, Any] | None = None,
    base: str = "/crm/v3/imports",
    file_name: str = "audience.csv",
) -> requests.Response:
    request = request if request is not None else import_request(file_name)
    return api.post(
        api.base + base,  # type: ignore[attr-defined]
        files={"files": (file_name, content, "text/csv")},
        data={"importRequest": json.dumps(request)},
    )


def wait_state(
    api: requests.Session,
    import_id: str,
    states: tuple[str, ...],
    base: str = "/crm/v3/imports",
    timeout: float = 20.0,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"{api.base}{base}/{import_id}").json()  # type: ignore[attr-defined]
        if body["state"] in states or time.monotonic() > deadline:
            return body
        time.sleep(0.02)


def fast(sb: Sandbox, **overrides: Any) -> None:
    """Process imports quickly (and set other limits) in this sandbox."""
    cfg = imports_of(sb).cfg
    cfg.rows_per_second = 1e6
    for key, value in overrides.items():
        setattr(cfg, key, value)


def session(sb: Sandbox, checker: ImportSpecChecker, token: str = TOKEN) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    s.hooks["response"].append(lambda r, *a, **k: checker(r))
    s.base = sb.url  # type: ignore[attr-defined]
    return s
