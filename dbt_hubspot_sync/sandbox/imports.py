"""The sandbox's imports API, as HubSpot documents it (imports_v3.json, its 2026-03 and 2026-09 versions, and the
imports guide): start an import (multipart `importRequest` + `files`), its status with counters, its errors
(paged, `includeErrorMessage`, `includeRowData`), cancel, and the list of imports; plus the Lists API's
`PUT /crm/v3/lists/{listId}/memberships/add-from/{sourceListId}`, which adds an import's list to another.

`IMPORT_ROUTES` is one of `routes.ROUTE_TABLES` (appended at the end of routes.py, as this module builds on its
`RouteSpec`). Processing is `import_jobs.py`'s; `imports_of(sandbox)` reaches a
portal's imports (their `ImportsConfig`: limits, processing rate, failures to inject) from tests.

Refusals at start, with HubSpot's `Error` body: a file over the size limit (400 `FILE_TOO_LARGE`) or the row
limit (400 `TOO_MANY_ROWS`, `context.maximumAllowedRows` and `rowsDetected`, as observed; HubSpot's guide says
429), more imports or rows in the rolling day than allowed (400 `DAILY_IMPORT_LIMIT` / `DAILY_ROW_LIMIT`: the
sandbox's choice, HubSpot documents the limits but not the answer), and malformed requests (400).
"""

from __future__ import annotations

import csv
import json
import re
import time
from typing import Any

from dbt_hubspot_sync.sandbox import bodies
from dbt_hubspot_sync.sandbox.bodies import ErrorAnswer, error, validation_error
from dbt_hubspot_sync.sandbox.endpoints import Ctx
from dbt_hubspot_sync.sandbox.import_jobs import ImportsConfig, ImportsState, Job, RowError
from dbt_hubspot_sync.sandbox.route_spec import RouteSpec
from dbt_hubspot_sync.sandbox.store import Store

__all__ = ["IMPORT_ROUTES", "ImportsConfig", "imports_of"]

OBJECT_TYPES = ("0-1", "CONTACT", "contacts")
OPERATIONS = ("UPDATE", "CREATE", "UPSERT")
ERRORS_LIMIT = (
    100,
    1000,
)  # default, maximum page size of GET .../errors (the sandbox's; HubSpot states none)
LIST_LIMIT = (10, 100)  # of GET /imports


def imports_of(where: Any) -> ImportsState:
    """The imports of a sandbox portal (the store's `imports` extension, reset with it): pass a `Sandbox`, its
    `SandboxApp` or its `Store`."""
    store: Store = getattr(getattr(where, "app", where), "store", where)
    return store.extension("imports", lambda: ImportsState(store))


