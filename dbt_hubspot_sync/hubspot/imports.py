"""HubSpot's imports API, for audiences too large for batch calls: `Imports(client)`.

One request starts an import of a CSV file of up to 1,048,576 rows (multipart: the `importRequest` JSON and the
file, streamed from disk, never held in memory), with `importOperations: {"0-1": "UPDATE"}` (update existing
contacts only: nothing is ever created), email as the alternate id column and each other column mapped to its
property. HubSpot processes it asynchronously: `status` reads its state and counters, `errors` pages through the
rows it could not apply (`UPDATE_ONLY_IMPORT`: no contact has the email; `INVALID_EMAIL`,
`INVALID_ENUMERATION_OPTION`, ... with their messages and row data). `recent` lists the account's imports (the
limits' rolling day), `cancel` stops one, and `add_from_list` adds the list an import made
(`createContactListFromImport`) to the exposure's list. Paths per API version come from `paths.py` (the client's
`api_version`); the scope is `crm.import` (`crm.lists.write` for `add_from_list`). What HubSpot documents of
imports (its imports guide and specs) and how the product uses it: README.md, "Audiences of millions".
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from dbt_hubspot_sync.hubspot.errors import HubSpotError
from dbt_hubspot_sync.hubspot.responses import Reply, as_dict, body_message, primary_code, str_list
from dbt_hubspot_sync.hubspot.transport import Transport

__all__ = ["Imports", "ImportStatus", "ImportRowError", "ImportRefused", "TERMINAL_STATES", "import_request"]

CONTACTS = "0-1"
TERMINAL_STATES = ("DONE", "FAILED", "CANCELED", "REVERTED")
ERRORS_PAGE = (
    1000  # rows' errors asked per page (HubSpot states no maximum; it may answer fewer, `after` pages on)
)
LIST_PAGE = 100  # imports per page of the account's list


@dataclass(frozen=True)
class ImportStatus:
    """An import as HubSpot reports it (PublicImportResponse): state, counters, the lists it made."""

    id: str
    name: str
    state: str
    counters: dict[str, int]
    created_at: datetime | None
    list_ids: tuple[str, ...] = ()

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def rows(self) -> int:
        return int(self.counters.get("TOTAL_ROWS") or 0)


@dataclass(frozen=True)
class ImportRowError:
    """One row HubSpot could not apply (PublicImportError). `line`: 1-indexed line of the file (0: the whole
    file); `row`: the row's cells (asked with includeRowData)."""

    error_type: str
    message: str
    line: int
    row: tuple[str, ...]
    file_id: str | None = None


class ImportRefused(HubSpotError):
    """HubSpot would not start the import: a limit (TOO_MANY_ROWS, FILE_TOO_LARGE, the day's imports or rows), a
    malformed request, a 429. `code` says which."""


def import_request(
    name: str, file_name: str, columns: Sequence[str], *, make_list: bool = False
) -> dict[str, Any]:
    """The importRequest of an update-only contacts import: `columns` in the file's order, "email" the id."""
    mappings = []
    for column in columns:
        mapping = {"columnObjectTypeId": CONTACTS, "columnName": column, "propertyName": column}
        if column == "email":
            mapping["columnType"] = "HUBSPOT_ALTERNATE_ID"
        mappings.append(mapping)
    request: dict[str, Any] = {
        "name": name,
        "importOperations": {CONTACTS: "UPDATE"},  # update existing contacts only: never UPSERT or CREATE
        "files": [
            {
                "fileName": file_name,
                "fileFormat": "CSV",
                "fileImportPage": {"hasHeader": True, "columnMappings": mappings},
            }
        ],
    }
    if make_list:
        request["createContactListFromImport"] = True
    return request


class _Multipart:
    """multipart/form-data of `importRequest` and the file, read from disk in blocks as it is sent (its length
    known up front, so it goes with Content-Length, not chunked)."""

    def __init__(self, request: dict[str, Any], path: Path) -> None:
        boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        name = path.name.replace('"', "")
        self._head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="importRequest"\r\n'
            "Content-Type: application/json\r\n\r\n"
            f"{json.dumps(request)}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._path = path
        self._size = os.path.getsize(path)
        self._fh: Any = None
        self._stage = 0

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def read(self, n: int = -1) -> bytes:
        n = 1 << 16 if n is None or n < 0 else n
        while self._stage < 3:
            if self._stage == 0:
                self._stage, self._fh = 1, open(self._path, "rb")  # noqa: SIM115 - closed at its end
                return self._head
            if self._stage == 1:
                block = self._fh.read(n)
                if block:
                    return block
                self._fh.close()
                self._stage = 2
            else:
                self._stage = 3
                return self._tail
        return b""


