"""The imports calls of the product's client (hubspot/imports.py) against the sandbox: an update-only import
streamed from disk, its status and counters, every row error through the pages, the account's imports, cancel,
an import's list added to another, HubSpot's refusals as `ImportRefused` with their codes, in v3 and 2026-03."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from dbt_hubspot_sync.hubspot import HubSpotClient, RateLimiter
from dbt_hubspot_sync.hubspot.imports import ImportRefused, Imports, ImportStatus, _Multipart, import_request
from dbt_hubspot_sync.sandbox import Sandbox, SandboxConfig
from dbt_hubspot_sync.sandbox.imports import imports_of, parse_multipart

CONTACTS = [{"email": f"c{i}@example.com", "firstname": f"C{i}"} for i in range(10)]


@pytest.fixture
def sandbox() -> Any:
    with Sandbox(SandboxConfig(contacts=[dict(c) for c in CONTACTS], rate_max=1000)) as sb:
        imports_of(sb).cfg.rows_per_second = 1e6
        yield sb


def _client(sb: Sandbox, version: str = "v3") -> HubSpotClient:
    return HubSpotClient("sandbox-token", sb.url, limiter=RateLimiter(1000, 10_000), api_version=version)


def _csv(tmp_path: Path, rows: list[tuple[str, str]], name: str = "audience.csv") -> Path:
    path = tmp_path / name
    path.write_text("email,firstname\n" + "".join(f"{e},{f}\n" for e, f in rows), encoding="utf-8")
    return path


def _finished(imports: Imports, import_id: str) -> ImportStatus:
    deadline = time.monotonic() + 20
    while True:
        status = imports.status(import_id)
        if status.finished or time.monotonic() > deadline:
            return status
        time.sleep(0.02)


@pytest.mark.parametrize("version", ["v3", "2026-03"])
def test_an_update_only_import_and_its_row_errors(sandbox: Sandbox, tmp_path: Path, version: str) -> None:
    rows = [("c1@example.com", "One"), ("ghost@example.com", "Boo"), ("c2@example.com", "Two")]
    with _client(sandbox, version) as client:
        imports = Imports(client)
        started = imports.start("audience", _csv(tmp_path, rows), ["email", "firstname"])
        assert started.rows == 3 and not started.finished
        done = _finished(imports, started.id)
        assert done.state == "DONE" and done.counters["UPDATED_OBJECTS"] == 2
        [err] = list(imports.errors(started.id))
        assert (err.error_type, err.line, err.row) == ("UPDATE_ONLY_IMPORT", 3, ("ghost@example.com", "Boo"))
        assert "ghost@example.com" in err.message
    paths = {e["path"].split("?")[0] for e in sandbox.requests_log()}
    base = "/crm/v3/imports" if version == "v3" else f"/crm/imports/{version}"
    assert paths == {base, f"{base}/{started.id}", f"{base}/{started.id}/errors"}
    assert sandbox.stats()["contacts_created"] == 0


def test_the_import_request_is_update_only_with_email_as_the_alternate_id() -> None:
    request = import_request("n", "f.csv", ["email", "firstname", "amperity_id"], make_list=True)
    assert request["importOperations"] == {"0-1": "UPDATE"}
    mappings = request["files"][0]["fileImportPage"]["columnMappings"]
    assert [m["propertyName"] for m in mappings] == ["email", "firstname", "amperity_id"]
    assert [m.get("columnType") for m in mappings] == ["HUBSPOT_ALTERNATE_ID", None, None]
    assert request["createContactListFromImport"] is True
    assert "UPSERT" not in json.dumps(request) and "CREATE" not in json.dumps(request).replace(
        "createContact", ""
    )


def test_the_file_is_streamed_in_blocks(tmp_path: Path) -> None:
    path = _csv(tmp_path, [(f"u{i}@example.com", "x" * 50) for i in range(5000)])
    body = _Multipart(import_request("n", path.name, ["email", "firstname"]), path)
    blocks = []
    while block := body.read(8192):
        blocks.append(block)
    data = b"".join(blocks)
    assert len(data) == len(body) and max(len(b) for b in blocks[1:-1]) <= 8192
    parts = parse_multipart(data)
    assert bytes(parts["files"][1]) == path.read_bytes() and parts["files"][0] == path.name
    assert json.loads(bytes(parts["importRequest"][1]))["name"] == "n"


def test_errors_are_read_through_every_page(sandbox: Sandbox, tmp_path: Path) -> None:
    rows = [(f"nobody{i}@example.com", "x") for i in range(25)]
    with _client(sandbox) as client:
        imports = Imports(client)
        started = imports.start("many", _csv(tmp_path, rows), ["email", "firstname"])
        _finished(imports, started.id)
        before = client.stats.requests
        errors = list(imports.errors(started.id, page_size=10))
        assert client.stats.requests - before == 3
    assert sorted(e.row[0] for e in errors) == sorted(e for e, _ in rows)
    assert {e.error_type for e in errors} == {"UPDATE_ONLY_IMPORT"}


def test_recent_cancel_and_a_list_made_by_the_import(sandbox: Sandbox, tmp_path: Path) -> None:
    target = sandbox.app.store.create_list("audience", "0-1", "MANUAL")["listId"]
    with _client(sandbox) as client:
        imports = Imports(client)
        path = _csv(tmp_path, [("c3@example.com", "Three"), ("ghost@example.com", "x")])
        made = imports.start("listed", path, ["email", "firstname"], make_list=True)
        done = _finished(imports, made.id)
        [source] = done.list_ids
        imports.add_from_list(target, source)
        assert sandbox.list_members(target) == ["4"]  # c3's contact
        imports_of(sandbox).cfg.rows_per_second = 1
        slow = imports.start("slow", path, ["email", "firstname"])
        assert [s.id for s in imports.recent()] == [slow.id, made.id]
        imports.cancel(slow.id)
        assert imports.status(slow.id).state == "CANCELED"


@pytest.mark.parametrize(
    ("setting", "code"),
    [
        ("max_file_rows", "TOO_MANY_ROWS"),
        ("daily_max_rows", "DAILY_ROW_LIMIT"),
        ("max_file_bytes", "FILE_TOO_LARGE"),
    ],
)
def test_refusals_carry_their_code(sandbox: Sandbox, tmp_path: Path, setting: str, code: str) -> None:
    setattr(imports_of(sandbox).cfg, setting, 1)
    with _client(sandbox) as client, pytest.raises(ImportRefused) as info:
        Imports(client).start(
            "big", _csv(tmp_path, [("c1@example.com", "a"), ("c2@example.com", "b")]), ["email", "firstname"]
        )
    assert info.value.code == code and info.value.status == 400