# -- the multipart body ---------------------------------------------------------------------------------------
_DISPOSITION = re.compile(rb'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_multipart(raw: bytes) -> dict[str, tuple[str | None, memoryview]]:
    """{field name: (file name, content)} of a multipart/form-data body. The boundary is the body's first line
    (RFC 7578), so the request's Content-Type is not needed."""
    first = raw.find(b"\r\n")
    if not raw.startswith(b"--") or first < 3:
        raise validation_error("Expected a multipart/form-data body with the fields importRequest and files")
    delimiter = b"\r\n" + raw[:first]
    view = memoryview(raw)
    parts: dict[str, tuple[str | None, memoryview]] = {}
    pos = first + 2
    while True:
        end = raw.find(delimiter, pos)
        if end < 0:
            raise validation_error("Malformed multipart/form-data body: a part has no closing boundary")
        head_end = raw.find(b"\r\n\r\n", pos, end)
        if head_end < 0:
            raise validation_error("Malformed multipart/form-data body: a part has no headers")
        disposition = next(
            (h for h in raw[pos:head_end].split(b"\r\n") if h.lower().startswith(b"content-disposition:")),
            b"",
        )
        attrs = {
            k.decode().lower(): v.decode("utf-8", "replace") for k, v in _DISPOSITION.findall(disposition)
        }
        if "name" in attrs:
            parts[attrs["name"]] = (attrs.get("filename"), view[head_end + 4 : end])
        pos = end + len(delimiter)
        if raw[pos : pos + 2] == b"--":
            return parts
        pos += 2


# -- start -----------------------------------------------------------------------------------------------------
def start_import(store: Store, ctx: Ctx) -> tuple[int, Any]:
    # Long on purpose: HubSpot checks an import request in this order and answers the first problem, so the checks
    # read top to bottom in that order.
    state = imports_of(store)
    parts = parse_multipart(ctx.raw)
    if "importRequest" not in parts:
        raise validation_error("The field importRequest (the import's JSON definition) is required")
    if "files" not in parts:
        raise validation_error("The field files (the file to import) is required")
    try:
        request = json.loads(bytes(parts["importRequest"][1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise validation_error(f"importRequest is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise validation_error("importRequest must be a JSON object")
    file_name, content = parts["files"]
    spec = _file_spec(request, file_name)
    operation = _operation(request)
    cfg = state.cfg
    if len(content) > cfg.max_file_bytes:
        raise _limit(
            "FILE_TOO_LARGE",
            f"The file is {len(content)} bytes; files can be at most {cfg.max_file_bytes} bytes",
            maximumAllowedBytes=cfg.max_file_bytes,
            bytesDetected=len(content),
        )
    file_id, path = state.new_file()
    path.write_bytes(content)
    try:
        header, rows = _count_rows(path)
        id_column, id_kind, columns = _mappings(spec, header, store)
        if rows > cfg.max_file_rows:
            raise _limit(
                "TOO_MANY_ROWS",
                f"The file has {rows} rows; an import file can have at most {cfg.max_file_rows} rows",
                maximumAllowedRows=cfg.max_file_rows,
                rowsDetected=rows,
            )
        imports_today, rows_today = state.used_today()
        if imports_today + 1 > cfg.daily_max_imports:
            raise _limit(
                "DAILY_IMPORT_LIMIT",
                f"{imports_today} imports were started in the last 24 hours; the limit is {cfg.daily_max_imports}",
                maximumAllowedImports=cfg.daily_max_imports,
                importsDetected=imports_today,
            )
        if rows_today + rows > cfg.daily_max_rows:
            raise _limit(
                "DAILY_ROW_LIMIT",
                f"{rows_today} rows were imported in the last 24 hours and this file has {rows}; "
                f"the limit is {cfg.daily_max_rows} rows a day",
                maximumAllowedRows=cfg.daily_max_rows,
                rowsDetected=rows_today + rows,
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    job = state.add(
        {
            "name": str(request.get("name") or f"Import {file_name}"),
            "request": request,
            "operation": operation,
            "path": path,
            "file_id": file_id,
            "rows": rows,
            "id_column": id_column,
            "id_kind": id_kind,
            "columns": columns,
            "make_list": bool(request.get("createContactListFromImport")),
            "created_ms": int(time.time() * 1000),
        }
    )
    return 200, import_body(job)


def _file_spec(request: dict[str, Any], file_name: str | None) -> dict[str, Any]:
    files = request.get("files")
    if not isinstance(files, list) or not files or not all(isinstance(f, dict) for f in files):
        raise validation_error("importRequest.files must list the file, with its fileName and fileImportPage")
    spec = next((f for f in files if f.get("fileName") == file_name), None)
    if spec is None:
        named = ", ".join(str(f.get("fileName")) for f in files)
        raise validation_error(
            f"No file named {file_name!r} was uploaded; importRequest.files names: {named}"
        )
    if str(spec.get("fileFormat") or "CSV").upper() != "CSV":
        raise validation_error(f"fileFormat {spec.get('fileFormat')!r}: the sandbox imports CSV files only")
    return spec


def _operation(request: dict[str, Any]) -> str:
    ops = request.get("importOperations") or {}
    if not isinstance(ops, dict):
        raise validation_error("importOperations must map objectTypeIds to UPSERT, CREATE or UPDATE")
    operation = str(ops.get("0-1") or "UPSERT").upper()
    if operation not in OPERATIONS:
        raise validation_error(f"importOperations 0-1: {operation!r} is not one of UPSERT, CREATE, UPDATE")
    return operation


def _count_rows(path: Any) -> tuple[list[str], int]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            rows = sum(1 for _ in reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise validation_error(f"The file is not a UTF-8 CSV file: {exc}") from None
    if not header:
        raise validation_error("The file is empty: a header row is expected (fileImportPage.hasHeader)")
    return header, rows


def _mappings(
    spec: dict[str, Any], header: list[str], store: Store
) -> tuple[int, str, list[tuple[int, str]]]:
    """(id column, "email" or "id", the other (column, property) pairs): columnMappings in the header's order."""
    page = spec.get("fileImportPage") or {}
    mappings = page.get("columnMappings") if isinstance(page, dict) else None
    if not isinstance(mappings, list) or not all(isinstance(m, dict) for m in mappings):
        raise validation_error("fileImportPage.columnMappings must list one mapping per column of the file")
    if page.get("hasHeader") is False:
        raise validation_error("The sandbox imports files with a header row only (fileImportPage.hasHeader)")
    if len(mappings) != len(header):
        raise validation_error(
            f"The file has {len(header)} columns and columnMappings maps {len(mappings)}: map every column"
        )
    id_column, id_kind, columns = -1, "", []
    for i, (m, name) in enumerate(zip(mappings, header)):
        if m.get("columnName") not in (None, name):
            raise validation_error(f"Column {i + 1} of the file is {name!r}, not {m.get('columnName')!r}")
        object_type = m.get("columnObjectTypeId") or m.get("columnObjectType")
        if object_type not in OBJECT_TYPES:
            raise validation_error(
                f"Column {name!r}: the sandbox imports contacts (columnObjectTypeId 0-1) only"
            )
        prop = m.get("propertyName")
        if not isinstance(prop, str) or not prop:
            raise validation_error(f"Column {name!r}: propertyName is required")
        kind = m.get("columnType") or m.get("idColumnType")
        if kind == "HUBSPOT_OBJECT_ID" or (kind is None and prop == "hs_object_id"):
            id_column, id_kind = i, "id"
        elif prop == "email" and (kind == "HUBSPOT_ALTERNATE_ID" or (kind is None and id_kind != "id")):
            id_column, id_kind = i, "email"
        elif kind == "HUBSPOT_ALTERNATE_ID":
            raise validation_error(f"Column {name!r}: {prop} is not a unique property of contacts")
        else:
            columns.append((i, prop))
    if id_column < 0:
        raise validation_error(
            "No column identifies the contacts: map email (HUBSPOT_ALTERNATE_ID) or record ID"
        )
    return id_column, id_kind, columns


def _limit(code: str, message: str, **context: int) -> ErrorAnswer:
    body = error(
        "VALIDATION_ERROR", message, subCategory=code, context={k: [str(v)] for k, v in context.items()}
    )
    body["errors"] = [{"message": message, "code": code}]
    return ErrorAnswer(400, body)


# -- status, list, cancel, errors -------------------------------------------------------------------------------
def import_body(job: Job) -> dict[str, Any]:
    """PublicImportResponse."""
    lists = [{"listId": job.list_id, "objectType": "CONTACT"}] if job.list_id else []
    return {
        "id": str(job.id),
        "createdAt": bodies.iso_from_epoch_ms(job.created_ms),
        "updatedAt": bodies.iso_from_epoch_ms(job.updated_ms),
        "state": job.state,
        "importName": job.name,
        "importSource": "API",
        "importRequestJson": job.request,
        "mappedObjectTypeIds": ["0-1"],
        "optOutImport": False,
        "metadata": {"counters": job.counters(), "fileIds": [str(job.file_id)], "objectLists": lists},
    }


def _job(store: Store, ctx: Ctx) -> Job:
    raw = ctx.params["importId"]
    job = imports_of(store).get(int(raw)) if raw.isdigit() else None
    if job is None:
        raise ErrorAnswer(404, error("OBJECT_NOT_FOUND", f"Import {raw} does not exist"))
    return job


def _page(ctx: Ctx, limits: tuple[int, int]) -> tuple[int, int]:
    raw_limit = (ctx.query.get("limit") or [str(limits[0])])[0]
    raw_after = (ctx.query.get("after") or ["0"])[0]
    if not raw_limit.isdigit() or not raw_after.isdigit():
        raise validation_error("limit must be a number and after a paging cursor from paging.next.after")
    return min(max(int(raw_limit), 1), limits[1]), int(raw_after)


def _flag(ctx: Ctx, name: str) -> bool:
    return (ctx.query.get(name) or ["false"])[0].lower() == "true"


def get_import(store: Store, ctx: Ctx) -> tuple[int, Any]:
    return 200, import_body(_job(store, ctx))


def list_imports(store: Store, ctx: Ctx) -> tuple[int, Any]:
    limit, after = _page(ctx, LIST_LIMIT)
    jobs = imports_of(store).newest_first()
    body: dict[str, Any] = {"results": [import_body(j) for j in jobs[after : after + limit]]}
    if after + limit < len(jobs):
        body["paging"] = {"next": {"after": str(after + limit)}}
    return 200, body


def cancel_import(store: Store, ctx: Ctx) -> tuple[int, Any]:
    job = _job(store, ctx)
    requested = bodies.now_iso()
    if not imports_of(store).cancel(job):
        raise validation_error(f"Import {job.id} is {job.state}: only an active import can be canceled")
    return 200, {
        "status": "COMPLETE",
        "requestedAt": requested,
        "startedAt": requested,
        "completedAt": bodies.now_iso(),
    }


def import_errors(store: Store, ctx: Ctx) -> tuple[int, Any]:
    job = _job(store, ctx)
    limit, after = _page(ctx, ERRORS_LIMIT)
    with_message, with_row = _flag(ctx, "includeErrorMessage"), _flag(ctx, "includeRowData")
    errors = list(job.errors)
    page = errors[after : after + limit]
    body: dict[str, Any] = {
        "results": [_error_body(job, after + i, e, with_message, with_row) for i, e in enumerate(page)]
    }
    if after + limit < len(errors):
        body["paging"] = {"next": {"after": str(after + limit)}}
    return 200, body


def _error_body(job: Job, n: int, e: RowError, with_message: bool, with_row: bool) -> dict[str, Any]:
    """PublicImportError: sourceData.rowData is the row's cells with includeRowData=true (else empty)."""
    body: dict[str, Any] = {
        "id": f"{job.id}-{n + 1}",
        "createdAt": e.created_ms,
        "errorType": e.error_type,
        "objectType": "CONTACT",
        "objectTypeId": "0-1",
        "sourceData": {
            "additionalRowData": [],
            "containsEncryptedProperties": False,
            "fileId": job.file_id,
            "lineNumber": e.line,
            "rowData": list(e.row) if with_row else [],
        },
    }
    if with_message:
        body["errorMessage"] = e.message
    if e.column is not None:
        body["knownColumnNumber"] = e.column
    if e.value is not None:
        body["invalidValue"] = e.value
    return body


# -- lists: add an import's list to another -------------------------------------------------------------------
def add_from_list(store: Store, ctx: Ctx) -> tuple[int, Any]:
    """PUT /crm/v3/lists/{listId}/memberships/add-from/{sourceListId}: 204, no body."""
    target, source = ctx.params["listId"], ctx.params["sourceListId"]
    ids = store.list_members(source)  # 404 when the source list does not exist
    store.add_members(target, ids)  # 404 / 400 DYNAMIC as memberships/add
    return 204, None


_IMPORT = [["crm.import"]]
_LIST_WRITE = [["crm.lists.write"]]
# Every imports path, served in each API version the sandbox serves (routes.PREFIXES), and the lists' add-from.
IMPORT_ROUTES = [
    RouteSpec("POST", "imports", "", start_import, _IMPORT),
    RouteSpec("GET", "imports", "", list_imports, _IMPORT),
    RouteSpec("GET", "imports", "/{importId}", get_import, _IMPORT),
    RouteSpec("POST", "imports", "/{importId}/cancel", cancel_import, _IMPORT),
    RouteSpec("GET", "imports", "/{importId}/errors", import_errors, _IMPORT),
    RouteSpec("PUT", "lists", "/{listId}/memberships/add-from/{sourceListId}", add_from_list, _LIST_WRITE),
]