class Imports:
    """The imports calls on a client's transport (its limiter, retries, budget and API version)."""

    def __init__(self, client: Transport) -> None:
        self.client = client
        self.paths = client.paths

    def start(
        self, name: str, path: Path, columns: Sequence[str], *, make_list: bool = False
    ) -> ImportStatus:
        """Start an update-only import of the CSV at `path` (header = `columns`). ImportRefused when HubSpot
        would not start it (400/429), HubSpotError on other answers."""
        request = import_request(name, path.name, columns, make_list=make_list)
        where = self.paths.imports()

        def body() -> tuple[Any, str]:
            multipart = _Multipart(request, path)
            return multipart, multipart.content_type

        resp = self.client.request("POST", where, upload=body)
        if resp.status == 200 and isinstance(resp.body, dict):
            return _status(resp.body)
        if resp.status in (400, 413, 429):
            raise ImportRefused(
                self.client.redact(
                    f"POST {where}: HubSpot refused import {name!r}: {body_message(resp.body, resp.text)}"
                ),
                call=f"POST {where}",
                status=resp.status,
                category=as_dict(resp.body).get("category"),
                code=_refusal_code(resp),
            )
        raise self.client.unexpected(f"POST {where}", resp, "200 with the import")

    def status(self, import_id: str) -> ImportStatus:
        body = self.client.get_json(self.paths.import_get(import_id), "200 with the import")
        return _status(as_dict(body))

    def errors(self, import_id: str, page_size: int = ERRORS_PAGE) -> Iterator[ImportRowError]:
        """Every row error of the import, page by page (with messages and row data)."""
        after: str | None = None
        base = self.paths.import_errors(import_id)
        while True:
            query = {"limit": page_size, "includeErrorMessage": "true", "includeRowData": "true"}
            if after:
                query["after"] = after
            body = as_dict(
                self.client.get_json(f"{base}?{urlencode(query)}", "200 with the import's errors")
            )
            for item in body.get("results") or []:
                if isinstance(item, dict):
                    yield _row_error(item)
            after = _next_after(body)
            if not after:
                return

    def recent(self, max_pages: int = 5) -> list[ImportStatus]:
        """The account's imports as HubSpot lists them (at most `max_pages` pages)."""
        found: list[ImportStatus] = []
        after: str | None = None
        base = self.paths.imports()
        for _ in range(max_pages):
            query: dict[str, Any] = {"limit": LIST_PAGE}
            if after:
                query["after"] = after
            body = as_dict(self.client.get_json(f"{base}?{urlencode(query)}", "200 with the imports"))
            found += [_status(r) for r in body.get("results") or [] if isinstance(r, dict)]
            after = _next_after(body)
            if not after:
                break
        return found

    def cancel(self, import_id: str) -> None:
        where = self.paths.import_cancel(import_id)
        resp: Reply = self.client.request("POST", where)
        if resp.status != 200:
            raise self.client.unexpected(f"POST {where}", resp, "200 with the action")

    def add_from_list(self, list_id: str, source_list_id: str) -> None:
        """Add every member of `source_list_id` (an import's list) to `list_id`: one request, 204."""
        where = self.paths.memberships_add_from(list_id, source_list_id)
        resp = self.client.request("PUT", where)
        if resp.status not in (200, 204):
            raise self.client.unexpected(f"PUT {where}", resp, "204 (a MANUAL or SNAPSHOT list)")


def _status(body: dict[str, Any]) -> ImportStatus:
    metadata = as_dict(body.get("metadata"))
    counters = metadata.get("counters")
    if isinstance(counters, str):  # the docs' examples show it serialized; be lenient
        try:
            counters = json.loads(counters)
        except ValueError:
            counters = {}
    lists = metadata.get("objectLists")
    if isinstance(lists, str):
        try:
            lists = json.loads(lists)
        except ValueError:
            lists = []
    return ImportStatus(
        id=str(body.get("id") or ""),
        name=str(body.get("importName") or ""),
        state=str(body.get("state") or ""),
        counters={str(k): int(v) for k, v in as_dict(counters).items() if isinstance(v, (int, float))},
        created_at=_when(body.get("createdAt")),
        list_ids=tuple(str(x.get("listId")) for x in lists or [] if isinstance(x, dict) and x.get("listId")),
    )


def _row_error(item: dict[str, Any]) -> ImportRowError:
    source = as_dict(item.get("sourceData"))
    line = source.get("lineNumber")
    file_id = source.get("fileId")
    return ImportRowError(
        error_type=str(item.get("errorType") or "UNKNOWN_ERROR"),
        message=str(item.get("errorMessage") or item.get("extraContext") or ""),
        line=int(line) if isinstance(line, (int, float)) else -1,
        row=tuple(str(c) for c in source.get("rowData") or []),
        file_id=None if file_id is None else str(file_id),
    )


def _next_after(body: dict[str, Any]) -> str | None:
    after = as_dict(as_dict(body.get("paging")).get("next")).get("after")
    return str(after) if after not in (None, "") else None


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _refusal_code(resp: Reply) -> str:
    """TOO_MANY_ROWS, FILE_TOO_LARGE, DAILY_*_LIMIT... wherever HubSpot puts it; RATE_LIMITED for a 429."""
    body = as_dict(resp.body)
    sub = body.get("subCategory")
    if isinstance(sub, str) and sub:
        return sub.rsplit(".", 1)[-1]
    if "TOO_MANY_ROWS" in resp.text:
        return "TOO_MANY_ROWS"
    if resp.status == 429:
        return "RATE_LIMITED"
    codes = [
        c for c in str_list([e.get("code") for e in body.get("errors") or [] if isinstance(e, dict)]) if c
    ]
    return codes[0] if codes else primary_code(resp.body, resp.status)
