"""The official `hubspot-api-client`'s imports API works against the sandbox unchanged: start (multipart, as the
client encodes it), get by id, the page of imports, errors with their row data, cancel; its generated models
enforce the spec's required fields."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hubspot.crm.imports import ApiException

from dbt_hubspot_sync.sandbox.imports import imports_of

from .helpers import hubspot_client
from .imports_helpers import csv_of, fast, import_request


@pytest.fixture
def client(sandbox: Any) -> Any:
    fast(sandbox)
    return hubspot_client(sandbox).crm.imports


def _file(tmp_path: Path, rows: list[tuple[str, ...]]) -> str:
    path = tmp_path / "audience.csv"
    path.write_bytes(csv_of(rows))
    return str(path)


def _wait(client: Any, import_id: str, states: tuple[str, ...]) -> Any:
    deadline = time.monotonic() + 20
    while True:
        found = client.core_api.get_by_id(import_id=int(import_id))
        if found.state in states or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_client_starts_an_update_only_import_and_reads_its_errors(
    client: Any, sandbox: Any, tmp_path: Path
) -> None:
    path = _file(tmp_path, [("ada@example.com", "Ada3"), ("ghost@example.com", "Boo")])
    started = client.core_api.create(files=path, import_request=json.dumps(import_request()))
    assert started.state in ("STARTED", "PROCESSING", "DONE")
    assert started.metadata.counters["TOTAL_ROWS"] == 2
    done = _wait(client, started.id, ("DONE",))
    assert done.state == "DONE" and done.metadata.counters["UPDATED_OBJECTS"] == 1
    assert done.import_request_json["importOperations"] == {"0-1": "UPDATE"}
    errors = client.public_imports_api.get_errors(
        import_id=int(started.id), include_error_message=True, include_row_data=True
    )
    [err] = errors.results
    assert err.error_type == "UPDATE_ONLY_IMPORT"
    assert err.source_data.row_data == ["ghost@example.com", "Boo"]
    assert err.source_data.line_number == 3
    assert {c["properties"]["email"] for c in sandbox.contacts()} >= {"ada@example.com"}
    assert "ghost@example.com" not in {c["properties"]["email"] for c in sandbox.contacts()}


def test_client_pages_imports_and_cancels_one(client: Any, sandbox: Any, tmp_path: Path) -> None:
    imports_of(sandbox).cfg.rows_per_second = 20
    path = _file(tmp_path, [(f"x{i}@example.com", "x") for i in range(100)])
    first = client.core_api.create(files=path, import_request=json.dumps(import_request()))
    second = client.core_api.create(files=path, import_request=json.dumps(import_request()))
    page = client.core_api.get_page(limit=1)
    assert [r.id for r in page.results] == [second.id] and page.paging.next.after
    assert client.core_api.get_page(limit=1, after=page.paging.next.after).results[0].id == first.id
    action = client.core_api.cancel(import_id=int(first.id))
    assert action.status == "COMPLETE"
    assert client.core_api.get_by_id(import_id=int(first.id)).state == "CANCELED"
    client.core_api.cancel(import_id=int(second.id))


def test_client_sees_hubspot_errors(client: Any, sandbox: Any, tmp_path: Path) -> None:
    imports_of(sandbox).cfg.max_file_rows = 1
    path = _file(tmp_path, [("ada@example.com", "a"), ("bob@example.com", "b")])
    with pytest.raises(ApiException) as info:
        client.core_api.create(files=path, import_request=json.dumps(import_request()))
    assert info.value.status == 400
    assert json.loads(info.value.body)["subCategory"] == "TOO_MANY_ROWS"
    with pytest.raises(ApiException) as missing:
        client.core_api.get_by_id(import_id=424242)
    assert missing.value.status == 404
